"""Feature id to business value, for 3D Tiles styles."""

from __future__ import annotations

from fastapi import APIRouter, Query

from core.db import read_engine
from gis.analysis.thematic import thematic as thematic_
from spatial_api.schemas.thematic import Thematic

router = APIRouter(prefix="/thematic", tags=["thematic"])


@router.get("/{layer}", response_model=Thematic)
def thematic(
    layer: str,
    theme: str = Query(..., description="one of the layer's themes (GET /api/v1/layers lists them)"),
) -> dict:
    """For each feature of a tiles layer (buildings, projects, bim), its value for the theme, plus a legend."""
    with read_engine().connect() as conn:
        return thematic_(conn, layer, theme)
