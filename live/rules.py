"""Sensor kinds and their alarm rules (data in ``sensor_kinds.json``), and the rule engine.

The engine is a pure function of a sensor's state and its next reading, so the listener, the
HTTP intake and the tests all share it. Levels: 0 normal, 1 warning, 2 alarm. A level is entered
when the value (or its rate of change) stays beyond the threshold for ``min_duration_s``; it is
left when the value stays on the normal side of the clear value for ``min_duration_s``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from core import vocab

KINDS_FILE = Path(__file__).with_name("sensor_kinds.json")
LEVELS = ("normal", "warning", "alarm")


@dataclass(frozen=True)
class Threshold:
    level: int
    value: float
    clear: float
    above: bool
    source: str


@dataclass(frozen=True)
class KindRules:
    kind: str
    label: dict[str, str]
    unit: str
    normal: dict[str, float]
    low: float
    high: float
    min_duration_s: float
    thresholds: tuple[Threshold, ...]
    rate_level: int
    rate_per_s: float | None
    rate_window_s: float

    @property
    def clear_s(self) -> float:
        """How long values must stay normal to clear: at least one rate window, so a rise that
        goes on keeps its alarm between two rate checks."""
        return max(self.min_duration_s, self.rate_window_s if self.rate_per_s else 0.0)

    def in_range(self, value: float) -> bool:
        return self.low <= value <= self.high

    def abnormal(self, value: float) -> bool:
        """Whether the value is beyond any threshold (the reading's ``alarm`` flag)."""
        return any(_beyond(t, value) for t in self.thresholds)


@dataclass(frozen=True)
class State:
    """A sensor's place in the rules (the ``sensor_state`` row)."""

    level: int = 0
    pending_level: int = 0
    pending_since: datetime | None = None
    clear_since: datetime | None = None
    last_time: datetime | None = None
    last_value: float | None = None
    ref_time: datetime | None = None
    ref_value: float | None = None


@dataclass(frozen=True)
class Change:
    """What a reading did: ``raise`` (from normal), ``escalate`` or ``clear``; the rule that fired."""

    action: str
    level: int
    rule: str


@lru_cache
def kinds() -> dict[str, KindRules]:
    """Every sensor kind's rules, read once; the kinds and their labels are the ``sensor_kinds`` vocabulary's."""
    data = json.loads(KINDS_FILE.read_text())
    terms = vocab.get("sensor_kinds")
    if [e["kind"] for e in data["kinds"]] != list(terms.codes):
        raise ValueError(f"{KINDS_FILE.name} must give rules for the sensor_kinds vocabulary's kinds, in its order")
    out = {}
    for entry in data["kinds"]:
        thresholds = tuple(
            Threshold(LEVELS.index(t["level"]), float(t["value"]), float(t["clear"]), side == "above", t["source"])
            for side in ("above", "below")
            for t in entry.get(side, [])
        )
        rate = entry.get("rate")
        out[entry["kind"]] = KindRules(
            kind=entry["kind"],
            label=terms.term(entry["kind"]).label.model_dump(),  # type: ignore[union-attr]
            unit=entry["unit"],
            normal=entry["normal"],
            low=float(entry["range"][0]),
            high=float(entry["range"][1]),
            min_duration_s=float(entry["min_duration_s"]),
            thresholds=thresholds,
            rate_level=LEVELS.index(rate["level"]) if rate else 0,
            rate_per_s=float(rate["per_minute"]) / 60 if rate else None,
            rate_window_s=float(rate["window_s"]) if rate else 0.0,
        )
    return out


def _beyond(t: Threshold, value: float) -> bool:
    return value >= t.value if t.above else value <= t.value


def _not_clear(t: Threshold, value: float) -> bool:
    return value > t.clear if t.above else value < t.clear


def step(rules: KindRules, state: State, time: datetime, value: float) -> tuple[State, Change | None]:
    """The state after one reading (in time order) and the change it made, if any."""
    candidate, rule = 0, ""
    for t in rules.thresholds:
        if _beyond(t, value) and t.level > candidate:
            candidate, rule = t.level, "above" if t.above else "below"
    if not candidate and not state.level and not rules.rate_per_s:
        # A normal sensor staying normal (most readings): the same state as below, built once.
        quiet = State(clear_since=state.clear_since, last_time=time, last_value=value)
        return replace(quiet, ref_time=state.ref_time, ref_value=state.ref_value) if state.ref_time else quiet, None
    moved = replace(state, last_time=time, last_value=value)
    rate_hit = False
    if rules.rate_per_s:
        if state.ref_time is None:
            moved = replace(moved, ref_time=time, ref_value=value)
        elif (span := (time - state.ref_time).total_seconds()) >= rules.rate_window_s:
            # The rise over a whole window: already a sustained change, so no minimum duration.
            rate_hit = (value - (state.ref_value or 0.0)) / span >= rules.rate_per_s
            moved = replace(moved, ref_time=time, ref_value=value)
            if rate_hit and rules.rate_level > candidate:
                candidate, rule = rules.rate_level, "rate"
    if candidate > state.level:
        pending_since = state.pending_since if state.pending_level > state.level else None
        since = pending_since or time
        moved = replace(moved, pending_level=candidate, pending_since=since, clear_since=None)
        if (time - since).total_seconds() >= rules.min_duration_s or (rate_hit and rule == "rate"):
            action = "raise" if state.level == 0 else "escalate"
            return replace(moved, level=candidate, pending_level=0, pending_since=None), Change(action, candidate, rule)
        return moved, None
    moved = replace(moved, pending_level=0, pending_since=None)
    if state.level == 0:
        return moved, None
    if candidate > 0 or any(_not_clear(t, value) for t in rules.thresholds):
        return replace(moved, clear_since=None), None
    since = state.clear_since or time
    if (time - since).total_seconds() >= rules.clear_s:
        return replace(moved, level=0, clear_since=None), Change("clear", 0, "")
    return replace(moved, clear_since=since), None
