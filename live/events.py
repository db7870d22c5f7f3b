"""Emergency events from intake to close: record, overlay into an action sheet, dispatch tasks to
roles with due times, record feedback, close with a summary; every step in ``event_step``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import shapely
from sqlalchemy import Connection, text

from core.errors import NotFound, UserError
from live import scenarios
from live.ingest import CHANNEL

MAX_TASKS = 200
# Who does what from a sheet, and by when (minutes after dispatch; valves one after another).
TASK_RULES = {
    "close_valve": ("engineer", 10),
    "ventilate_compartment": ("engineer", 15),
    "close_compartment": ("engineer", 15),
    "inspect_compartment": ("engineer", 30),
    "stop_site": ("engineer", 30),
    "warn_building": ("emergency", 30),
    "evacuate_building": ("emergency", 20),
    "inspect_building": ("engineer", 120),
}
STEPS = ("intake", "overlay", "dispatch", "feedback", "close")


def _step(conn: Connection, event_id: int, step: str, username: str | None, detail: dict) -> None:
    conn.execute(
        text("INSERT INTO event_step (event_id, step, username, detail) VALUES (:e, :s, :u, CAST(:d AS jsonb))"),
        {"e": event_id, "s": step, "u": username, "d": json.dumps(detail, default=str)},
    )


def _announce(conn: Connection, event_id: int, status: str) -> None:
    """Tell the live stream (on commit) that an event was opened or closed: its id and status only,
    since the stream is public; a page that may read events asks the API for the rest."""
    conn.execute(
        text("SELECT pg_notify(:c, :p)"),
        {"c": CHANNEL, "p": json.dumps({"type": "event", "items": [{"id": event_id, "status": status}]})},
    )


def _tasks(sheet: dict) -> list[tuple[str, str, int]]:
    """(action, target, order) of each task a sheet calls for."""
    tasks = [("close_valve", v["id"], v["order"]) for v in sheet.get("valves", {}).get("to_close", [])]
    tasks += [(f"{c['action']}_compartment", c["id"], 1) for c in sheet.get("compartments", [])]
    tasks += [("stop_site", s["code"], 1) for s in sheet.get("construction_sites", [])]
    if "building_safety" in sheet:
        tasks.append(("evacuate_building", sheet["building_safety"]["building"]["code"], 1))
        tasks += [("warn_building", n["code"], 1) for n in sheet["building_safety"]["neighbours"]]
    elif "earthquake" in sheet:
        tasks += [("inspect_building", b["code"], b["rank"]) for b in sheet["earthquake"]["buildings_ranked"]]
    else:
        tasks += [("warn_building", b["code"], 1) for b in sheet.get("buildings", [])]
    return tasks[:MAX_TASKS]


def _counts(sheet: dict) -> dict:
    return {
        "buildings": len(sheet.get("buildings", [])),
        "residents": sheet.get("residents"),
        "construction_sites": len(sheet.get("construction_sites", [])),
        "valves_to_close": len(sheet.get("valves", {}).get("to_close", [])),
        "compartments": len(sheet.get("compartments", [])),
    }


def intake(
    conn: Connection,
    type_: str,
    location: shapely.Geometry,
    radius_m: float | None,
    severity: str | None,
    source: str | None,
    reporter: str | None,
    occurred_at: datetime | None,
    params: dict,
    username: str | None,
    personal: bool,
) -> int:
    """Record an event, run its overlay into the action sheet and dispatch the sheet's tasks."""
    if type_ not in scenarios.KINDS:
        raise UserError(f"unknown event type {type_!r}: one of {', '.join(scenarios.KINDS)}")
    event_id = conn.execute(
        text(
            """INSERT INTO emergency_event (type, source, severity, reporter, occurred_at, params, location, status)
               VALUES (:t, :src, :sev, :rep, :occ, CAST(:p AS jsonb), ST_GeomFromWKB(:wkb, :srid), 'open')
               RETURNING id"""
        ),
        {
            "t": type_,
            "src": source,
            "sev": severity,
            "rep": reporter,
            "occ": occurred_at,
            "p": json.dumps({**params, "radius_m": radius_m}),
            "wkb": shapely.to_wkb(location),
            "srid": scenarios.srid(),
        },
    ).scalar_one()
    _step(
        conn,
        event_id,
        "intake",
        username,
        {"type": type_, "severity": severity, "source": source, "reporter": reporter},
    )
    sheet = scenarios.action_sheet(conn, type_, location, radius_m, params, personal=False)
    zone = sheet.pop("zone")
    conn.execute(
        text("UPDATE emergency_event SET action_sheet = CAST(:s AS jsonb) WHERE id = :e"),
        {"s": json.dumps(sheet | {"zone_wkb_hex": shapely.to_wkb(zone, hex=True)}, default=str), "e": event_id},
    )
    _step(conn, event_id, "overlay", None, _counts(sheet) | {"zone_area_m2": sheet["zone_area_m2"]})
    now = datetime.now(UTC)
    rows = []
    for action, target, order in _tasks(sheet):
        role, minutes = TASK_RULES[action]
        rows.append({"e": event_id, "r": role, "a": action, "t": target, "d": now + timedelta(minutes=minutes * order)})
    if rows:
        conn.execute(
            text(
                "INSERT INTO event_task (event_id, role, action, target, due_at, status) "
                "VALUES (:e, :r, :a, :t, :d, 'dispatched')"
            ),
            rows,
        )
    by_role: dict[str, int] = {}
    for r in rows:
        by_role[r["r"]] = by_role.get(r["r"], 0) + 1
    _step(conn, event_id, "dispatch", username, {"tasks": len(rows), "by_role": by_role})
    _announce(conn, event_id, "open")
    return event_id


