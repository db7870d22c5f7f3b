"""Versions of business records: what each record held from when to when, and who changed it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class RecordVersion(Base):
    """One version of a record (kind and natural key): its data, valid from ``valid_from`` until
    ``valid_to`` (open while current); ``deleted`` marks the version that ended it."""

    __tablename__ = "record_version"
    __table_args__ = (
        Index("ix_record_version_lookup", "kind", "key", "valid_from"),
        Index("uq_record_version_current", "kind", "key", unique=True, postgresql_where=text("valid_to IS NULL")),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSONB)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    changed_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
