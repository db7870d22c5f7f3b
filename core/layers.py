"""The collection registry behind OGC API Features, MVT and the thematic endpoint, and the
fast SQL that turns a page of rows into GeoJSON inside PostGIS (one round trip per page).

Layer and property names come only from this registry; request values are bound parameters.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from core.errors import NotFound, UserError
from core.models.bim import CITY_VERSION_IDS_SQL
from core.settings import get_settings

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Collection:
    """One layer: a table (or a select) with an id, a geometry in the store CRS and typed properties."""

    id: str
    title: str
    source: str  # a table name or a parenthesised select aliased by the registry
    id_column: str
    geometry: str  # a store-CRS geometry column, or ST_Force2D(column) of a 3D one
    properties: dict[str, str] = field(default_factory=dict)  # name -> 'text' | 'int' | 'float' | 'bool' | 'date'
    description: str = ""

    @property
    def from_clause(self) -> str:
        return f"{self.source} AS t"


COMPARTMENTS_SQL = """(SELECT c.id, c.tunnel_id, c.name, array_to_string(c.utilities, ',') AS utilities,
       c.offset_m, c.width_m,
       ST_OffsetCurve(ST_Force2D(u.axis), u.width_m / 2 - c.offset_m - c.width_m / 2) AS geom
  FROM tunnel_compartment c JOIN utility_tunnel u ON u.id = c.tunnel_id)"""

# Each GlobalId's element in the newest published version of its model (the newest version when two
# models share it). A NOT EXISTS rather than DISTINCT ON, so that a bbox, a pick or an id is applied
# inside the select, through the indexes, instead of after it ran over every element.
BIM_ELEMENTS_SQL = f"""(SELECT e.global_id, e.ifc_class, e.name, e.storey, v.id AS version_id,
       m.project_code, e.z_min, e.z_max, e.footprint
  FROM bim_element e JOIN bim_model_version v ON v.id = e.version_id JOIN bim_model m ON m.id = v.model_id
 WHERE e.footprint IS NOT NULL AND v.id IN {CITY_VERSION_IDS_SQL}
   AND NOT EXISTS (SELECT 1 FROM bim_element n WHERE n.global_id = e.global_id AND n.version_id > e.version_id
                      AND n.footprint IS NOT NULL AND n.version_id IN {CITY_VERSION_IDS_SQL}))"""

COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            "buildings",
            "Buildings",
            "building",
            "code",
            "footprint",
            {
                "code": "text",
                "address": "text",
                "use": "text",
                "structure": "text",
                "height_m": "float",
                "floors_above": "int",
                "floors_below": "int",
                "year_built": "int",
                "safety_grade": "text",
                "project_code": "text",
                "parcel_code": "text",
            },
            "Building footprints with use, height and housing-safety grade",
        ),
        Collection(
            "parcels",
            "Land parcels",
            "parcel",
            "code",
            "geom",
            {"code": "text", "land_use": "text", "height_limit_m": "float", "max_plot_ratio": "float"},
            "Land parcel boundaries (用地红线) with planning limits",
        ),
        Collection(
            "roads",
            "Road red lines",
            "road",
            "code",
            "red_line",
            {"code": "text", "name": "text", "road_class": "text", "width_m": "float"},
            "Road corridors (道路红线)",
        ),
        Collection(
            "pipelines",
            "Underground pipelines",
            "pipeline",
            "id",
            "ST_Force2D(geom)",
            {
                "id": "text",
                "utility": "text",
                "material": "text",
                "diameter_mm": "float",
                "pressure_class": "text",
                "depth_m": "float",
                "depth_ref": "text",
                "owner": "text",
                "install_year": "int",
                "status": "text",
                "from_node": "text",
                "to_node": "text",
            },
            "Pipe segments of every utility; filter with ?utility=water|drain|sewer|gas|streetlight...",
        ),
        Collection(
            "pipe_nodes",
            "Pipe nodes",
            "pipe_node",
            "id",
            "ST_Force2D(geom)",
            {"id": "text", "utility": "text", "kind": "text", "depth_m": "float", "is_open": "bool"},
            "Valves, manholes, hydrants, tees and junctions",
        ),
        Collection(
            "tunnels",
            "Utility tunnels",
            "utility_tunnel",
            "id",
            "ST_Force2D(axis)",
            {"id": "text", "name": "text", "segment": "text", "width_m": "float", "cover_depth_m": "float"},
            "Utility tunnel (综合管廊) axes",
        ),
        Collection(
            "tunnel_compartments",
            "Tunnel compartments",
            COMPARTMENTS_SQL,
            "id",
            "geom",
            {"id": "text", "tunnel_id": "text", "name": "text", "utilities": "text", "width_m": "float"},
            "Compartments (舱室) as lines at the middle of their slice of the tunnel",
        ),
        Collection(
            "projects",
            "Construction projects",
            "project",
            "code",
            "footprint",
            {
                "code": "text",
                "name": "text",
                "type": "text",
                "stage": "text",
                "contractor_uscc": "text",
                "build_unit_uscc": "text",
                "hazardous_works": "bool",
                "progress_pct": "float",
            },
            "Project sites",
        ),
        Collection(
            "enterprises",
            "Enterprises",
            "enterprise",
            "uscc",
            "location",
            {
                "uscc": "text",
                "name": "text",
                "type": "text",
                "district": "text",
                "status": "text",
                "credit_grade": "text",
            },
            "Enterprises at their registered address, with credit grade",
        ),
        Collection(
            "sensors",
            "Tunnel sensors",
            "sensor",
            "id",
            "ST_Force2D(position)",
            {"id": "text", "compartment_id": "text", "kind": "text", "unit": "text"},
            "Sensors in the utility tunnel",
        ),
        Collection(
            "bim_elements",
            "BIM elements",
            BIM_ELEMENTS_SQL,
            "global_id",
            "footprint",
            {
                "global_id": "text",
                "ifc_class": "text",
                "name": "text",
                "storey": "text",
                "project_code": "text",
                "version_id": "int",
            },
            "Footprints of the elements of published BIM model versions",
        ),
        Collection(
            "emergency_events",
            "Emergency events",
            "emergency_event",
            "id",
            "location",
            {"id": "int", "type": "text", "source": "text", "severity": "text"},
            "Reported incidents",
        ),
    )
}

RESERVED_PARAMS = frozenset({"bbox", "limit", "offset", "f", "bbox-crs", "crs", "datetime"})


def get_collection(collection_id: str) -> Collection:
    """A registered collection, or a 404 naming the ones that exist."""
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise NotFound(f"unknown collection {collection_id!r}; one of: {', '.join(COLLECTIONS)}") from None


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` (or the 6-number 3D form) in CRS84, checked."""
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise UserError(f"bbox {value!r} is not a list of numbers: give minlon,minlat,maxlon,maxlat") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise UserError("bbox needs 4 numbers (minlon,minlat,maxlon,maxlat) or 6 with heights")
    minx, miny, maxx, maxy = numbers
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise UserError("bbox is outside lon -180..180, lat -90..90: give it in CRS84 degrees")
    if minx > maxx or miny > maxy:
        raise UserError("bbox has min > max: give minlon,minlat,maxlon,maxlat")
    return minx, miny, maxx, maxy


