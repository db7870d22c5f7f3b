"""What an import reports: counts, reasons for rejected rows, warnings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ImportReport:
    layer: str
    read: int = 0
    written: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    issues: list[tuple[str | None, str]] = field(default_factory=list)  # (feature id, problem) for network_issue

    def reject(self, feature_id: str | None, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] += 1
        self.issues.append((feature_id, f"rejected: {reason}"))

    def warn(self, warning: str, count: int = 1) -> None:
        if count:
            self.warnings[warning] += count

    def as_dict(self) -> dict:
        return {
            "layer": self.layer,
            "read": self.read,
            "written": self.written,
            "rejected": self.rejected,
            "reasons": dict(self.reasons),
            "warnings": dict(self.warnings),
        }
