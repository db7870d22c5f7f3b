"""Credit grading: rulesets and their indicators (data, versioned), runs and scores (history kept),
credit repairs (a record kind the scores read), re-score requests, alerts, manual
reviews and trained models."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core import vocab
from core.models.base import Base, now_column
from core.models.records import CREDIT_GRADES, _in

RULESET_STATUSES = ("draft", "checked", "approved", "active", "retired")
FAMILIES = ("基础信用", "合规经营", "监管记录", "投诉举报", "信用修复", "风险趋势")
REPAIR_STATUSES = ("applied", "approved", "rejected", "completed")
ALERT_STATUSES = vocab.codes("credit_alert_statuses")
ALERT_LEVELS = vocab.codes("credit_alert_levels")  # in rising order
REVIEW_STATUSES = ("proposed", "approved", "rejected")


class CreditRuleset(Base):
    """A versioned ruleset; only a draft may change, the active one never does."""

    __tablename__ = "credit_ruleset"
    __table_args__ = (CheckConstraint(_in("status", RULESET_STATUSES), name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    enterprise_types: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    thresholds: Mapped[dict] = mapped_column(JSONB)
    settings: Mapped[dict] = mapped_column(JSONB, default=dict)
    check_messages: Mapped[list | None] = mapped_column(JSONB)
    proposed_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_column()
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CreditIndicator(Base):
    """One indicator of a ruleset: a declared aggregate over the records and a scoring rule."""

    __tablename__ = "credit_indicator"
    __table_args__ = (CheckConstraint(_in("family", FAMILIES), name="family"),)
    ruleset_id: Mapped[int] = mapped_column(ForeignKey("credit_ruleset.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    family: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    meaning: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(40))
    aggregate: Mapped[dict] = mapped_column(JSONB)
    scoring: Mapped[dict] = mapped_column(JSONB)
    weight: Mapped[float] = mapped_column(Float)
    frequency: Mapped[str] = mapped_column(String(12), default="monthly")
    owner: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    key: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class CreditRun(Base):
    __tablename__ = "credit_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ruleset_id: Mapped[int] = mapped_column(ForeignKey("credit_ruleset.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = now_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enterprises: Mapped[int] = mapped_column(Integer, default=0)
    username: Mapped[str | None] = mapped_column(String(64))


class CreditScore(Base):
    """One enterprise's result in one run: indicator values and scores, families, total, grade."""

    __tablename__ = "credit_score"
    __table_args__ = (
        CheckConstraint(_in("grade", CREDIT_GRADES), name="grade"),
        Index("ix_credit_score_enterprise_run", "enterprise_uscc", "run_id"),  # an enterprise's history
    )
    # The run and the enterprise are kept by statement-level triggers (migration 0013: checked once
    # per insert, deleted with their run or enterprise), not per-row foreign keys, whose checks took
    # about three quarters of writing a full run's 100,000 rows.
    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    ruleset_version: Mapped[str] = mapped_column(String(32))
    total: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(1))
    previous_grade: Mapped[str | None] = mapped_column(String(1))
    families: Mapped[dict] = mapped_column(JSONB)
    indicators: Mapped[dict] = mapped_column(JSONB)
    explanation: Mapped[list] = mapped_column(JSONB)
    scored_at: Mapped[datetime] = now_column()


class CreditRepair(Base):
    """An application to repair credit (信用修复) against a bad record."""

    __tablename__ = "credit_repair"
    __table_args__ = (CheckConstraint(_in("status", REPAIR_STATUSES), name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(ForeignKey("enterprise.uscc", ondelete="CASCADE"), index=True)
    # No foreign key: the sample city's loader truncates credit_record, which a reference would block.
    credit_record_id: Mapped[int | None] = mapped_column(Integer)
    applied_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="applied")
    completed_on: Mapped[date | None] = mapped_column(Date)


class CreditRescoreRequest(Base):
    """A record that should re-score an enterprise, written by triggers so any writer causes it."""

    __tablename__ = "credit_rescore_request"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(String(18), index=True)
    cause: Mapped[str] = mapped_column(String(24))
    cause_id: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = now_column()
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CreditAlert(Base):
    """An early-warning alert; an open alert with the same cause absorbs repeats (``count``)."""

    __tablename__ = "credit_alert"
    __table_args__ = (
        CheckConstraint(_in("status", ALERT_STATUSES), name="status"),
        CheckConstraint(_in("level", ALERT_LEVELS), name="level"),
        Index("uq_credit_alert_open_cause", "cause_key", unique=True, postgresql_where=text("status <> 'closed'")),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    level: Mapped[str] = mapped_column(String(8))
    cause_key: Mapped[str] = mapped_column(Text)
    enterprise_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict] = mapped_column(JSONB)
    count: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(12), default="generated")
    assignee: Mapped[str | None] = mapped_column(String(64))
    due_on: Mapped[date | None] = mapped_column(Date)
    feedback: Mapped[str | None] = mapped_column(Text)
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    history: Mapped[list] = mapped_column(JSONB, default=list)
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CreditReview(Base):
    """A manual grade change: proposed by one person with a reason, decided by another."""

    __tablename__ = "credit_review"
    __table_args__ = (
        CheckConstraint(_in("status", REVIEW_STATUSES), name="status"),
        CheckConstraint(_in("proposed_grade", CREDIT_GRADES), name="proposed_grade"),
        CheckConstraint("decided_by IS NULL OR decided_by <> proposed_by", name="two_person"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(ForeignKey("enterprise.uscc", ondelete="CASCADE"), index=True)
    engine_grade: Mapped[str | None] = mapped_column(String(1))
    proposed_grade: Mapped[str] = mapped_column(String(1))
    reason: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = now_column()
    status: Mapped[str] = mapped_column(String(12), default="proposed")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)


class CreditModel(Base):
    """A trained risk model (coefficients as data), its held-out evaluation and whether it is active."""

    __tablename__ = "credit_model"
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    trained_at: Mapped[datetime] = now_column()
    features: Mapped[list] = mapped_column(JSONB)
    params: Mapped[dict] = mapped_column(JSONB)
    auc: Mapped[float] = mapped_column(Float)
    calibration: Mapped[list] = mapped_column(JSONB)
    train_rows: Mapped[int] = mapped_column(Integer)
    test_rows: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
