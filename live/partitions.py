"""Monthly partitions of ``sensor_reading``: made ahead of time, dropped after the retention.

Partitions live in the ``sensor_partitions`` schema, one per UTC month (``sensor_reading_YYYYMM``);
rows of a month without a partition wait in ``sensor_reading_default`` until it is made.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, text

from core.db import owner_engine
from live.settings import get_live_settings


def _month(year: int, month: int) -> datetime:
    year += (month - 1) // 12
    return datetime(year, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def _months(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            text("""SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'sensor_reading'::regclass AND c.relname ~ '^sensor_reading_[0-9]{6}$'""")
        ).scalars()
    )


def maintain(now: datetime | None = None) -> dict:
    """Make this month's and the next months' partitions, move stray months out of the default
    partition, drop partitions wholly older than the retention. Returns what it did."""
    settings = get_live_settings()
    now = now or datetime.now(UTC)
    wanted = [_month(now.year, now.month + k) for k in range(settings.sensor_partitions_ahead + 1)]
    cutoff = _month(now.year, now.month - settings.sensor_retention_months)
    with owner_engine().begin() as conn:  # partitions are the owner's to make and drop
        # First the lock sensor_reading_partition() takes: two listeners starting together queue here
        # instead of deadlocking (each reading the default partition, then waiting for the other's lock).
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sensor_reading_partition'))"))
        before = set(_months(conn))
        stray = (
            conn.execute(
                text(
                    "SELECT DISTINCT date_trunc('month', time AT TIME ZONE 'UTC') "
                    "FROM sensor_partitions.sensor_reading_default"
                )
            )
            .scalars()
            .all()
        )
        made = [
            conn.execute(text("SELECT sensor_reading_partition(:m)"), {"m": m}).scalar_one()
            for m in sorted({*wanted, *(s.replace(tzinfo=UTC) for s in stray)})
        ]
        existing = _months(conn)
        dropped = [name for name in sorted(existing) if name < f"sensor_reading_{cutoff:%Y%m}"]
        for name in dropped:
            conn.execute(text(f'DROP TABLE sensor_partitions."{name}"'))
        kept = sorted(set(existing) - set(dropped))
    return {
        "partitions": kept,
        "made": sorted(set(made) - before),
        "dropped": dropped,
        "retention_months": settings.sensor_retention_months,
    }
