"""Second-person approval of personal data going out: an export job, or views past a threshold."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, now_column

APPROVAL_KINDS = ("export", "view")
APPROVAL_STATUSES = ("pending", "approved", "rejected")


class Approval(Base):
    """A request for personal data (an export job, or more views than the threshold allows) and the
    decision of a second person: who asked, why, who decided, when, and until when a view grant holds."""

    __tablename__ = "approval"
    __table_args__ = (
        CheckConstraint(f"kind IN {APPROVAL_KINDS}", name="kind"),
        CheckConstraint(f"status IN {APPROVAL_STATUSES}", name="status"),
        CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="second_person"),
        Index("ix_approval_requested_by_status", "requested_by", "status"),
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(8))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), unique=True)
    what: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()
