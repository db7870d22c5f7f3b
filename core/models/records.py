"""The four databases: enterprises, registered personnel, projects, credit."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core import vocab
from core.models.base import Base, geom_column, names_index, search_columns, search_index, search_order_indexes
from core.models.divisions import division_column, division_index
from core.models.history import Versioned

ENTERPRISE_TYPES = vocab.codes("enterprise_types")
CREDIT_GRADES = vocab.codes("grades_credit")
PERSON_KINDS = vocab.codes("person_kinds")
PROJECT_TYPES = vocab.codes("project_types")
PROJECT_STAGES = vocab.codes("stages")
PROJECT_ROLES = vocab.codes("project_roles")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SoftDeleted:
    """Records the law keeps: a delete marks the row (when and why) instead of removing it."""

    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_reason: Mapped[str | None] = mapped_column(Text)


class Enterprise(SoftDeleted, Versioned, Base):
    __tablename__ = "enterprise"
    __table_args__ = (
        division_index("enterprise"),
        CheckConstraint(_in("type", ENTERPRISE_TYPES), name="type"),
        CheckConstraint(_in("credit_grade", CREDIT_GRADES), name="grade"),
        CheckConstraint("length(uscc) = 18", name="uscc_length"),
        search_index("enterprise"),
        *search_order_indexes("enterprise", "uscc"),
        names_index("enterprise"),
    )
    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    former_names: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    search_text, search_grams = search_columns("search_norm_list(ARRAY[name] || former_names)")
    type: Mapped[str] = mapped_column(String(16), index=True)
    legal_representative: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    district: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    registered_on: Mapped[date | None] = mapped_column(Date)
    credit_grade: Mapped[str | None] = mapped_column(String(1), index=True)
    credit_score: Mapped[float | None] = mapped_column(Float)
    grade_date: Mapped[date | None] = mapped_column(Date)
    division_code: Mapped[str | None] = division_column()
    location = geom_column("POINT")


class Qualification(Versioned, Base):
    __tablename__ = "qualification"
    certificate_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(ForeignKey("enterprise.uscc", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(Text)
    grade: Mapped[str] = mapped_column(Text)
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    issuer: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="valid")


class Person(SoftDeleted, Versioned, Base):
    """A person in the personnel database. The ID card number is never stored in plain: only its
    keyed hash (HMAC-SHA256, for look-up) and a masked form; the phone encrypted (AES-GCM) and masked."""

    __tablename__ = "person"
    __table_args__ = (
        CheckConstraint(_in("kind", PERSON_KINDS), name="kind"),
        search_index("person"),
        *search_order_indexes("person", "id"),
    )
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    search_text, search_grams = search_columns("search_norm(name)")
    id_card_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_card_masked: Mapped[str] = mapped_column(String(18))
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    certificate_no: Mapped[str | None] = mapped_column(String(32))
    specialty: Mapped[str | None] = mapped_column(Text)
    # references to enterprises and parcels: checked per statement by triggers (migration 0028)
    employer_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    valid_to: Mapped[date | None] = mapped_column(Date)
    real_name_verified: Mapped[bool] = mapped_column(Boolean, default=False)


class Project(SoftDeleted, Versioned, Base):
    __tablename__ = "project"
    __table_args__ = (
        division_index("project"),
        CheckConstraint(_in("type", PROJECT_TYPES), name="type"),
        CheckConstraint(_in("stage", PROJECT_STAGES), name="stage"),
        search_index("project"),
        *search_order_indexes("project", "code"),
    )
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    search_text, search_grams = search_columns("search_norm(name)")
    type: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16), index=True)
    # references to enterprises and the parcel: checked per statement by triggers (migration 0028)
    build_unit_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    contractor_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    supervisor_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    designer_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    surveyor_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    investment_cny: Mapped[float | None] = mapped_column(Numeric(16, 2))
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(Text)
    parcel_code: Mapped[str | None] = mapped_column(String(32), index=True)
    planned_start: Mapped[date | None] = mapped_column(Date)
    planned_end: Mapped[date | None] = mapped_column(Date)
    hazardous_works: Mapped[bool] = mapped_column(Boolean, default=False)
    progress_pct: Mapped[float] = mapped_column(Float, default=0.0)
    division_code: Mapped[str | None] = division_column()
    footprint = geom_column("POLYGON")


class ProjectPerson(Versioned, Base):
    __tablename__ = "project_person"
    __table_args__ = (CheckConstraint(_in("role", PROJECT_ROLES), name="role"),)
    project_code: Mapped[str] = mapped_column(ForeignKey("project.code", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(24), primary_key=True)


class ConstructionPermit(SoftDeleted, Versioned, Base):
    __tablename__ = "construction_permit"
    permit_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("project.code", ondelete="CASCADE"), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    contract_price_cny: Mapped[float | None] = mapped_column(Numeric(16, 2))
    area_m2: Mapped[float | None] = mapped_column(Float)
    issuer: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="valid")


class CompletionFiling(Versioned, Base):
    __tablename__ = "completion_filing"
    filing_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("project.code", ondelete="CASCADE"), index=True)
    accepted_on: Mapped[date | None] = mapped_column(Date)
    filed_on: Mapped[date | None] = mapped_column(Date)
    archive_accepted: Mapped[bool] = mapped_column(Boolean, default=False)


class CreditRecord(SoftDeleted, Versioned, Base):
    """A good or bad credit record of an enterprise or a person."""

    __tablename__ = "credit_record"
    __table_args__ = (
        CheckConstraint(_in("subject_kind", vocab.codes("subject_kinds")), name="subject_kind"),
        CheckConstraint(_in("kind", vocab.codes("credit_record_kinds")), name="kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    subject_kind: Mapped[str] = mapped_column(String(12))
    subject_id: Mapped[str] = mapped_column(String(24), index=True)
    kind: Mapped[str] = mapped_column(String(4))
    source: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    score_impact: Mapped[float] = mapped_column(Float)
    decided_on: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    disclosed: Mapped[bool] = mapped_column(Boolean, default=True)


class CreditGradeHistory(Base):
    """Every grade an enterprise held, with the explanation that produced it."""

    __tablename__ = "credit_grade_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(ForeignKey("enterprise.uscc", ondelete="CASCADE"), index=True)
    grade: Mapped[str] = mapped_column(String(1))
    score: Mapped[float] = mapped_column(Float)
    graded_on: Mapped[date] = mapped_column(Date)
    rules_version: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[str | None] = mapped_column(Text)


class Penalty(SoftDeleted, Versioned, Base):
    __tablename__ = "penalty"
    decision_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(12))
    subject_id: Mapped[str] = mapped_column(String(24), index=True)
    reason: Mapped[str] = mapped_column(Text)
    amount_cny: Mapped[float | None] = mapped_column(Numeric(14, 2))
    decided_on: Mapped[date] = mapped_column(Date)
    authority: Mapped[str | None] = mapped_column(Text)


class Complaint(Versioned, Base):
    __tablename__ = "complaint"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(Text)
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(32), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[str | None] = mapped_column(Text)
    location = geom_column("POINT")
