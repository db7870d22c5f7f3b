"""Readings into ``sensor_reading``: validation, refusal with a reason, deduplication by
(sensor, time), the alarm rules, and a NOTIFY for the live stream, in the caller's transaction.

The MQTT listener and ``POST /api/v1/sensors/readings`` both come here, so a reading is judged
the same way whichever way it arrived.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

import orjson
from sqlalchemy import Connection, text

from core.db import driver_cursor, owner_engine
from live import alarms, rules
from live.settings import get_live_settings

log = logging.getLogger("cim.sensors")
CHANNEL = "cim_live"
NOTIFY_LIMIT = 7000  # bytes per NOTIFY payload (PostgreSQL's limit is 8000)


class Reading(NamedTuple):
    """One reading (a tuple: tens of thousands are made per batch)."""

    sensor_id: str
    time: datetime
    value: float


@dataclass
class Rejection:
    sensor_id: str | None
    reason: str
    payload: str | None = None


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    alarms: list[dict] = field(default_factory=list)


def parse_time(raw: object) -> datetime:
    """An ISO 8601 time with a zone, or epoch seconds; ValueError says what is wrong."""
    if isinstance(raw, bool):
        raise ValueError("time is not a timestamp")
    if isinstance(raw, int | float):
        try:
            return datetime.fromtimestamp(float(raw), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"time {raw!r} is not epoch seconds of a real date") from None
    if not isinstance(raw, str):
        raise ValueError("time is missing (ISO 8601 with a zone, or epoch seconds)")
    return _parse_iso(raw)


@lru_cache(maxsize=4096)
def _parse_iso(raw: str) -> datetime:
    """Kept per string: a gateway's batch stamps many readings with the same time."""
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        raise ValueError(f"time {raw!r} has no time zone")
    return parsed


def parse_value(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ValueError(f"value {raw!r} is not a finite number")
    return float(raw)


def _sensor_kinds(conn: Connection, ids: list[str]) -> dict[str, str]:
    rows = conn.execute(text("SELECT id, kind FROM sensor WHERE id = ANY(:ids)"), {"ids": ids})
    return dict(rows.all())


_partitions_made: set[str] = set()


def forget_partitions() -> None:
    """After a database restart or switch: check the partitions again."""
    _partitions_made.clear()


def ensure_partitions(times: list[datetime]) -> None:
    """The monthly partitions these times fall in (created on demand, once per process), made and
    committed by the schema's owner (the application role may not create tables) before the readings
    are written."""
    utc = (t.astimezone(UTC) for t in times)
    months = {f"{y:04d}-{m:02d}-01" for y, m in {(u.year, u.month) for u in utc}} - _partitions_made
    if not months:
        return
    with owner_engine().begin() as owner:
        for month in sorted(months):
            owner.execute(text("SELECT sensor_reading_partition(CAST(:m AS timestamptz))"), {"m": f"{month}T00:00:00Z"})
    _partitions_made.update(months)


def record_rejections(conn: Connection, channel: str, rejected: list[Rejection]) -> None:
    """Keep and log why each reading was refused."""
    if not rejected:
        return
    for r in rejected:
        log.warning("refused %s reading from %s: %s", channel, r.sensor_id or "?", r.reason)
    conn.execute(
        text("INSERT INTO sensor_rejection (channel, sensor_id, reason, payload) VALUES (:c, :s, :r, :p)"),
        [
            {"c": channel, "s": (r.sensor_id or "")[:80] or None, "r": r.reason, "p": (r.payload or "")[:2000]}
            for r in rejected
        ],
    )


def _validate(conn: Connection, readings: list[Reading], now: datetime) -> tuple[list[Reading], list[Rejection], dict]:
    settings = get_live_settings()
    kinds_of = _sensor_kinds(conn, sorted({r.sensor_id for r in readings}))
    horizon = now + timedelta(seconds=settings.sensor_max_future_s)
    oldest = now - timedelta(days=31 * settings.sensor_retention_months)
    good, bad = [], []
    rules_of = {sensor: rules.kinds().get(kind) for sensor, kind in kinds_of.items()}
    for r in readings:
        kind = kinds_of.get(r.sensor_id)
        rule = rules_of.get(r.sensor_id)
        if kind is None:
            bad.append(Rejection(r.sensor_id, "unknown sensor"))
        elif r.time > horizon:
            bad.append(Rejection(r.sensor_id, f"time {r.time.isoformat()} is in the future"))
        elif r.time < oldest:
            bad.append(Rejection(r.sensor_id, f"time {r.time.isoformat()} is older than the retention"))
        elif rule is not None and not rule.in_range(r.value):
            bad.append(Rejection(r.sensor_id, f"value {r.value} outside {kind}'s range [{rule.low}, {rule.high}]"))
        else:
            good.append(r)
    return good, bad, kinds_of


_STAGE = "sensor_reading_stage"


def _insert(conn: Connection, rows: list[tuple[str, datetime, float, bool]]) -> list[tuple[str, datetime, float]]:
    """COPY the rows into a session's staging table, then one INSERT … ON CONFLICT DO NOTHING: the new ones
    (fetched as the driver's plain tuples)."""
    # Every batch: a temp table made in a transaction that rolled back is gone with it.
    conn.execute(
        text(
            f"""CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (sensor_id text, time timestamptz, value float8,
                alarm boolean) ON COMMIT DELETE ROWS"""
        )
    )
    copy_sql = f"COPY {_STAGE} (sensor_id, time, value, alarm) FROM STDIN (FORMAT BINARY)"
    with driver_cursor(conn) as cur:
        with cur.copy(copy_sql) as copy:
            copy.set_types(["text", "timestamptz", "float8", "bool"])
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"""INSERT INTO sensor_reading (sensor_id, time, value, alarm) SELECT sensor_id, time, value, alarm
                  FROM {_STAGE} ORDER BY sensor_id, time ON CONFLICT DO NOTHING RETURNING sensor_id, time, value"""
        )
        return cur.fetchall()


