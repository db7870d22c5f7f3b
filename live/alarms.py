"""Alarms: the rules run over new readings, one alarm per episode (raised once, escalated in
place, cleared when values return), the place it is in (compartment, neighbouring compartments,
pipes and valves inside) and its lifecycle raised → acknowledged → handled → closed, each step kept."""

from __future__ import annotations

import json
from datetime import datetime

import orjson
from sqlalchemy import Connection, text

from core.errors import NotFound, UserError
from live import rules

LIFECYCLE = ("raised", "acknowledged", "handled", "closed")


class LifecycleConflict(UserError):
    """A step the alarm has already passed."""

    status_code = 409


_STATES = text(
    """SELECT sensor_id, level, pending_level, pending_since, clear_since, last_time, last_value, ref_time, ref_value,
              alarm_id
         FROM sensor_state WHERE sensor_id = ANY(:ids) ORDER BY sensor_id FOR UPDATE"""
)
# The new states as one JSON array of objects (psycopg dumps long arrays of timestamps slowly).
_SAVE_STATE = text(
    """UPDATE sensor_state s SET level = n.level, pending_level = n.pending_level, pending_since = n.pending_since,
              clear_since = n.clear_since, last_time = n.last_time, last_value = n.last_value,
              ref_time = n.ref_time, ref_value = n.ref_value, alarm_id = n.alarm_id
         FROM json_to_recordset(CAST(:states AS json))
              AS n(sensor_id text, level int, pending_level int, pending_since timestamptz, clear_since timestamptz,
                   last_time timestamptz, last_value float8, ref_time timestamptz, ref_value float8, alarm_id bigint)
        WHERE s.sensor_id = n.sensor_id"""
)
# The fast path: every sensor of the batch locked in id order (two listeners never deadlock), then the
# quiet ones (normal, nothing pending, no open alarm, a newer reading) moved to their batch's last reading
# in the same statement; the ids it moved come back, the others take the rules' full path.
_QUIET = text(
    """WITH locked AS (SELECT sensor_id FROM sensor_state WHERE sensor_id = ANY(:all) ORDER BY sensor_id FOR UPDATE)
       UPDATE sensor_state s SET last_time = n.last_time, last_value = n.last_value
         FROM locked JOIN json_to_recordset(CAST(:quiet AS json))
              AS n(sensor_id text, last_time timestamptz, last_value float8) USING (sensor_id)
        WHERE s.sensor_id = n.sensor_id AND s.level = 0 AND s.pending_level = 0 AND s.alarm_id IS NULL
          AND (s.last_time IS NULL OR s.last_time < n.last_time)
       RETURNING s.sensor_id"""
)
_PEAKS = text(
    """UPDATE alarm a SET peak_value = GREATEST(a.peak_value, p.value)
         FROM unnest(CAST(:ids AS bigint[]), CAST(:values AS float8[])) AS p(id, value)
        WHERE a.id = p.id AND a.kind <> 'O2'"""
)
# The compartment, the same compartment of the tunnel segments that touch this one, and the pipes and
# valves of the compartment's utilities along its segment (within half the tunnel's width of the axis).
_PLACE = text(
    """SELECT s.compartment_id, s.position,
              COALESCE((SELECT array_agg(n.id ORDER BY n.id) FROM tunnel_compartment n JOIN utility_tunnel nu
                          ON nu.id = n.tunnel_id
                         WHERE n.name = c.name AND n.id <> c.id AND ST_DWithin(nu.axis, u.axis, 1.0)), '{}')
                AS neighbours,
              COALESCE((SELECT array_agg(p.id ORDER BY p.id) FROM pipeline p
                         WHERE p.utility = ANY(c.utilities) AND ST_DWithin(p.geom, u.axis, u.width_m / 2)), '{}')
                AS pipes,
              COALESCE((SELECT array_agg(v.id ORDER BY v.id) FROM pipe_node v
                         WHERE v.kind = 'valve' AND v.utility = ANY(c.utilities)
                           AND ST_DWithin(v.geom, u.axis, u.width_m / 2)), '{}') AS valves
         FROM sensor s LEFT JOIN tunnel_compartment c ON c.id = s.compartment_id
         LEFT JOIN utility_tunnel u ON u.id = c.tunnel_id
        WHERE s.id = :sensor_id"""
)
_RAISE = text(
    """INSERT INTO alarm (sensor_id, kind, level, rule, status, raised_at, reading_time, peak_value, compartment_id,
                         neighbours, pipes, valves, readings, location)
       SELECT s.id, :kind, :level, :rule, 'raised', now(), :time, :value, :compartment_id,
              :neighbours, :pipes, :valves, CAST(:readings AS jsonb), s.position FROM sensor s WHERE s.id = :sensor_id
       RETURNING id"""
)
_CAUSE = text(
    """SELECT time, value FROM sensor_reading WHERE sensor_id = :sensor_id AND time >= :since AND time <= :until
        ORDER BY time"""
)
ALARM_COLUMNS = """a.id, a.sensor_id, a.kind, a.level, a.rule, a.status, a.raised_at, a.reading_time, a.peak_value,
    a.cleared_at, a.compartment_id, a.neighbours, a.pipes, a.valves, a.readings"""


