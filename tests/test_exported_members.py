"""Each stage exports its supported names from `__init__.py` with a sorted, explicit `__all__`.

"Sorted" is the isort-style order ruff's RUF022 uses (and the `__init__` files follow):
SCREAMING_SNAKE_CASE constants first, then CamelCase classes, then everything else, each group in
natural order.
"""

from __future__ import annotations

import importlib
import re
import types

import pytest

PACKAGES = (
    "devices",
    "simulators",
    "ingest",
    "analytics",
    "alerts",
    "consults",
    "dashboard",
    "eldercare",
)


def _isort_key(name: str) -> tuple[int, list[tuple[int, int | str]]]:
    if len(name) > 1 and name.isupper():
        category = 0
    elif name[:1].isupper():
        category = 1
    else:
        category = 2
    natural = [
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    ]
    return category, natural


def _public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }


def test_isort_key_orders_constants_then_classes_then_functions() -> None:
    names = ["decode", "Topics", "UNITS", "Alert2", "Alert10", "CONTRACT_VERSION", "apply"]
    assert sorted(names, key=_isort_key) == [
        "CONTRACT_VERSION",
        "UNITS",
        "Alert2",
        "Alert10",
        "Topics",
        "apply",
        "decode",
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_unique_and_matches_public_namespace(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key), f"{package}.__all__ is not sorted"
    assert len(exported) == len(set(exported)), f"{package}.__all__ has duplicates"
    public = _public_names(module)
    assert set(exported) == public, f"{package}.__all__ differs from its public names"
