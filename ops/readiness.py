"""Readiness: may this process take traffic? The database takes writes, its schema is at the
migrations' head, and the job queue's tables answer. Each failed check gives a reason."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core import migrate
from core.db import get_engine
from core.errors import UserError


@dataclass
class Readiness:
    checks: dict[str, bool] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.reasons

    def fail(self, check: str, reason: str) -> None:
        self.checks[check] = False
        self.reasons.append(reason)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def check() -> Readiness:
    """Run the three checks; a database that cannot be reached fails all three, each saying so."""
    found = Readiness()
    try:
        engine = get_engine()
        with engine.connect() as conn:
            standby, read_only = conn.execute(
                text("SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'")
            ).one()
            conn.rollback()
    except (SQLAlchemyError, UserError) as exc:
        reason = _first_line(exc)
        found.fail("database_writable", f"the database does not take writes: {reason}")
        found.fail("migrations_current", "the schema revision cannot be read: the database is unreachable")
        found.fail("queue_reachable", "the job queue cannot be reached: the database is unreachable")
        return found
    if standby or read_only:
        what = "a standby (in recovery)" if standby else "read-only (default_transaction_read_only)"
        found.fail("database_writable", f"the database does not take writes: it is {what}")
    else:
        found.checks["database_writable"] = True
    try:
        current, head = migrate.current(engine), migrate.head()
        if current == head:
            found.checks["migrations_current"] = True
        else:
            found.fail(
                "migrations_current",
                f"the schema is at {current or 'no revision'}, the code needs {head}: run `cim db migrate`",
            )
    except SQLAlchemyError as exc:
        found.fail("migrations_current", f"the schema revision cannot be read: {_first_line(exc)}")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM (SELECT 1 FROM procrastinate_jobs LIMIT 1) q")).scalar_one()
        found.checks["queue_reachable"] = True
    except SQLAlchemyError as exc:
        found.fail("queue_reachable", f"the job queue's tables do not answer: {_first_line(exc)}")
    return found