def _cast(name: str, kind: str, raw: str) -> object:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
    except ValueError:
        raise UserError(f"filter {name}={raw!r} is not a valid {kind}") from None
    return raw


def property_filters(collection: Collection, params: dict[str, str]) -> dict[str, object]:
    """Query parameters other than the reserved ones, checked against the collection's properties."""
    filters: dict[str, object] = {}
    for name, raw in params.items():
        if name in RESERVED_PARAMS:
            continue
        kind = collection.properties.get(name)
        if kind is None:
            raise UserError(
                f"unknown parameter {name!r} for {collection.id}; filter on one of: {', '.join(collection.properties)}"
            )
        filters[name] = _cast(name, kind, raw)
    return filters


def feature_sql(collection: Collection) -> str:
    props = ", ".join(f"'{name}', t.{name}" for name in collection.properties)
    return (
        f"json_build_object('type', 'Feature', 'id', t.{collection.id_column}, "
        f"'geometry', ST_AsGeoJSON(ST_Transform({geom_sql(collection)}, 4326), 7)::json, "
        f"'properties', json_build_object({props}))"
    )


_FORCED_2D = re.compile(r"ST_Force2D\((\w+)\)")


def geom_sql(collection: Collection) -> str:
    """SQL of the collection's 2D store-CRS geometry, qualified by the alias ``t`` (so that it means
    the feature's geometry inside subqueries over other tables too)."""
    column = _FORCED_2D.fullmatch(collection.geometry)
    return f"ST_Force2D(t.{column[1]})" if column else f"t.{collection.geometry}"


