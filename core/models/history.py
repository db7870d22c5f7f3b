"""Versions of business records: what each record held from when to when, and who changed it. A
record's current row is its open version (``Versioned``: since when, by whom, why); ``record_version``
keeps the versions it superseded and, for a hard-deleted key, the open version that marks its end."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base

# The columns of a versioned row that say which version it is (not part of a version's data).
VERSION_COLUMNS = ("version_from", "version_by", "version_reason")


class Versioned:
    """A record whose row is its current version: valid since ``version_from`` (null: written before
    versioning, or by a bulk load that keeps no history), changed by ``version_by`` for ``version_reason``."""

    version_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version_by: Mapped[str | None] = mapped_column(String(64))
    version_reason: Mapped[str | None] = mapped_column(Text)


class RecordVersion(Base):
    """A superseded version of a record (kind and natural key): its data, valid from ``valid_from``
    until ``valid_to``; an open version (``valid_to`` null) with no data marks a hard-deleted key."""

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
