"""Emergency events: intake (from the city's emergency centre or an operator), the action sheet,
tasks and feedback, close, the list (filter, CSV export) and the printable report."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from shapely.geometry import mapping

from core.db import get_engine, read_engine
from gis.analysis import inputs
from live import events, report, scenarios
from spatial_api import audit
from spatial_api.schemas.events import EventClosed, EventDetail, EventKind, EventSummary, TaskFeedback
from spatial_api.security import Principal, require_role

router = APIRouter(prefix="/events", tags=["events"])
commanders = require_role("emergency")
RESPONDERS = ("emergency", "engineer")  # and admin
responders = require_role(*RESPONDERS)
EventType = Literal["gas_leak", "pipe_burst", "fire", "flood", "earthquake", "building_safety"]


class EventIn(BaseModel):
    type: EventType
    location: dict = Field(description="GeoJSON Point or Polygon in CRS84")
    radius_m: float | None = Field(None, description="buffer around the location; default by type")
    severity: Literal["minor", "major", "severe", "critical"] = "major"
    source: str = Field("operator", max_length=200, description="the sending system, e.g. 市应急指挥中心")
    reporter: str | None = Field(None, max_length=200)
    occurred_at: datetime | None = None
    pipe_id: str | None = Field(None, description="gas leak / burst: the pipe (else the nearest)")
    water_level_m: float | None = Field(None, description="flood: water level, orthometric metres")
    building_code: str | None = Field(None, description="building safety: the building (else the nearest)")
    intensity: str | None = Field(None, max_length=8, description="earthquake: intensity of the zone (e.g. VIII)")
    district: str | None = Field(None, max_length=32, description="the district (行政区) as the sender reports it")
    min_road_width_m: float | None = Field(
        None, gt=0, le=100, description="fire: the narrowest road fire engines may take (default 4 m, GB 50016 §7.1.8)"
    )


class FeedbackIn(BaseModel):
    status: Literal["done", "failed"]
    note: str | None = Field(None, max_length=2000)


class CloseIn(BaseModel):
    summary: str = Field(min_length=1, max_length=10_000)


class EventCreated(BaseModel):
    id: int
    event: dict


def _crs84(event: dict) -> dict:
    out = dict(event)
    for key in ("location", "zone"):
        if out.get(key) is not None:
            out[key] = mapping(inputs.to_crs84(out[key]))
    return out


@router.get("/kinds", response_model=list[EventKind])
def kinds() -> list[dict]:
    """The incident kinds in registry order, with labels and default radii."""
    return [{"type": k.type, "label": k.label, "radius_m": k.radius_m} for k in scenarios.REGISTRY]


@router.post("", status_code=201)
def post_event(body: EventIn, request: Request, principal: Principal = Depends(commanders)) -> EventCreated:
    """Receive an event: record it, run its overlay into the action sheet, dispatch the tasks."""
    radius = inputs.radius(body.radius_m) if body.radius_m is not None else None
    params = {
        k: v
        for k, v in body.model_dump(
            include={"pipe_id", "water_level_m", "building_code", "intensity", "min_road_width_m", "district"}
        ).items()
        if v is not None
    }
    with get_engine().begin() as conn:
        location = inputs.geometry(conn, body.location, ("Point", "Polygon", "MultiPolygon"), "location")
        event_id = events.intake(
            conn,
            body.type,
            location,
            radius,
            body.severity,
            body.source,
            body.reporter,
            body.occurred_at,
            params,
            principal.username,
            principal.sees_personal_data,
        )
        event = events.get(conn, event_id, principal.sees_personal_data)
    audit.record("event.intake", str(event_id), principal, request)
    return EventCreated(id=event_id, event=_crs84(event))


@router.get(
    "",
    response_model=list[EventSummary],
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                report.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
def list_events(
    type_: EventType | None = Query(None, alias="type"),
    status: Literal["open", "closed"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    district: str | None = Query(None, max_length=32, description="行政区, as reported with the event"),
    format_: Literal["json", "csv", "xlsx"] = Query("json", alias="format"),
    principal: Principal = Depends(responders),
):
    """Events, newest first; filter by type, status, reported time and district; ``format=csv|xlsx`` exports them."""
    with read_engine().connect() as conn:
        rows = events.listing(conn, type_, status, since, until, district)
    if format_ == "json":
        return rows
    if format_ == "xlsx":
        return Response(
            report.events_xlsx(rows),
            media_type=report.XLSX_TYPE,
            headers={"Content-Disposition": "attachment; filename=events.xlsx"},
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["id"])
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=events.csv"},
    )


@router.get("/{event_id}", response_model=EventDetail)
def get_event(event_id: int, request: Request, principal: Principal = Depends(responders)) -> dict:
    """An event with its action sheet, tasks and timeline."""
    with read_engine().connect() as conn:
        event = events.get(conn, event_id, principal.sees_personal_data)
    if principal.sees_personal_data:
        audit.record("read_personal", f"event {event_id}", principal, request)
    return _crs84(event)


@router.post("/{event_id}/tasks/{task_id}/feedback", response_model=TaskFeedback)
def task_feedback(
    event_id: int, task_id: int, body: FeedbackIn, request: Request, principal: Principal = Depends(responders)
) -> dict:
    """Record a dispatched task's outcome."""
    with get_engine().begin() as conn:
        answer = events.feedback(conn, event_id, task_id, body.status, body.note, principal.username, principal.role)
    audit.record("event.feedback", f"{event_id}/{task_id}", principal, request)
    return answer


@router.post("/{event_id}/close", response_model=EventClosed)
def close_event(event_id: int, body: CloseIn, request: Request, principal: Principal = Depends(commanders)) -> dict:
    """Close the event with a summary."""
    with get_engine().begin() as conn:
        events.close(conn, event_id, body.summary, principal.username)
    audit.record("event.close", str(event_id), principal, request)
    return {"id": event_id, "status": "closed"}


@router.get(
    "/{event_id}/report",
    response_class=HTMLResponse,
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
)
def event_report(
    event_id: int,
    request: Request,
    format_: Literal["html", "pdf"] = Query("html", alias="format"),
    principal: Principal = Depends(responders),
) -> Response:
    """The action sheet and timeline as a printable HTML page with a map of the zone, or as a PDF."""
    with read_engine().connect() as conn:
        event = events.get(conn, event_id, False)
        page = report.html(conn, event)
    audit.record("event.report", str(event_id), principal, request)
    if format_ == "html":
        return HTMLResponse(page)
    return Response(
        report.pdf(page),
        media_type="application/pdf",
        headers={"Content-Disposition": f"attachment; filename=event-{event_id}.pdf"},
    )
