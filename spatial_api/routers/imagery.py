"""Imported imagery (``cim gis import-imagery``) as XYZ PNG tiles for the 3D and 2D maps."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from gis import imagery
from spatial_api.schemas.common import BINARY

router = APIRouter(prefix="/imagery", tags=["imagery"])


class ImageryOut(BaseModel):
    """An imagery layer: its XYZ tile URL template (under /api/v1), CRS84 bounds and native zoom."""

    name: str
    tiles: str
    bounds: tuple[float, float, float, float]
    maxzoom: int
    source_crs: str
    bands: int
    width: int
    height: int


@router.get("", response_model=list[ImageryOut])
def list_imagery() -> list[ImageryOut]:
    """Every imported imagery layer (an empty list when none is)."""
    return [
        ImageryOut(
            name=la["name"],
            tiles=f"/api/v1/imagery/{la['name']}/{{z}}/{{x}}/{{y}}.png",
            bounds=(la["west"], la["south"], la["east"], la["north"]),
            maxzoom=la["maxzoom"],
            source_crs=la["source_crs"],
            bands=la["bands"],
            width=la["width"],
            height=la["height"],
        )
        for la in imagery.layers()
    ]


@router.get("/{name}/{z}/{x}/{y}.png", response_class=Response, responses={200: {"content": {"image/png": BINARY}}})
def tile(name: str, z: int = Path(ge=0, le=imagery.MAX_ZOOM), x: int = Path(ge=0), y: int = Path(ge=0)) -> Response:
    """One 256-pixel Web Mercator tile as PNG (RGBA: transparent outside the image)."""
    data = imagery.tile_png(name, z, x, y)
    return Response(data, media_type="image/png", headers={"Cache-Control": "public, max-age=300"})
