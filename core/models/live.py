"""The live city: refused readings, each sensor's alarm state, alarms and their lifecycle,
emergency events' timelines and dispatched tasks. (``sensor_reading`` is partitioned by month
in migration 0007; its partitions live in the ``sensor_partitions`` schema.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, geom_column, now_column
from core.models.records import _in

ALARM_STATUSES = ("raised", "acknowledged", "handled", "closed")
ALARM_LEVELS = ("warning", "alarm")
TASK_STATUSES = ("dispatched", "done", "failed")


class SensorRejection(Base):
    """A reading refused at intake, with why (unknown sensor, out of range, future time, malformed)."""

    __tablename__ = "sensor_rejection"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = now_column()
    channel: Mapped[str] = mapped_column(String(8))
    sensor_id: Mapped[str | None] = mapped_column(String(80), index=True)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)


class SensorState(Base):
    """Where each sensor's alarm rules stand: the active level, a level waiting out its minimum
    duration, when the values went back below the clear threshold, the last reading."""

    __tablename__ = "sensor_state"
    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensor.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, default=0)
    pending_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    pending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clear_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_value: Mapped[float | None] = mapped_column(Float)
    ref_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ref_value: Mapped[float | None] = mapped_column(Float)
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarm.id", ondelete="SET NULL"))


class Alarm(Base):
    """One alarm episode of one sensor: raised once, escalated in place, closed by an operator."""

    __tablename__ = "alarm"
    __table_args__ = (
        CheckConstraint(_in("status", ALARM_STATUSES), name="status"),
        CheckConstraint(_in("level", ALARM_LEVELS), name="level"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensor.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(8))
    rule: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), default="raised", index=True)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reading_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    peak_value: Mapped[float] = mapped_column(Float)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    compartment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    neighbours: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    pipes: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    valves: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    readings: Mapped[list] = mapped_column(JSONB, default=list)
    location = geom_column("POINTZ", dims=3, nullable=False)


class AlarmStep(Base):
    """The audit of an alarm's lifecycle: raised → acknowledged → handled → closed."""

    __tablename__ = "alarm_step"
    __table_args__ = (CheckConstraint(_in("status", ALARM_STATUSES), name="status"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarm.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = now_column()
    status: Mapped[str] = mapped_column(String(12))
    username: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class EventStep(Base):
    """One step in an emergency event's timeline (intake, overlay, dispatch, feedback, close)."""

    __tablename__ = "event_step"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_event.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = now_column()
    step: Mapped[str] = mapped_column(String(16))
    username: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSONB, default=dict)


class EventTask(Base):
    """A task of an event's action sheet dispatched to a role, with its due time and feedback."""

    __tablename__ = "event_task"
    __table_args__ = (CheckConstraint(_in("status", TASK_STATUSES), name="status"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_event.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(ForeignKey("role.name"))
    action: Mapped[str] = mapped_column(String(24))
    target: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12), default="dispatched")
    feedback: Mapped[str | None] = mapped_column(Text)
    feedback_by: Mapped[str | None] = mapped_column(String(64))
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
