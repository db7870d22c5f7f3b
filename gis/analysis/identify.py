"""Manage by map (以图管房/以图管建): what is at a point, or a feature by id, with its linked records
and what lies beneath it."""

from __future__ import annotations

import json

from shapely import Point
from sqlalchemy import Connection, text

from gis.analysis import inputs, records
from spatial_api import ogc
from spatial_api.errors import NotFound, UserError

# Layers a click can hit, in the order they are tried, with the tolerance around the point.
PICK_ORDER = (
    ("buildings", 0.0),
    ("bim_elements", 0.0),
    ("pipelines", 2.0),
    ("pipe_nodes", 2.0),
    ("projects", 0.0),
    ("parcels", 0.0),
)
IDENTIFIABLE = ("buildings", "bim_elements", "pipelines", "pipe_nodes", "projects", "parcels", "enterprises", "tunnels")
MAX_BENEATH_M = 200.0

_PICK = {
    layer: text(
        f"""SELECT t.{c.id_column} FROM {c.from_clause}
             WHERE {ogc.overlaps_sql(c, "ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), :srid), :tol)")}
               AND ST_DWithin({ogc.geom_sql(c)},
                              ST_SetSRID(ST_MakePoint(:x, :y), :srid), :tol)
             ORDER BY ST_Distance({ogc.geom_sql(c)},
                                  ST_SetSRID(ST_MakePoint(:x, :y), :srid)), t.{c.id_column} LIMIT 1"""
    )
    for layer, c in ((name, ogc.COLLECTIONS[name]) for name, _ in PICK_ORDER)
}

_BUILDING = text(
    """SELECT code, project_code, safety_grade, last_inspection,
              (SELECT json_build_object('units', count(*), 'residents', COALESCE(sum(residents), 0),
                                        'area_m2', COALESCE(sum(area_m2), 0))
                 FROM house_unit h WHERE h.building_code = b.code) AS house_units
         FROM building b WHERE code = :id"""
)
_PIPES_NEAR = text(
    """SELECT p.id, p.utility, p.material, p.diameter_mm, p.pressure_class, p.depth_m, p.depth_ref, p.owner,
              p.install_year, round(ST_Distance(ST_Force2D(p.geom), g.geom)::numeric, 2)::float AS distance_m
         FROM pipeline p, (SELECT ST_GeomFromEWKB(:geom) AS geom) g
        WHERE ST_DWithin(p.geom, g.geom, :d) ORDER BY distance_m, p.id"""
)
# A compartment is its slice of the tunnel: the strip of its width at its offset from the tunnel's
# left wall (the same centre line as the tunnel_compartments collection, grown by half its width).
_COMPARTMENTS_NEAR = text(
    """SELECT c.id, c.name, c.tunnel_id, c.utilities, u.cover_depth_m AS depth_m, u.height_m, u.owner,
              round(ST_Distance(s.slice, g.geom)::numeric, 2)::float AS distance_m
         FROM tunnel_compartment c JOIN utility_tunnel u ON u.id = c.tunnel_id,
              (SELECT ST_GeomFromEWKB(:geom) AS geom) g,
              LATERAL (SELECT ST_Buffer(ST_OffsetCurve(ST_Force2D(u.axis), u.width_m / 2 - c.offset_m - c.width_m / 2),
                                        c.width_m / 2, 'endcap=flat') AS slice) s
        WHERE ST_DWithin(u.axis, g.geom, :d + u.width_m / 2) AND ST_DWithin(s.slice, g.geom, :d)
        ORDER BY distance_m, c.id"""
)
_GEOM = {
    layer: text(f"SELECT ST_AsEWKB({ogc.geom_sql(c)}) FROM {c.from_clause} WHERE t.{c.id_column} = :id")
    for layer, c in ogc.COLLECTIONS.items()
    if layer in IDENTIFIABLE
}
_BIM_ELEMENT = text(
    """SELECT e.global_id, e.ifc_class, e.predefined_type, e.name, e.storey, e.materials, e.properties,
              e.quantities, v.id AS version_id, v.version_no, m.id AS model_id, m.name AS model_name
         FROM bim_element e JOIN bim_model_version v ON v.id = e.version_id JOIN bim_model m ON m.id = v.model_id
        WHERE e.version_id = :version AND e.global_id = :id"""
)
_PIPE_NODES = text("SELECT id, kind, utility, depth_m, is_open FROM pipe_node WHERE id = ANY(:ids) ORDER BY id")
_ENTERPRISE_PROJECTS = text(
    """SELECT code, name, stage,
              array_remove(ARRAY[CASE WHEN build_unit_uscc = :id THEN 'build_unit' END,
                                 CASE WHEN contractor_uscc = :id THEN 'contractor' END,
                                 CASE WHEN supervisor_uscc = :id THEN 'supervisor' END,
                                 CASE WHEN designer_uscc = :id THEN 'designer' END,
                                 CASE WHEN surveyor_uscc = :id THEN 'surveyor' END], NULL) AS roles
         FROM project WHERE :id IN (build_unit_uscc, contractor_uscc, supervisor_uscc, designer_uscc, surveyor_uscc)
        ORDER BY code"""
)


