"""The README keeps its promises: two fenced commands and a row for every setting."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from eldercare.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def setting_variables() -> list[str]:
    names = []
    for group, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += [f"ELDERCARE_{group}_{sub}".upper() for sub in annotation.model_fields]
        else:
            names.append(f"ELDERCARE_{group}".upper())
    return names


def test_configuration_table_lists_every_setting() -> None:
    missing = [name for name in setting_variables() if f"`{name}`" not in README]
    assert missing == []


def test_readme_has_exactly_one_run_and_one_test_command() -> None:
    for marker in ("run-command", "test-command"):
        blocks = re.findall(rf"<!-- {marker} -->\n```\n(.+?)\n```\n<!-- /{marker} -->", README)
        assert len(blocks) == 1 and "\n" not in blocks[0].strip(), marker
