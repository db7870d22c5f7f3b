"""Who may change which kind of record: the roles of ``permissions.json`` (admin may change all)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

PERMISSIONS_FILE = Path(__file__).with_name("permissions.json")
ADMIN = "admin"


@cache
def _grants() -> dict[str, str | list[str]]:
    return json.loads(PERMISSIONS_FILE.read_text())["roles"]


def may_write(role: str, kind: str) -> bool:
    """Whether ``role`` may create, change or delete records of ``kind``."""
    granted = _grants().get(role, [])
    return role == ADMIN or granted == "*" or kind in granted


def writers(kind: str) -> list[str]:
    """The roles that may change ``kind`` (for messages)."""
    return sorted({ADMIN} | {role for role in _grants() if may_write(role, kind)})
