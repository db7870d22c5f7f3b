"""TileJSON 3.0.0 of each layer's Mapbox vector tiles (``/api/v1/mvt/<layer>/{z}/{x}/{y}.pbf``): the
tile URL template, zoom range, the layer's bounds and centre from PostGIS, and its one vector layer
with the fields the tiles carry (from the layer registry), typed as GDAL's MVT driver and tippecanoe
name them, with their zh/en labels beside. Tiles carry each feature's id as the property ``id``:
MapLibre's ``promoteId: "id"`` makes it the feature id (``feature-state``, ``queryRenderedFeatures``).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from core import layers
from core.db import read_engine
from core.registry import Layer
from core.vocab import Label

TILEJSON_VERSION = "3.0.0"
MIN_ZOOM = 0
MAX_ZOOM = 18  # clients overzoom past it; the server answers up to 22
ID_FIELD = "id"  # the property holding the feature id in every tile (MapLibre ``promoteId``)
FIELD_TYPES = {"text": "String", "date": "String", "datetime": "String", "int": "Number", "float": "Number"}
FIELD_TYPES |= {"bool": "Boolean"}
WORLD = (-180.0, -85.0511, 180.0, 85.0511)


class VectorLayer(BaseModel):
    """The one layer inside each tile, named after the collection."""

    id: str
    description: str
    minzoom: int
    maxzoom: int
    fields: dict[str, str] = Field(description="property → String, Number or Boolean")
    field_labels: dict[str, Label] = Field(description="property → its zh/en label (the registry's)")


class TileJSON(BaseModel):
    """A TileJSON 3.0.0 document (MapLibre, QGIS and GDAL read it)."""

    tilejson: str = TILEJSON_VERSION
    name: str
    description: str
    attribution: str = ""
    scheme: str = "xyz"
    tiles: list[str]
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float]
    center: tuple[float, float, int]
    vector_layers: list[VectorLayer]
    promote_id: str = Field(default=ID_FIELD, description="the property to give MapLibre as promoteId")


def fields(layer: Layer) -> dict[str, str]:
    """The properties a tile of ``layer`` carries: ``id`` first, then the registry's others."""
    rest = {p.name: FIELD_TYPES[p.type] for p in layer.properties if p.name != layer.id_column}
    return {ID_FIELD: FIELD_TYPES[layer.property_types[layer.id_column]]} | rest


def field_labels(layer: Layer) -> dict[str, Label]:
    labels = {p.name: p.label for p in layer.properties}
    return {name: labels[layer.id_column if name == ID_FIELD else name] for name in fields(layer)}


def bounds(layer: Layer) -> tuple[float, float, float, float]:
    """The layer's extent in CRS84 (the Web Mercator world when it is empty), as the collections give it."""
    with read_engine().connect() as conn:
        box = layers.extent(conn, layer, max_age_s=0)
    return WORLD if box is None else (box[0], box[1], box[2], box[3])


def center_zoom(box: tuple[float, float, float, float]) -> int:
    """The zoom at which the box fits in about 1,000 pixels."""
    span = max(box[2] - box[0], box[3] - box[1], 1e-6)
    return max(MIN_ZOOM, min(MAX_ZOOM, int(math.log2(360 * 1000 / 256 / span))))


def _inside(value: float, low: float, high: float) -> float:
    """``value`` to 6 decimals (~0.1 m), kept within [low, high] (a one-point layer's box is that point)."""
    return min(max(round(value, 6), low), high)


def tilejson(layer: Layer, tile_url: str) -> TileJSON:
    """The TileJSON of ``layer``'s vector tiles at ``tile_url`` (a ``{z}/{x}/{y}`` template)."""
    box = bounds(layer)
    center = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, center_zoom(box))
    vector_layer = VectorLayer(
        id=layer.name,
        description=layer.description.zh,
        minzoom=MIN_ZOOM,
        maxzoom=MAX_ZOOM,
        fields=fields(layer),
        field_labels=field_labels(layer),
    )
    return TileJSON(
        name=f"{layer.title.zh} {layer.title.en}",
        description=f"{layer.description.zh} / {layer.description.en}",
        tiles=[tile_url],
        minzoom=MIN_ZOOM,
        maxzoom=MAX_ZOOM,
        bounds=box,
        center=(_inside(center[0], box[0], box[2]), _inside(center[1], box[1], box[3]), center[2]),
        vector_layers=[vector_layer],
    )