def _open_event(conn: Connection, event_id: int) -> str:
    status = conn.execute(text("SELECT status FROM emergency_event WHERE id = :e FOR UPDATE"), {"e": event_id}).scalar()
    if status is None:
        raise NotFound(f"event {event_id} does not exist")
    return status


def feedback(
    conn: Connection, event_id: int, task_id: int, status: str, note: str | None, username: str | None, role: str
) -> dict:
    """Record a task's outcome (done or failed) from the role it was dispatched to (or admin)."""
    if status not in ("done", "failed"):
        raise UserError("status must be done or failed")
    if _open_event(conn, event_id) == "closed":
        raise UserError(f"event {event_id} is closed")
    task = (
        conn.execute(
            text("SELECT id, role, action, target FROM event_task WHERE id = :t AND event_id = :e FOR UPDATE"),
            {"t": task_id, "e": event_id},
        )
        .mappings()
        .first()
    )
    if task is None:
        raise NotFound(f"task {task_id} of event {event_id} does not exist")
    if role not in (task["role"], "admin"):
        raise UserError(f"task {task_id} is dispatched to {task['role']}, not {role}")
    conn.execute(
        text("UPDATE event_task SET status = :s, feedback = :n, feedback_by = :u, feedback_at = now() WHERE id = :t"),
        {"s": status, "n": note, "u": username, "t": task_id},
    )
    _step(
        conn,
        event_id,
        "feedback",
        username,
        {"task": task_id, "action": task["action"], "target": task["target"], "status": status, "note": note},
    )
    return {"task": task_id, "status": status}


def close(conn: Connection, event_id: int, summary: str, username: str | None) -> None:
    """Close an event with its summary; tasks still open are listed in the close step."""
    if not summary.strip():
        raise UserError("closing an event needs a summary")
    if _open_event(conn, event_id) == "closed":
        raise UserError(f"event {event_id} is already closed")
    still_open = conn.execute(
        text("SELECT count(*) FROM event_task WHERE event_id = :e AND status = 'dispatched'"), {"e": event_id}
    ).scalar_one()
    conn.execute(
        text("UPDATE emergency_event SET status = 'closed', summary = :s, closed_at = now() WHERE id = :e"),
        {"s": summary, "e": event_id},
    )
    _step(conn, event_id, "close", username, {"summary": summary, "tasks_still_open": still_open})
    _announce(conn, event_id, "closed")


def get(conn: Connection, event_id: int, personal: bool) -> dict:
    """An event with its action sheet (contacts as the role may see them), tasks and timeline."""
    row = (
        conn.execute(
            text(
                """SELECT id, type, severity, source, reporter, reported_at, occurred_at, status, summary, closed_at,
                      params, action_sheet, ST_AsBinary(location) AS location
                 FROM emergency_event WHERE id = :e"""
            ),
            {"e": event_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"event {event_id} does not exist")
    event = dict(row)
    location = shapely.from_wkb(bytes(event.pop("location")))
    sheet = event.pop("action_sheet") or {}
    zone = shapely.from_wkb(sheet.pop("zone_wkb_hex")) if "zone_wkb_hex" in sheet else None
    if personal and event["status"] == "open":  # contacts unmasked: the sheet computed again for this role
        params = {k: v for k, v in event["params"].items() if k != "radius_m"}
        sheet = scenarios.action_sheet(conn, event["type"], location, event["params"].get("radius_m"), params, True)
        zone = sheet.pop("zone")
    tasks = (
        conn.execute(
            text("""SELECT id, role, action, target, due_at, status, feedback, feedback_by, feedback_at
                  FROM event_task WHERE event_id = :e ORDER BY due_at, id"""),
            {"e": event_id},
        )
        .mappings()
        .all()
    )
    steps = (
        conn.execute(
            text("SELECT step, at, username, detail FROM event_step WHERE event_id = :e ORDER BY at, id"),
            {"e": event_id},
        )
        .mappings()
        .all()
    )
    return event | {
        "location": location,
        "zone": zone,
        "action_sheet": sheet,
        "tasks": [dict(t) for t in tasks],
        "timeline": [dict(s) for s in steps],
    }


def listing(
    conn: Connection,
    type_: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    district: str | None = None,
) -> list[dict]:
    """Events, newest first, filtered by type, status, reported time and district (行政区, as reported)."""
    rows = conn.execute(
        text(
            """SELECT id, type, severity, source, reporter, reported_at, status, closed_at,
                      params->>'district' AS district,
                      ST_X(ST_Transform(ST_Centroid(location), 4326)) AS lon,
                      ST_Y(ST_Transform(ST_Centroid(location), 4326)) AS lat,
                      (SELECT count(*) FROM event_task t WHERE t.event_id = e.id) AS tasks,
                      (SELECT count(*) FROM event_task t WHERE t.event_id = e.id AND t.status = 'dispatched')
                        AS open_tasks
                 FROM emergency_event e
                WHERE (CAST(:t AS text) IS NULL OR type = :t) AND (CAST(:s AS text) IS NULL OR status = :s)
                  AND (CAST(:a AS timestamptz) IS NULL OR reported_at >= :a)
                  AND (CAST(:b AS timestamptz) IS NULL OR reported_at < :b)
                  AND (CAST(:d AS text) IS NULL OR params->>'district' = :d)
                ORDER BY reported_at DESC, id DESC"""
        ),
        {"t": type_, "s": status, "a": since, "b": until, "d": district},
    )
    return [dict(r) for r in rows.mappings()]
