"""Sessions and credentials: refresh tokens, API keys for other systems, login failure counters; the
districts that users' data scopes name."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, geom_column, now_column


class RefreshToken(Base):
    """A refresh token, kept as its SHA-256 only; used once, then replaced by the next of its family."""

    __tablename__ = "refresh_token"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("app_user.username", ondelete="CASCADE"), index=True)
    family: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    token_version: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = now_column()


class ApiKey(Base):
    """Client credentials of another system: ``cim_<prefix>.<secret>``, the secret kept as its SHA-256."""

    __tablename__ = "api_key"
    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(ForeignKey("role.name"))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    created_by: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = now_column()


class LoginThrottle(Base):
    """Failed logins of one account (``user:NAME``) or one address (``addr:IP``) and its lockout."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = now_column()


class District(Base):
    """A district (行政区, by its division code) and its boundary in the store CRS: a user whose
    ``districts`` name it sees the features and records inside it (and only those)."""

    __tablename__ = "district"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    geom = geom_column("MULTIPOLYGON", nullable=False)
