"""Mapbox vector tiles (ST_AsMVT) for every layer the registry serves as MVT."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from sqlalchemy import text

from core import layers
from core.db import read_engine
from core.errors import NotFound, UserError
from core.registry import Layer, registry
from core.settings import get_settings
from spatial_api.security import readable_layer

router = APIRouter(prefix="/mvt", tags=["mvt"])

MVT = "application/vnd.mapbox-vector-tile"
EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22


def tile_sql(collection: Layer) -> str:
    """Features of a collection in tile z/x/y, clipped with a buffer, properties from the registry."""
    geom = layers.geom_sql(collection)
    props = ", ".join(f"t.{p.name}" for p in collection.properties if p.name != collection.id_column)
    srid = get_settings().store_srid
    return f"""
        WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS g),
             box AS (SELECT ST_Transform(ST_Segmentize(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}),
                                                       (ST_XMax(g) - ST_XMin(g)) / 16), {srid}) AS g FROM env),
             q AS (SELECT t.{collection.id_column} AS id{", " + props if props else ""},
                          ST_AsMVTGeom(ST_Transform({geom}, 3857), env.g, {EXTENT}, {BUFFER}, true) AS geom
                     FROM {collection.from_clause}, env, box WHERE {layers.overlaps_sql(collection, "box.g")})
        SELECT ST_AsMVT(q, :layer, {EXTENT}, 'geom') FROM q WHERE q.geom IS NOT NULL"""


@router.get("/{layer}/{z}/{x}/{y}.pbf", response_class=Response, dependencies=[Depends(readable_layer)])
def tile(layer: str, z: int = Path(ge=0, le=MAX_ZOOM), x: int = Path(ge=0), y: int = Path(ge=0)) -> Response:
    """One vector tile (Web Mercator XYZ) of a layer; the layer name inside the tile is the collection id."""
    collection = registry().get(layer)
    if collection is None or not collection.mvt:
        served = ", ".join(la.name for la in registry().mvt())
        raise NotFound(f"no vector tiles of {layer!r}; layers: {served}")
    if x >= 2**z or y >= 2**z:
        raise UserError(f"tile {z}/{x}/{y} does not exist: x and y must be below {2**z} at zoom {z}")
    with read_engine().connect() as conn:
        data = conn.execute(text(tile_sql(collection)), {"z": z, "x": x, "y": y, "layer": layer}).scalar()
    return Response(bytes(data or b""), media_type=MVT, headers={"Cache-Control": "public, max-age=60"})
