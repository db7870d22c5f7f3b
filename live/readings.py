"""Reading queries: a sensor's readings over a window, the latest reading of every sensor, sensors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from core.errors import NotFound, UserError

MAX_WINDOW_ROWS = 20_000


def window(conn: Connection, sensor_id: str, start: datetime, end: datetime) -> dict:
    """A sensor's readings in [start, end], oldest first (at most ``MAX_WINDOW_ROWS``)."""
    if end <= start:
        raise UserError("end must be after start")
    sensor = conn.execute(text("SELECT id, kind, unit FROM sensor WHERE id = :s"), {"s": sensor_id}).mappings().first()
    if sensor is None:
        raise NotFound(f"sensor {sensor_id!r} does not exist")
    rows = conn.execute(
        text(
            """SELECT time, value, alarm FROM sensor_reading WHERE sensor_id = :s AND time BETWEEN :a AND :b
                ORDER BY time LIMIT :n"""
        ),
        {"s": sensor_id, "a": start, "b": end, "n": MAX_WINDOW_ROWS},
    )
    return {**dict(sensor), "readings": [dict(r) for r in rows.mappings()]}


def sensors(conn: Connection) -> list[dict]:
    """Every sensor with its place (CRS84 lon/lat, orthometric height), state and latest reading."""
    rows = conn.execute(
        text(
            """SELECT s.id, s.kind, s.unit, s.compartment_id, s.building_code,
                      ST_X(ST_Transform(s.position, 4326)) AS lon, ST_Y(ST_Transform(s.position, 4326)) AS lat,
                      ST_Z(s.position) AS h, COALESCE(st.level, 0) AS level, st.last_time, st.last_value
                 FROM sensor s LEFT JOIN sensor_state st ON st.sensor_id = s.id ORDER BY s.id"""
        )
    )
    return [dict(r) for r in rows.mappings()]
