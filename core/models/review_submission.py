"""Joint drawing review (多图联审): review agencies' reviewers, which agency reviews each drawing
type, and submissions routed to several agencies at once (each agency's part is a drawing_review)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, now_column

MEMBER_ROLES = ("reviewer", "chief")
SUBMISSION_STATUSES = ("in_review", "returned", "approved")


class ReviewAgencyMember(Base):
    """A user who reviews for a review agency (an enterprise of type review_agency)."""

    __tablename__ = "review_agency_member"
    __table_args__ = (CheckConstraint("role IN ('reviewer', 'chief')", name="role"),)
    agency_uscc: Mapped[str] = mapped_column(ForeignKey("enterprise.uscc", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("app_user.username", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="reviewer")


class ReviewRoute(Base):
    """The agency that reviews a drawing type, and its review period when not the default."""

    __tablename__ = "review_route"
    drawing_type: Mapped[str] = mapped_column(String(24), primary_key=True)
    agency_uscc: Mapped[str] = mapped_column(ForeignKey("enterprise.uscc", ondelete="CASCADE"), index=True)
    due_days: Mapped[int | None] = mapped_column(Integer)


class ReviewSubmission(Base):
    """One submission (IFC plus PDF drawings), received once and reviewed by every agency its
    project type needs; it passes when every agency passes."""

    __tablename__ = "review_submission"
    __table_args__ = (CheckConstraint("status IN ('in_review', 'returned', 'approved')", name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("project.code"), index=True)
    submitted_by: Mapped[str | None] = mapped_column(Text)
    round: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(12), default="in_review")
    files: Mapped[dict | None] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()
