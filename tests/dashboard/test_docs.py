"""docs/dashboard.md's permission table is the one in dashboard/_access.py."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard import ROLE_PERMISSIONS, Permission, Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"


def test_permission_table_matches_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- permissions-table -->\n(.*?)\n<!-- /permissions-table -->", text, re.S)
    assert block is not None, "docs/dashboard.md lost its permissions table markers"
    header, _, *rows = block.group(1).splitlines()
    roles = [Role(cell.strip()) for cell in header.strip("|").split("|")[1:]]
    assert roles == list(Role)
    documented = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        permission = Permission(cells[0].strip("`"))
        documented[permission] = {role for role, mark in zip(roles, cells[1:], strict=True) if mark}
    assert documented == {p: {r for r in Role if p in ROLE_PERMISSIONS[r]} for p in Permission}