def _ensure_states(conn: Connection, ids: list[str]) -> dict[str, dict]:
    """The sensors' states, locked; a state row made first for a sensor that has none (its first reading)."""
    states = _locked_states(conn, ids)
    missing = [i for i in ids if i not in states]
    if missing:
        conn.execute(
            text(
                "INSERT INTO sensor_state (sensor_id, level, pending_level) "
                "SELECT unnest(CAST(:ids AS text[])), 0, 0 ON CONFLICT DO NOTHING"
            ),
            {"ids": missing},
        )
        states |= _locked_states(conn, missing)
    return states


def _locked_states(conn: Connection, ids: list[str]) -> dict[str, dict]:
    rows = conn.execute(_STATES, {"ids": ids})
    names = list(rows.keys())
    return {row[0]: dict(zip(names, row, strict=True)) for row in rows.all()}  # .all(): one fetch, not one per row


def _raise(
    conn: Connection, sensor_id: str, kind: str, change: rules.Change, since: datetime, time: datetime, value: float
) -> int:
    place = conn.execute(_PLACE, {"sensor_id": sensor_id}).mappings().one()
    cause = [
        {"time": t.isoformat(), "value": v}
        for t, v in conn.execute(_CAUSE, {"sensor_id": sensor_id, "since": since, "until": time})
    ]
    alarm_id = conn.execute(
        _RAISE,
        {
            "sensor_id": sensor_id,
            "kind": kind,
            "level": rules.LEVELS[change.level],
            "rule": change.rule,
            "time": time,
            "value": value,
            "compartment_id": place["compartment_id"],
            "neighbours": place["neighbours"],
            "pipes": place["pipes"],
            "valves": place["valves"],
            "readings": json.dumps(cause),
        },
    ).scalar_one()
    conn.execute(
        text("INSERT INTO alarm_step (alarm_id, status, note) VALUES (:a, 'raised', :n)"),
        {"a": alarm_id, "n": f"{change.rule} rule, {rules.LEVELS[change.level]}"},
    )
    return alarm_id


def _quiet(
    conn: Connection, by_sensor: dict[str, list[tuple[datetime, float]]], kinds_of: dict[str, str]
) -> dict[str, list[tuple[datetime, float]]]:
    """Lock every sensor's state; write the quiet sensors' (no threshold crossed by their new readings, no
    rate rule, a normal state) last reading, one row per sensor; return the readings of the others. Same
    result as stepping each reading through ``rules.step``, whose quiet branch keeps all but the last."""
    kinds = rules.kinds()
    quiet = []
    for sensor_id, readings in by_sensor.items():
        kind_rules = kinds[kinds_of[sensor_id]]
        if kind_rules.rate_per_s is None and not any(kind_rules.abnormal(v) for _, v in readings):
            last_time, last_value = max(readings)
            quiet.append({"sensor_id": sensor_id, "last_time": last_time, "last_value": last_value})
    moved = set(conn.execute(_QUIET, {"all": sorted(by_sensor), "quiet": orjson.dumps(quiet).decode()}).scalars())
    return {s: v for s, v in by_sensor.items() if s not in moved}


