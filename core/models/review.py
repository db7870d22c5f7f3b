"""Digital drawing review (数字化审图): reviews and their issues."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, now_column

REVIEW_STATUSES = ("received", "in_review", "returned", "approved")


class DrawingReview(Base):
    __tablename__ = "drawing_review"
    __table_args__ = (CheckConstraint("status IN ('received', 'in_review', 'returned', 'approved')", name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("project.code"), index=True)
    agency: Mapped[str | None] = mapped_column(Text)
    drawing_type: Mapped[str] = mapped_column(String(24), default="building")
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("bim_model_version.id", ondelete="SET NULL"))
    schema: Mapped[str | None] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(12), default="received")
    report: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = now_column()
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # joint review: the submission this agency's review belongs to, and when it is due
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("review_submission.id", ondelete="CASCADE"), index=True
    )
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReviewIssue(Base):
    __tablename__ = "review_issue"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("drawing_review.id", ondelete="CASCADE"), index=True)
    global_id: Mapped[str | None] = mapped_column(String(22))
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(12))
    measured: Mapped[float | None] = mapped_column(Float)
    limit: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict | None] = mapped_column(JSONB)
