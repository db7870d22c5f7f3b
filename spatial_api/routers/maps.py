"""The 2D map: its MapLibre style (from the layer registry and styles/) and the label glyphs."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response

from spatial_api.schemas.common import BINARY
from tiles import glyphs
from tiles.mapstyle import MapStyle, map_style

router = APIRouter(prefix="/maps", tags=["mvt"])

PROTOBUF = "application/x-protobuf"


@router.get("/style.json", response_model=MapStyle)
def style(request: Request, response: Response) -> MapStyle:
    """The city's MapLibre style: every coloured vector-tile layer through its TileJSON (``promoteId``
    ``id``), road and place names from the city's layers, glyphs from this server; the legend of
    every layer drawn in ``metadata["cim:legend"]``."""
    response.headers["Cache-Control"] = "public, max-age=60"
    api_base = str(request.url_for("style")).removesuffix("/maps/style.json")
    return map_style(api_base)


@router.get(
    "/fonts/{fontstack}/{glyph_range}.pbf",
    response_class=Response,
    responses={200: {"content": {PROTOBUF: BINARY}}},
)
def fonts(fontstack: str = Path(max_length=200), glyph_range: str = Path(max_length=20)) -> Response:
    """Signed-distance-field glyphs of 256 code points (``start-end``) for MapLibre labels, made on
    this server from the project's Chinese font whatever the stack is called."""
    start = glyphs.parse_range(glyph_range)
    data = glyphs.glyph_range(start, fontstack)
    return Response(data, media_type=PROTOBUF, headers={"Cache-Control": "public, max-age=86400"})
