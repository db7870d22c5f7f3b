"""Liveness and what is loaded."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from core.db import read_engine
from spatial_api.schemas.health import Health

router = APIRouter(tags=["health"])

COUNTED = (
    "building",
    "pipeline",
    "pipe_node",
    "project",
    "enterprise",
    "person",
    "parcel",
    "road",
    "utility_tunnel",
    "bim_model_version",
)


@router.get("/health", response_model=Health)
def health() -> dict:
    """Database reachable, PostGIS version and row counts of the main layers."""
    with read_engine().connect() as conn:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}
    return {"status": "ok", "postgis": postgis, "counts": counts}