def evaluate(
    conn: Connection, by_sensor: dict[str, list[tuple[datetime, float]]], kinds_of: dict[str, str]
) -> list[dict]:
    """Run the rules over new readings (each sensor's in time order, older than its last one skipped);
    raise, escalate or clear alarms; return the alarms that changed."""
    if not by_sensor:
        return []
    by_sensor = _quiet(conn, by_sensor, kinds_of)
    if not by_sensor:
        return []
    states = _ensure_states(conn, sorted(by_sensor))
    changed: set[int] = set()
    saves: list[dict] = []  # every sensor's new state, written in one statement at the end
    peaks: dict[int, float] = {}  # an open alarm's highest new value, written once at the end
    for sensor_id in sorted(by_sensor):
        row = states[sensor_id]
        kind_rules = rules.kinds()[kinds_of[sensor_id]]
        alarm_id = row["alarm_id"]
        state = rules.State(**{k: row[k] for k in rules.State.__dataclass_fields__})
        for time, value in sorted(by_sensor[sensor_id]):
            if state.last_time is not None and time <= state.last_time:
                continue
            pending_since, window_start = state.pending_since or time, state.ref_time or time
            state, change = rules.step(kind_rules, state, time, value)
            if alarm_id is not None:
                peaks[alarm_id] = max(value, peaks.get(alarm_id, value))
            if change is None:
                continue
            if change.action == "raise":
                if change.rule == "rate":  # the readings of the window whose rise fired it
                    pending_since = window_start
                alarm_id = _raise(conn, sensor_id, kind_rules.kind, change, pending_since, time, value)
            elif change.action == "escalate" and alarm_id is not None:
                conn.execute(
                    text("UPDATE alarm SET level = :l WHERE id = :a"), {"l": rules.LEVELS[change.level], "a": alarm_id}
                )
            elif change.action == "clear" and alarm_id is not None:
                conn.execute(text("UPDATE alarm SET cleared_at = :t WHERE id = :a"), {"t": time, "a": alarm_id})
                changed.add(alarm_id)
                alarm_id = None
                continue
            if alarm_id is not None:
                changed.add(alarm_id)
        saves.append({"sensor_id": sensor_id, "alarm_id": alarm_id, **state.__dict__})
    if peaks:
        conn.execute(_PEAKS, {"ids": list(peaks), "values": list(peaks.values())})
    conn.execute(_SAVE_STATE, {"states": orjson.dumps(saves).decode()})
    return [_summary(a) for a in get_many(conn, sorted(changed))]


def _summary(alarm: dict) -> dict:
    return {
        k: alarm[k]
        for k in (
            "id",
            "sensor_id",
            "kind",
            "level",
            "status",
            "raised_at",
            "reading_time",
            "peak_value",
            "cleared_at",
            "compartment_id",
            "x",
            "y",
            "z",
        )
    }


def get_many(conn: Connection, ids: list[int]) -> list[dict]:
    rows = conn.execute(
        text(f"""SELECT {ALARM_COLUMNS}, ST_X(a.location) AS x, ST_Y(a.location) AS y, ST_Z(a.location) AS z
                   FROM alarm a WHERE a.id = ANY(:ids) ORDER BY a.id"""),
        {"ids": ids},
    )
    return [dict(r) for r in rows.mappings()]


def get(conn: Connection, alarm_id: int) -> dict:
    """One alarm with its steps."""
    found = get_many(conn, [alarm_id])
    if not found:
        raise NotFound(f"alarm {alarm_id} does not exist")
    steps = conn.execute(
        text("SELECT status, at, username, note FROM alarm_step WHERE alarm_id = :a ORDER BY at, id"), {"a": alarm_id}
    )
    return {**found[0], "steps": [dict(s) for s in steps.mappings()]}


def listing(conn: Connection, open_only: bool = True, limit: int = 500) -> list[dict]:
    """Alarms, newest first; only those not closed by default."""
    where = "WHERE a.status <> 'closed'" if open_only else ""
    rows = conn.execute(
        text(f"""SELECT {ALARM_COLUMNS}, ST_X(a.location) AS x, ST_Y(a.location) AS y, ST_Z(a.location) AS z
                   FROM alarm a {where} ORDER BY a.raised_at DESC, a.id DESC LIMIT :limit"""),
        {"limit": limit},
    )
    return [dict(r) for r in rows.mappings()]


def advance(conn: Connection, alarm_id: int, status: str, username: str | None, note: str | None) -> dict:
    """Move an alarm forward in its lifecycle (steps may be skipped, never undone); keep the step."""
    if status not in LIFECYCLE[1:]:
        raise UserError(f"status must be one of {', '.join(LIFECYCLE[1:])}")
    current = conn.execute(text("SELECT status FROM alarm WHERE id = :a FOR UPDATE"), {"a": alarm_id}).scalar()
    if current is None:
        raise NotFound(f"alarm {alarm_id} does not exist")
    if LIFECYCLE.index(status) <= LIFECYCLE.index(current):
        raise LifecycleConflict(f"alarm {alarm_id} is already {current}: it cannot go to {status}")
    conn.execute(text("UPDATE alarm SET status = :s WHERE id = :a"), {"s": status, "a": alarm_id})
    conn.execute(
        text("INSERT INTO alarm_step (alarm_id, status, username, note) VALUES (:a, :s, :u, :n)"),
        {"a": alarm_id, "s": status, "u": username, "n": note},
    )
    if status == "closed":
        conn.execute(text("UPDATE sensor_state SET alarm_id = NULL WHERE alarm_id = :a"), {"a": alarm_id})
    alarm = get(conn, alarm_id)
    conn.execute(
        text("SELECT pg_notify('cim_live', :p)"),
        {"p": json.dumps({"type": "alarm", "items": [_summary(alarm)]}, default=str)},
    )
    return alarm
