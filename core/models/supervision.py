"""Supervision records: quality and safety inspections (质安监) and housing-safety appraisals (房屋安全鉴定)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base
from core.models.records import GRADES, _in

INSPECTION_KINDS = ("routine", "special", "spot_check")
INSPECTION_RESULTS = ("pass", "fail")
INSPECTION_TARGETS = ("project", "enterprise")


class Inspection(Base):
    """An inspection of a project or an enterprise: result, findings, rectification order."""

    __tablename__ = "inspection"
    __table_args__ = (
        CheckConstraint(_in("kind", INSPECTION_KINDS), name="kind"),
        CheckConstraint(_in("result", INSPECTION_RESULTS), name="result"),
        CheckConstraint(_in("target_kind", INSPECTION_TARGETS), name="target_kind"),
    )
    inspection_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(12))
    target_id: Mapped[str] = mapped_column(String(32), index=True)
    inspected_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(12))
    result: Mapped[str] = mapped_column(String(4))
    findings: Mapped[str | None] = mapped_column(Text)
    rectify_order: Mapped[bool] = mapped_column(Boolean, default=False)
    rectify_deadline: Mapped[date | None] = mapped_column(Date)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)


class SafetyAppraisal(Base):
    """A housing-safety appraisal of a building, grade A-D (D: dangerous building)."""

    __tablename__ = "safety_appraisal"
    __table_args__ = (CheckConstraint(_in("grade", GRADES), name="grade"),)
    appraisal_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    building_code: Mapped[str] = mapped_column(ForeignKey("building.code", ondelete="CASCADE"), index=True)
    appraised_on: Mapped[date] = mapped_column(Date)
    agency: Mapped[str | None] = mapped_column(Text)
    grade: Mapped[str] = mapped_column(String(1))
    findings: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
