"""Sensor feeds over HTTP (gateway batches), sensor kinds, reading windows, alarms and the live stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from core.db import get_engine, read_engine
from core.errors import UserError
from live import alarms, ingest, readings, rules
from live.stream import Hub, event_of, sse
from spatial_api import audit
from spatial_api.schemas.sensors import Alarm, Sensor, SensorKind, SensorReadings
from spatial_api.security import Principal, require_role

router = APIRouter(tags=["sensors"])
gateway = require_role("engineer", "emergency")
operators = require_role("engineer", "emergency")
MAX_BATCH = 10_000
KEEPALIVE_S = 15.0
hub = Hub()


class ReadingIn(BaseModel):
    sensor_id: str = Field(max_length=80)
    time: datetime | float = Field(description="ISO 8601 with a time zone, or epoch seconds")
    value: float


class ReadingBatch(BaseModel):
    readings: list[ReadingIn] = Field(max_length=MAX_BATCH)


class Refusal(BaseModel):
    index: int | None
    sensor_id: str | None
    reason: str


class IngestAnswer(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[Refusal]
    alarms: list[int]


class AlarmStepIn(BaseModel):
    status: str = Field(description="acknowledged, handled or closed")
    note: str | None = Field(None, max_length=2000)


@router.post("/sensors/readings")
def post_readings(body: ReadingBatch, request: Request, principal: Principal = Depends(gateway)) -> IngestAnswer:
    """A gateway's batch: valid readings are stored once (a repeated (sensor, time) is a duplicate),
    the others refused with a reason; the alarm rules run as for MQTT."""
    good: list[ingest.Reading] = []
    refused: list[tuple[int, ingest.Rejection]] = []
    for i, item in enumerate(body.readings):
        try:
            stamp = ingest.parse_time(item.time if isinstance(item.time, float) else item.time.isoformat())
            good.append(ingest.Reading(item.sensor_id, stamp, ingest.parse_value(item.value)))
        except ValueError as exc:
            refused.append((i, ingest.Rejection(item.sensor_id, str(exc))))
    with get_engine().begin() as conn:
        result = ingest.ingest(conn, good, "http", [r for _, r in refused])
    audit.record("sensors.readings", f"{result.accepted} accepted", principal, request)
    return IngestAnswer(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[Refusal(index=None, sensor_id=r.sensor_id, reason=r.reason) for r in result.rejected],
        alarms=[a["id"] for a in result.alarms],
    )


@router.get("/sensors/kinds", response_model=list[SensorKind])
def sensor_kinds() -> list[dict]:
    """The sensor kinds: labels (Chinese, English), unit, measuring range, alarm thresholds and sources."""
    return [
        {
            "kind": k.kind,
            "label": k.label,
            "unit": k.unit,
            "range": [k.low, k.high],
            "min_duration_s": k.min_duration_s,
            "thresholds": [
                {
                    "level": rules.LEVELS[t.level],
                    "value": t.value,
                    "clear": t.clear,
                    "above": t.above,
                    "source": t.source,
                }
                for t in k.thresholds
            ],
            "rate_per_minute": k.rate_per_s * 60 if k.rate_per_s else None,
        }
        for k in rules.kinds().values()
    ]


@router.get("/sensors", response_model=list[Sensor])
def list_sensors() -> list[dict]:
    """Every sensor with its position (CRS84), alarm level and latest reading."""
    with read_engine().connect() as conn:
        return readings.sensors(conn)


@router.get("/sensors/{sensor_id}/readings", response_model=SensorReadings)
def sensor_readings(sensor_id: str, start: datetime = Query(...), end: datetime = Query(...)) -> dict:
    """A sensor's readings over a window (for its chart)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise UserError("start and end need a time zone (e.g. 2026-01-01T00:00:00+08:00)")
    with read_engine().connect() as conn:
        return readings.window(conn, sensor_id, start, end)


@router.get("/alarms", response_model=list[Alarm])
def list_alarms(open_only: bool = Query(True, alias="open")) -> list[dict]:
    """Alarms, newest first (only those not closed unless open=false)."""
    with read_engine().connect() as conn:
        return alarms.listing(conn, open_only)


@router.get("/alarms/{alarm_id}", response_model=Alarm)
def get_alarm(alarm_id: int) -> dict:
    """One alarm: level, the readings that raised it, compartment and neighbours, pipes and valves, its steps."""
    with read_engine().connect() as conn:
        return alarms.get(conn, alarm_id)


@router.post("/alarms/{alarm_id}/steps", response_model=Alarm)
def advance_alarm(
    alarm_id: int, body: AlarmStepIn, request: Request, principal: Principal = Depends(operators)
) -> dict:
    """Acknowledge, mark handled or close an alarm (recorded with who and when, and audited)."""
    with get_engine().begin() as conn:
        alarm = alarms.advance(conn, alarm_id, body.status, principal.username, body.note)
    audit.record(f"alarm.{body.status}", str(alarm_id), principal, request)
    return alarm


def _open_alarms() -> list[dict]:
    with read_engine().connect() as conn:
        return alarms.listing(conn)


async def _events(request: Request) -> AsyncIterator[str]:
    queue = await hub.subscribe()
    try:
        snapshot = await asyncio.to_thread(_open_alarms)
        yield sse("alarms", json.dumps(snapshot, default=str))
        while not await request.is_disconnected():
            try:
                payload = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            yield sse(*event_of(payload))
    finally:
        hub.unsubscribe(queue)


@router.get(
    "/live/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def live_stream(request: Request) -> StreamingResponse:
    """Server-Sent Events: ``alarms`` (the open ones, first), then ``alarm`` and ``readings`` as they happen."""
    return StreamingResponse(
        _events(request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def shutdown() -> None:
    """Stop the hub's LISTEN connection (the app's lifespan calls this)."""
    with contextlib.suppress(Exception):
        await hub.close()
