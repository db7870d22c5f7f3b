"""Login throttling: failures counted per account and per address, a lockout once either reaches the
limit, doubling with each further failure; a success clears the account's count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import get_settings


def keys(username: str, address: str) -> tuple[str, str]:
    return f"user:{username[:80]}", f"addr:{address}"


def locked_for(session: Session, username: str, address: str) -> int:
    """Seconds until the account or the address may try again (0 when neither is locked)."""
    row = session.execute(
        text("SELECT max(locked_until) FROM login_throttle WHERE key = ANY(:keys) AND locked_until > now()"),
        {"keys": list(keys(username, address))},
    ).scalar()
    return 0 if row is None else max(1, int((row - datetime.now(UTC)).total_seconds() + 0.999))


def lockout_seconds(failures: int) -> int:
    """The lockout after ``failures`` failures: none below the limit, then base·2^(over), capped."""
    settings = get_settings()
    over = failures - settings.login_max_failures
    if over < 0:
        return 0
    return min(settings.lockout_seconds * 2 ** min(over, 20), settings.lockout_max_seconds)


def record_failure(session: Session, username: str, address: str) -> None:
    """Count one failure against the account and the address (failures older than the window forget)."""
    window = timedelta(seconds=get_settings().login_failure_window_seconds)
    for key in keys(username, address):
        failures = session.execute(
            text(
                """INSERT INTO login_throttle AS t (key, failures, updated_at) VALUES (:key, 1, now())
                   ON CONFLICT (key) DO UPDATE SET
                     failures = CASE WHEN t.updated_at < now() - :window THEN 1 ELSE t.failures + 1 END,
                     updated_at = now()
                   RETURNING failures"""
            ),
            {"key": key, "window": window},
        ).scalar_one()
        seconds = lockout_seconds(failures)
        if seconds:
            session.execute(
                text("UPDATE login_throttle SET locked_until = now() + :s WHERE key = :key"),
                {"key": key, "s": timedelta(seconds=seconds)},
            )


def record_success(session: Session, username: str) -> None:
    session.execute(text("DELETE FROM login_throttle WHERE key = :key"), {"key": f"user:{username[:80]}"})
