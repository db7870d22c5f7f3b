"""Drawing types of the joint review (多图联审) and their rule sets, read from
``data/drawing_types.json``: an IDS file (``rule_sets/``) plus whether the planning, city clash
and model clash checks run; and which drawing types each project type needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.errors import UserError

HERE = Path(__file__).parent
BUILDING = "building"


@dataclass(frozen=True)
class RuleSet:
    drawing_type: str
    label_zh: str
    label_en: str
    ids_path: Path | None
    planning: bool
    city_clashes: bool
    model_clashes: bool
    due_days: int


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads((HERE / "data" / "drawing_types.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def rule_sets() -> dict[str, RuleSet]:
    """Every drawing type's rule set, by drawing type."""
    return {
        key: RuleSet(
            key,
            value["zh"],
            value["en"],
            HERE / "rule_sets" / value["ids"] if value["ids"] else None,
            value["planning"],
            value["city_clashes"],
            value["model_clashes"],
            value["due_days"],
        )
        for key, value in _data()["drawing_types"].items()
    }


def rule_set(drawing_type: str) -> RuleSet:
    found = rule_sets().get(drawing_type)
    if found is None:
        raise UserError(f"drawing type {drawing_type!r} is not one of: {', '.join(rule_sets())}")
    return found


def required_types(project_type: str) -> list[str]:
    """The drawing types a project of this type is reviewed for, in review order."""
    found = _data()["project_types"].get(project_type)
    if not found:
        raise UserError(f"no joint review is defined for projects of type {project_type!r}")
    return list(found)
