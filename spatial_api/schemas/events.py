"""`/events`: the emergency events' answers."""

from __future__ import annotations

from core.vocab import Label
from spatial_api.schemas.common import Answer


class EventKind(Answer):
    type: str
    label: Label
    radius_m: float


class EventSummary(Answer):
    """One row of the events list (centroid, task counts)."""

    id: int
    type: str
    status: str


class EventDetail(Answer):
    """An event with its action sheet, tasks and timeline."""


class TaskFeedback(Answer):
    """A dispatched task after its outcome was recorded."""


class EventClosed(Answer):
    id: int
    status: str
