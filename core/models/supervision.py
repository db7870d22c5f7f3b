"""Supervision records: quality and safety inspections (质安监) and housing-safety appraisals (房屋安全鉴定)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from core import vocab
from core.models.base import Base
from core.models.history import Versioned
from core.models.records import _in


class Inspection(Versioned, Base):
    """An inspection of an enterprise, on one of its projects or not: result, findings, rectification
    order. The records import it by ``inspection_no``; credit grading reads it by enterprise."""

    __tablename__ = "inspection"
    __table_args__ = (
        CheckConstraint(_in("kind", vocab.codes("inspection_kinds")), name="kind"),
        CheckConstraint(_in("result", vocab.codes("inspection_results")), name="result"),
    )
    inspection_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(ForeignKey("enterprise.uscc", ondelete="CASCADE"), index=True)
    project_code: Mapped[str | None] = mapped_column(ForeignKey("project.code", ondelete="SET NULL"), index=True)
    inspected_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(12))
    result: Mapped[str] = mapped_column(String(4))
    findings: Mapped[str | None] = mapped_column(Text)
    rectify_order: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    rectify_deadline: Mapped[date | None] = mapped_column(Date)
    closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    inspector: Mapped[str | None] = mapped_column(Text)


class SafetyAppraisal(Versioned, Base):
    """A housing-safety appraisal of a building, grade A-D (D: dangerous building)."""

    __tablename__ = "safety_appraisal"
    __table_args__ = (CheckConstraint(_in("grade", vocab.codes("grades_safety")), name="grade"),)
    appraisal_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    # A reference kept by triggers (migration 0022): a building's delete takes its appraisals along.
    building_code: Mapped[str] = mapped_column(String(32), index=True)
    appraised_on: Mapped[date] = mapped_column(Date)
    agency: Mapped[str | None] = mapped_column(Text)
    grade: Mapped[str] = mapped_column(String(1))
    findings: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