def _dumps(value: object) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def _notify(conn: Connection, kind: str, items: list[dict]) -> None:
    """The items in as few NOTIFY payloads as fit under ``NOTIFY_LIMIT`` bytes each."""
    chunks: list[list[str]] = [[]]
    size = 0
    for item in items:
        encoded = _dumps(item)
        if chunks[-1] and size + len(encoded) > NOTIFY_LIMIT:
            chunks.append([])
            size = 0
        chunks[-1].append(encoded)
        size += len(encoded)
    payloads = [f'{{"type": {_dumps(kind)}, "items": [{", ".join(chunk)}]}}' for chunk in chunks if chunk]
    conn.execute(  # the payloads as one JSON array: psycopg's text[] quoting of JSON is slow
        text("SELECT pg_notify(:c, p) FROM json_array_elements_text(CAST(:p AS json)) AS p"),
        {"c": CHANNEL, "p": _dumps(payloads)},
    )


def ingest(
    conn: Connection, readings: list[Reading], channel: str, rejected: list[Rejection] | None = None
) -> IngestResult:
    """Write the valid readings (new ones once), refuse the others with a reason, run the alarm
    rules on what was new, and NOTIFY the live stream; all in ``conn``'s transaction."""
    result = IngestResult(rejected=list(rejected or []))
    now = datetime.now(UTC)
    good, bad, kinds_of = _validate(conn, readings, now) if readings else ([], [], {})
    result.rejected += bad
    record_rejections(conn, channel, result.rejected)
    if not good:
        return result
    ensure_partitions([r.time for r in good])
    kinds = rules.kinds()
    rows = [(r.sensor_id, r.time, r.value, kinds[kinds_of[r.sensor_id]].abnormal(r.value)) for r in good]
    inserted = _insert(conn, rows)
    result.accepted = len(inserted)
    result.duplicates = len(good) - len(inserted)
    by_sensor: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for sensor_id, time, value in inserted:
        by_sensor[sensor_id].append((time, value))
    result.alarms = alarms.evaluate(conn, by_sensor, kinds_of)
    latest = [
        {"sensor_id": s, "time": max(v)[0].isoformat(), "value": max(v)[1], "kind": kinds_of[s]}
        for s, v in sorted(by_sensor.items())
    ]
    _notify(conn, "readings", latest)
    if result.alarms:
        _notify(conn, "alarm", result.alarms)
    return result
