"""Mapbox vector tiles (ST_AsMVT) for every layer the registry serves as MVT."""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from sqlalchemy import Connection, TextClause, text

from core import city_extents, layers
from core.db import read_engine
from core.divisions import CITY_PARTITIONED
from core.errors import NotFound, UserError
from core.registry import Layer, registry
from core.settings import get_settings
from spatial_api.security import readable_layer
from tiles.tilejson import TileJSON, tilejson

router = APIRouter(prefix="/mvt", tags=["mvt"])

MVT = "application/vnd.mapbox-vector-tile"
EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
# Below this zoom tiles are generalised: lines and rings simplified to a pixel (of a 256-pixel tile),
# polygons smaller than MIN_AREA_PX square pixels left out. From it on, every vertex is kept.
GENERALISE_BELOW = 14
MIN_AREA_PX = 2.0
WEB_MERCATOR_WIDTH_M = 40075016.685578488


def generalisation(z: int) -> tuple[float, float]:
    """(simplification tolerance in Web Mercator metres, smallest polygon area in square metres) at zoom z."""
    if z >= GENERALISE_BELOW:
        return 0.0, 0.0
    pixel = WEB_MERCATOR_WIDTH_M / 2**z / 256
    return pixel, MIN_AREA_PX * pixel * pixel


def _box_sql() -> str:
    """SQL of tile ``:z/:x/:y`` with its buffer in the store CRS (its edges densified before projecting)."""
    envelope = "ST_TileEnvelope(:z, :x, :y)"
    return (
        f"ST_Transform(ST_Segmentize(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}),"
        f" (ST_XMax({envelope}) - ST_XMin({envelope})) / 16), {get_settings().store_srid})"
    )


def tile_sql(collection: Layer) -> str:
    """Features of a collection in tile z/x/y, clipped with a buffer, properties from the registry,
    generalised by ``:tolerance`` and ``:min_area`` (:func:`generalisation`). On a table partitioned by
    city, a template naming the cities (``{table}``, :func:`_statement`)."""
    geom = layers.geom_sql(collection)
    names = [p.name for p in collection.properties if p.name != collection.id_column]
    props = "".join(f", t.{name}" for name in names)
    outer = "".join(f", s.{name}" for name in names)
    in_cities = f" AND {{{collection.base_table}}}" if collection.base_table in CITY_PARTITIONED else ""
    return f"""
        WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS g),
             box AS (SELECT {_box_sql()} AS g),
             s AS (SELECT t.{collection.id_column} AS id{props}, ST_Transform({geom}, 3857) AS g
                     FROM {collection.from_clause}, box WHERE {layers.overlaps_sql(collection, "box.g")}{in_cities}),
             q AS (SELECT s.id{outer},
                          ST_AsMVTGeom(CASE WHEN :tolerance > 0 THEN ST_Simplify(s.g, :tolerance, true) ELSE s.g END,
                                       env.g, {EXTENT}, {BUFFER}, true) AS geom
                     FROM s, env WHERE :min_area = 0 OR ST_Dimension(s.g) < 2 OR ST_Area(s.g) >= :min_area)
        SELECT ST_AsMVT(q, :layer, {EXTENT}, 'geom') FROM q WHERE q.geom IS NOT NULL"""


@lru_cache(maxsize=64)
def _text(sql: str) -> TextClause:
    """A tile statement made once (reading a statement's parameters anew costs each tile time), per
    text: a layer's changes in the registry or settings give another."""
    return text(sql)


def _statement(conn: Connection, collection: Layer, params: dict) -> TextClause:
    """The tile statement of a collection; on a table partitioned by city, naming the cities whose rows can
    lie in the tile (core.city_extents), so its plan (prepared, generic after 5 runs) holds those alone."""
    sql = tile_sql(collection)
    if collection.base_table not in CITY_PARTITIONED:
        return _text(sql)
    cities = city_extents.meeting_box(conn, _box_sql(), params)
    return city_extents.statement(sql, ((collection.base_table, "t.city_code"),), cities)


def tile_data(conn: Connection, collection: Layer, params: dict) -> bytes:
    """The vector tile of a collection (``params``: those of :func:`tile_sql`)."""
    return bytes(conn.execute(_statement(conn, collection, params), params).scalar() or b"")


def _mvt_layer(layer: str) -> Layer:
    collection = registry().get(layer)
    if collection is None or not collection.mvt:
        served = ", ".join(la.name for la in registry().mvt())
        raise NotFound(f"no vector tiles of {layer!r}; layers: {served}")
    return collection


@router.get("/{layer}/tilejson.json", response_model=TileJSON, dependencies=[Depends(readable_layer)])
def layer_tilejson(layer: str, request: Request, response: Response) -> TileJSON:
    """TileJSON 3.0.0 of the layer's vector tiles: URL template, zooms, bounds and centre, and the
    tile's vector layer with its fields (``id`` is the feature id: MapLibre ``promoteId: "id"``)."""
    collection = _mvt_layer(layer)
    response.headers["Cache-Control"] = "public, max-age=60"
    url = str(request.url_for("tile", layer=layer, z="0", x="0", y="0"))
    template = url.replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
    return tilejson(collection, template)


@router.get("/{layer}/{z}/{x}/{y}.pbf", response_class=Response, dependencies=[Depends(readable_layer)])
def tile(layer: str, z: int = Path(ge=0, le=MAX_ZOOM), x: int = Path(ge=0), y: int = Path(ge=0)) -> Response:
    """One vector tile (Web Mercator XYZ) of a layer; the layer name inside the tile is the collection id."""
    collection = _mvt_layer(layer)
    if x >= 2**z or y >= 2**z:
        raise UserError(f"tile {z}/{x}/{y} does not exist: x and y must be below {2**z} at zoom {z}")
    tolerance, min_area = generalisation(z)
    params = {"z": z, "x": x, "y": y, "layer": layer, "tolerance": tolerance, "min_area": min_area}
    with read_engine().connect() as conn:
        data = tile_data(conn, collection, params)
    return Response(data, media_type=MVT, headers={"Cache-Control": "public, max-age=60"})
