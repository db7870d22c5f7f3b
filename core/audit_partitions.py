"""Monthly partitions of ``audit_log`` (migration 0021): this month's and the next ones made ahead of
time by a daily job, as the schema's owner; rows of a month without a partition wait in
``audit_partitions.audit_log_default`` and move, as written, when it is made. None is ever dropped."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from core import jobs
from core.db import owner_engine

AHEAD_MONTHS = 2


def _month(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def maintain(now: datetime | None = None, ahead: int = AHEAD_MONTHS) -> list[str]:
    """Make the partitions of this month, the next ``ahead`` ones and any month waiting in the default
    partition; return every month partition's name."""
    now = now or datetime.now(UTC)
    wanted = {_month(now.year, now.month + k) for k in range(ahead + 1)}
    with owner_engine().begin() as conn:  # partitions are the owner's to make
        waiting = conn.execute(
            text("SELECT DISTINCT date_trunc('month', at, 'UTC') FROM audit_partitions.audit_log_default")
        ).scalars()
        for month in sorted(wanted | {m.astimezone(UTC) for m in waiting}):
            conn.execute(text("SELECT audit_log_partition(:m)"), {"m": month})
        return list(
            conn.execute(
                text("""SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                         WHERE i.inhparent = 'audit_log'::regclass AND c.relname ~ '^audit_log_[0-9]{6}$'
                         ORDER BY 1""")
            ).scalars()
        )


@jobs.task("audit.partitions")
def partitions(job_id: str) -> None:
    """The daily run of :func:`maintain`."""
    jobs.run(job_id, lambda params, progress: {"partitions": maintain()})


jobs.schedule("audit-partitions", "audit.partitions", "10 0 * * *", {})
