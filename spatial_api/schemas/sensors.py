"""`/sensors`, `/alarms`: the live monitoring answers."""

from __future__ import annotations

from core.vocab import Label
from spatial_api.schemas.common import Answer


class Threshold(Answer):
    level: str
    value: float
    above: bool


class SensorKind(Answer):
    kind: str
    label: Label
    unit: str | None
    range: list[float | None]
    thresholds: list[Threshold]


class Sensor(Answer):
    """A sensor with its position (CRS84), alarm level and latest reading."""


class SensorReadings(Answer):
    """A sensor's readings over a window."""


class Alarm(Answer):
    """An alarm: level, readings, compartment, pipes and valves, its steps."""
