"""Readiness (``/api/v1/ready``) and the Prometheus metrics (``/metrics``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ops import metrics, readiness
from spatial_api.schemas.ops import Ready

router = APIRouter(tags=["health"])
metrics_router = APIRouter(tags=["health"])


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready, "description": "not ready, with reasons"}})
async def ready() -> JSONResponse:
    """200 when the database takes writes, the schema is at head and the queue answers; else 503
    naming each failed check (a load balancer takes the process out of rotation)."""
    found = await asyncio.to_thread(readiness.check)
    body = Ready(ready=found.ready, checks=found.checks, reasons=found.reasons).model_dump()
    return JSONResponse(body, status_code=200 if found.ready else 503, headers={"Cache-Control": "no-store"})


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def prometheus() -> Response:
    """Prometheus text exposition: requests by route, the pool, the queue, jobs, replication lag."""
    body = await asyncio.to_thread(generate_latest, metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
