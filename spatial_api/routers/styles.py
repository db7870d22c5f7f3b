"""Each styled layer's 3D Tiles style and legend, built from ``styles/<layer>.json`` and its vocabulary."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from tiles.styles import TilesStyle, tiles_style

router = APIRouter(prefix="/styles", tags=["layers"])


@router.get("/{layer}.json", response_model=TilesStyle, response_model_exclude_none=False)
def style(
    layer: str,
    response: Response,
    hide: str = Query("", description="comma-separated vocabulary codes not to show (a layer with a filter)"),
) -> TilesStyle:
    """The layer's CesiumJS 3D Tiles style (``color`` after the colours of its vocabulary, ``show``
    without the hidden codes) with its legend in ``extras``: ``new Cesium.Cesium3DTileStyle(url)``."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return tiles_style(layer, tuple(code for code in hide.split(",") if code))
