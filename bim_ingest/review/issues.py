"""What a check finds: one issue per failing element and rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Issue:
    rule: str
    severity: str
    message: str
    global_id: str | None = None
    ifc_class: str | None = None
    name: str | None = None
    measured: float | None = None
    limit: float | None = None
    unit: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rounded(value: float | None, digits: int = 3) -> float | None:
    """A measured value as reported (mm for lengths)."""
    return None if value is None else round(float(value), digits)