def pick(conn: Connection, at: Point) -> tuple[str, str]:
    """The layer and id of the feature at a store-CRS point (buildings first), or a 404."""
    for layer, tolerance in PICK_ORDER:
        fid = conn.execute(_PICK[layer], {"x": at.x, "y": at.y, "srid": inputs.srid(), "tol": tolerance}).scalar()
        if fid is not None:
            return layer, fid
    raise NotFound("nothing mapped at this point: click on a building, pipe, site or parcel")


def beneath(conn: Connection, geom_ewkb: bytes, distance_m: float) -> dict:
    """Pipes (by their axis) and tunnel compartments (by their slice of the tunnel) within ``distance_m``
    (horizontal) of a geometry, with their depth."""
    params = {"geom": geom_ewkb, "d": distance_m}
    return {
        "distance_m": distance_m,
        "pipes": [dict(r) for r in conn.execute(_PIPES_NEAR, params).mappings()],
        "tunnel_compartments": [dict(r) for r in conn.execute(_COMPARTMENTS_NEAR, params).mappings()],
    }


def identify(conn: Connection, layer: str, fid: str, personal: bool, distance_m: float = 10.0) -> dict:
    """A feature with its linked records, as one answer for the side panel."""
    if layer not in IDENTIFIABLE:
        raise UserError(f"identify works on {', '.join(IDENTIFIABLE)}, not {layer!r}")
    if not (0 <= distance_m <= MAX_BENEATH_M):
        raise UserError(f"distance_m must be 0..{MAX_BENEATH_M:.0f} m, not {distance_m}")
    collection = ogc.get_collection(layer)
    result: dict = {"layer": layer, "id": fid, "feature": json.loads(ogc.item(conn, collection, fid))}
    props = result["feature"]["properties"]
    if layer in ("buildings", "bim_elements", "projects", "pipelines", "pipe_nodes", "tunnels", "parcels"):
        geom = conn.execute(_GEOM[layer], {"id": fid}).scalar()
        if geom is not None:
            result["beneath"] = beneath(conn, geom, distance_m)
    if layer == "buildings":
        row = conn.execute(_BUILDING, {"id": fid}).mappings().one()
        result["safety"] = {"grade": row["safety_grade"], "last_inspection": row["last_inspection"]}
        result["house_units"] = row["house_units"]
        result["project"] = records.project(conn, row["project_code"], personal) if row["project_code"] else None
    elif layer == "projects":
        result["project"] = records.project(conn, fid, personal)
    elif layer == "bim_elements":
        element = conn.execute(_BIM_ELEMENT, {"version": props["version_id"], "id": fid}).mappings().one()
        result["element"] = dict(element)
        code = props["project_code"]
        result["project"] = records.project(conn, code, personal) if code else None
    elif layer == "pipelines":
        ends = [props["from_node"], props["to_node"]]
        result["nodes"] = [dict(r) for r in conn.execute(_PIPE_NODES, {"ids": [e for e in ends if e]}).mappings()]
    elif layer == "enterprises":
        result["enterprise"] = records.enterprises(conn, [fid]).get(fid)
        result["projects"] = [dict(r) for r in conn.execute(_ENTERPRISE_PROJECTS, {"id": fid}).mappings()]
    return result


def has_people(answer: dict) -> bool:
    """Whether an identify answer names people (for the audit of unmasked reads)."""
    project = answer.get("project")
    return bool(project and project.get("people"))
