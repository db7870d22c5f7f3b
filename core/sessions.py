"""Refresh tokens: random, stored as SHA-256, single use. Using one returns its successor in the same
family; using one twice (a stolen copy) revokes the whole family."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.errors import UserError
from core.models import RefreshToken, User
from core.settings import get_settings


class SessionRejected(UserError):
    status_code = 401


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh(session: Session, user: User, family: uuid.UUID | None = None) -> str:
    """A new refresh token for the user (a new family unless continuing one)."""
    token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            token_hash=_hash(token),
            username=user.username,
            family=family or uuid.uuid4(),
            token_version=user.token_version,
            expires_at=datetime.now(UTC) + timedelta(days=get_settings().refresh_token_days),
            used=False,
        )
    )
    return token


def rotate(session: Session, token: str) -> tuple[User, str]:
    """Spend a refresh token: its user and the successor token. Raises SessionRejected (401)."""
    row = session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == _hash(token)).with_for_update()
    ).scalar()
    if row is None:
        raise SessionRejected("the refresh token is not valid: log in again")
    if row.used:
        session.execute(delete(RefreshToken).where(RefreshToken.family == row.family))
        session.commit()  # the revocation stays although the request fails
        raise SessionRejected("the refresh token was already used: the session is revoked, log in again")
    user = session.get(User, row.username)
    if row.expires_at < datetime.now(UTC) or user is None or not user.active or user.token_version != row.token_version:
        raise SessionRejected("the session has ended: log in again")
    row.used = True
    return user, issue_refresh(session, user, row.family)


def revoke_all(session: Session, user: User) -> None:
    """End every session of the user: older access tokens fail, refresh tokens are gone."""
    session.execute(update(User).where(User.username == user.username).values(token_version=User.token_version + 1))
    session.execute(delete(RefreshToken).where(RefreshToken.username == user.username))
    session.refresh(user)
