"""Operations: users and roles, the audit log, background jobs, emergency events."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, geom_column, now_column
from core.models.divisions import division_column, division_index

ROLES = ("public", "planner", "engineer", "reviewer", "emergency", "records", "credit", "admin")
# pending_approval: an export of personal data awaiting a second person (rejected: refused by them).
JOB_STATUSES = ("pending_approval", "queued", "running", "succeeded", "failed", "rejected")


class Role(Base):
    __tablename__ = "role"
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    description: Mapped[str] = mapped_column(Text)


class User(Base):
    __tablename__ = "app_user"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(ForeignKey("role.name"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = now_column()
    # Bumped on logout, password change, disabling and role change: older tokens stop working.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Districts (行政区 codes) the user's data scope is limited to; None for the whole city.
    districts: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))


class AuditLog(Base):
    """Append-only: the database refuses UPDATE, DELETE and TRUNCATE (migration 0008's triggers).
    Partitioned by UTC month of ``at`` (migration 0021: ``audit_partitions.audit_log_YYYYMM``, made by
    ``audit_log_partition(month)``), so the key holds ``at`` too; ids stay unique by their sequence."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), {"postgresql_partition_by": "RANGE (at)"})
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True, server_default=func.now())
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    object: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict | None] = mapped_column(JSONB)  # e.g. a record's before and after
    # The hash chain (set by the database's insert trigger): the previous row's hash and this row's.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditLogHead(Base):
    """The audit chain's newest id and hash (one row), kept by the chain trigger; the owner's only."""

    __tablename__ = "audit_log_head"
    __table_args__ = (CheckConstraint("one", name="one"),)
    one: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=text("true"))
    id: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str | None] = mapped_column(String(64))


class Job(Base):
    """A long task (ingest, tiling, review) and its progress; the queue itself is procrastinate's."""

    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES}", name="status"),
        Index("ix_job_parent_id", "parent_id", postgresql_where=text("parent_id IS NOT NULL")),
        Index(
            "ix_job_serial_open",
            "serial",
            "created_at",
            postgresql_where=text("serial IS NOT NULL AND status IN ('queued', 'running')"),
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    # A part's job (core.jobs.fan_out): the job it is a part of, finished by its last part.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("job.id", ondelete="CASCADE"))
    # Jobs of one serial key (a task's ``serial``, e.g. one layer's tile builds) run one at a time, in
    # order of submission; one waiting for its turn is queued with no queue job yet (core.jobs).
    serial: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    stage: Mapped[str] = mapped_column(String(64), default="queued")
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict] = mapped_column(JSONB, default=dict)
    result: Mapped[dict | None] = mapped_column(JSONB)
    username: Mapped[str | None] = mapped_column(String(64))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()


class EmergencyEvent(Base):
    __tablename__ = "emergency_event"
    __table_args__ = (
        division_index("emergency_event"),
        CheckConstraint(
            "type IN ('gas_leak', 'pipe_burst', 'flood', 'fire', 'building_safety', 'earthquake')", name="type"
        ),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    reported_at: Mapped[datetime] = now_column()
    source: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(String(12))
    params: Mapped[dict] = mapped_column(JSONB, default=dict)
    reporter: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(8), default="open", server_default="open")
    action_sheet: Mapped[dict | None] = mapped_column(JSONB)
    summary: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    division_code: Mapped[str | None] = division_column()
    location = geom_column("GEOMETRY", nullable=False)