def overlaps_sql(collection: Collection, box: str) -> str:
    """``&&`` of the stored (GiST-indexed) column against a box, so a test on the 2D expression
    (``ST_Force2D(geom)``), which no index covers, runs only on the rows the index finds."""
    column = _FORCED_2D.fullmatch(collection.geometry)
    return f"t.{column[1] if column else collection.geometry} && {box}"


def bbox_condition(collection: Collection) -> str:
    """Index-assisted test against a CRS84 box densified before it is projected to the store CRS."""
    srid = get_settings().store_srid
    box = f"ST_Transform(ST_Segmentize(ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326), 0.0005), {srid})"
    return f"{overlaps_sql(collection, box)} AND ST_Intersects({geom_sql(collection)}, {box})"


def items_sql(collection: Collection, filtered: list[str], with_bbox: bool) -> str:
    """SQL of a page of features as GeoJSON text, in id order, with parameters ``:p_<property>`` for
    each property in ``filtered``, ``:minx :miny :maxx :maxy`` with a bbox, and ``:lim :off``."""
    where = [f"t.{name} = :p_{name}" for name in filtered]
    if with_bbox:
        where.append(bbox_condition(collection))
    return (
        f"SELECT {feature_sql(collection)}::text FROM {collection.from_clause}"
        f"{' WHERE ' + ' AND '.join(where) if where else ''}"
        f" ORDER BY t.{collection.id_column} LIMIT :lim OFFSET :off"
    )


def items(
    conn: Connection,
    collection: Collection,
    bbox: tuple[float, float, float, float] | None,
    filters: dict[str, object],
    limit: int,
    offset: int,
) -> tuple[list[str], bool]:
    """One page of GeoJSON features (as JSON text) and whether more follow."""
    params: dict[str, object] = {f"p_{name}": value for name, value in filters.items()}
    if bbox is not None:
        params.update(zip(("minx", "miny", "maxx", "maxy"), bbox, strict=True))
    params.update(lim=limit + 1, off=offset)
    rows = [r[0] for r in conn.execute(text(items_sql(collection, list(filters), bbox is not None)), params)]
    return rows[:limit], len(rows) > limit


def feature_id(collection: Collection, fid: str) -> object:
    """A feature id from a URL as the type of the collection's id column (a 400 when it is not)."""
    kind = collection.properties.get(collection.id_column, "text")
    return _cast(collection.id_column, kind, fid) if kind == "int" else fid


def item(conn: Connection, collection: Collection, fid: str) -> str:
    """One feature as GeoJSON text, or a 404."""
    sql = f"SELECT {feature_sql(collection)}::text FROM {collection.from_clause} WHERE t.{collection.id_column} = :fid"
    row = conn.execute(text(sql), {"fid": feature_id(collection, fid)}).first()
    if row is None:
        raise NotFound(f"{collection.id} has no feature {fid!r}")
    return row[0]


_extent_cache: dict[str, tuple[float, list[float] | None]] = {}


def extent(conn: Connection, collection: Collection, max_age_s: float = 60.0) -> list[float] | None:
    """The collection's CRS84 bounding box (cached for a minute), None when empty."""
    cached = _extent_cache.get(collection.id)
    if cached and time.monotonic() - cached[0] < max_age_s:
        return cached[1]
    box_sql = f"ST_SetSRID(ST_Extent({geom_sql(collection)})::geometry, {get_settings().store_srid})"
    sql = (
        "SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM "
        f"(SELECT ST_Transform(ST_Segmentize({box_sql}, 100), 4326) AS g FROM {collection.from_clause}) AS s"
    )
    row = conn.execute(text(sql)).first()
    box = None
    if row and row[0] is not None:  # rounded outwards to 1e-7 degrees
        box = [math.floor(row[0] * 1e7) / 1e7, math.floor(row[1] * 1e7) / 1e7]
        box += [math.ceil(row[2] * 1e7) / 1e7, math.ceil(row[3] * 1e7) / 1e7]
    _extent_cache[collection.id] = (time.monotonic(), box)
    return box
