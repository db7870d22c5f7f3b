"""Manage by map (以图管房/以图管建): what is at a point, or a feature by id, with its linked records
and what lies beneath it."""

from __future__ import annotations

import re
from functools import lru_cache

from shapely import Point
from sqlalchemy import Connection, TextClause, text

from core import divisions, layers
from core.errors import NotFound, UserError
from core.registry import registry
from gis.analysis import inputs, records

# Layers a click can hit, in the order they are tried (the registry's pick order), and the layers
# identify answers for.
PICK_ORDER = tuple(layer.name for layer in registry().pick_order())
IDENTIFIABLE = tuple(layer.name for layer in registry().identifiable())
MAX_BENEATH_M = 200.0
# Open alarms this close to a construction site or a D-grade building show in its answer.
ALARMS_NEAR_M = 50.0

# Layers whose table is partitioned by city (migration 0022): a statement names the city (``:city``, written
# in as a literal by :func:`_in`), so its plan holds only that city's partitions, not every city's.
IN_CITIES = frozenset(c.name for c in registry().layers if c.base_table in divisions.CITY_PARTITIONED)


@lru_cache(maxsize=256)
def _in(statement: TextClause, city: str) -> TextClause:
    """The statement with ``:city`` written in as the literal city: one statement per city, each pruned
    when it is planned, so the plan that psycopg's prepared statement keeps (PostgreSQL's generic plan,
    chosen after 5 runs) is that city's alone and is not planned again. With the city as a parameter
    instead, the generic plan holds every partition and costs more than planning anew, so each run
    would be planned again (~1 ms)."""
    if not re.fullmatch(r"[0-9]{4}|", city):
        raise ValueError(f"city {city!r} is not a 4-digit city code")
    return text(re.sub(r":city\b", f"'{city}'", statement.text))


def _in_city(layer: str, by_city: bool) -> str:
    return " AND t.city_code = :city" if by_city and layer in IN_CITIES else ""


def _pick_sql(by_city: bool) -> TextClause:
    """One statement: the first layer (in PICK_ORDER) with a feature within its tolerance (``by_city``: in
    the city ``:city`` where the layer is partitioned by city); the branches after a hit are never run."""
    return text(
        " UNION ALL ".join(
            f"""(SELECT '{c.name}' AS layer, t.{c.id_column}::text AS id FROM {c.from_clause}
              WHERE {layers.overlaps_sql(c, f"ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), :srid), {tol})")}
                AND ST_DWithin({layers.geom_sql(c)}, ST_SetSRID(ST_MakePoint(:x, :y), :srid), {tol})
                {_in_city(c.name, by_city)}
              ORDER BY ST_Distance({layers.geom_sql(c)}, ST_SetSRID(ST_MakePoint(:x, :y), :srid)), t.{c.id_column}
              LIMIT 1)"""
            for c in registry().pick_order()
            for tol in (c.pick.tolerance_m,)  # type: ignore[union-attr]
        )
        + " LIMIT 1"
    )


_PICK = _pick_sql(by_city=False)
_PICK_IN_CITY = _pick_sql(by_city=True)
# The city a point lies in ('' outside every city, as rows with no city).
_CITY_AT = text(
    """SELECT coalesce((SELECT left(d.code, 4) FROM division d WHERE d.level = 2
         AND ST_Intersects(d.geom, ST_SetSRID(ST_MakePoint(:x, :y), :srid)) ORDER BY d.code LIMIT 1), '')"""
)


def _beneath_sql(geom: str) -> str:
    """SQL (JSON) of the pipes (by their axis) and tunnel compartments (by their slice of the tunnel:
    the strip of its width at its offset from the tunnel's left wall) within ``:d`` of ``geom``."""
    return f"""json_build_object('distance_m', :d,
      'pipes', COALESCE((SELECT json_agg(n ORDER BY n.distance_m, n.id) FROM (
          SELECT p.id, p.utility, p.material, p.diameter_mm, p.pressure_class, p.depth_m, p.depth_ref, p.owner,
                 p.install_year, round(ST_Distance(ST_Force2D(p.geom), {geom})::numeric, 2)::float AS distance_m
            FROM pipeline p WHERE ST_DWithin(p.geom, {geom}, :d)) AS n), '[]'::json),
      'tunnel_compartments', COALESCE((SELECT json_agg(n ORDER BY n.distance_m, n.id) FROM (
          SELECT c.id, c.name, c.tunnel_id, c.utilities, u.cover_depth_m AS depth_m, u.height_m, u.owner,
                 round(ST_Distance(s.slice, {geom})::numeric, 2)::float AS distance_m
            FROM tunnel_compartment c JOIN utility_tunnel u ON u.id = c.tunnel_id,
                 LATERAL (SELECT ST_Buffer(ST_OffsetCurve(ST_Force2D(u.axis),
                                           u.width_m / 2 - c.offset_m - c.width_m / 2),
                                           c.width_m / 2, 'endcap=flat') AS slice) AS s
           WHERE ST_DWithin(u.axis, {geom}, :d + u.width_m / 2) AND ST_DWithin(s.slice, {geom}, :d)) AS n),
        '[]'::json))"""


def _alarms_near_sql(geom: str, when: str = "true") -> str:
    """SQL (JSON) of the alarms not closed within ALARMS_NEAR_M of ``geom`` (only ``when``), nearest first."""
    return f"""COALESCE((SELECT json_agg(n ORDER BY n.distance_m, n.id) FROM (
          SELECT a.id, a.sensor_id, a.kind, a.level, a.status, a.raised_at, a.peak_value, a.compartment_id,
                 round(ST_Distance(ST_Force2D(a.location), {geom})::numeric, 2)::float AS distance_m
            FROM alarm a WHERE {when} AND a.status <> 'closed'
             AND ST_DWithin(ST_Force2D(a.location), {geom}, {ALARMS_NEAR_M})) AS n), '[]'::json)"""


# Layers whose answer holds a project's record (with its people), and the project's code in the feature's row ``t``.
_PROJECT_OF = {"buildings": "t.project_code", "projects": "t.code", "bim_elements": "t.project_code"}
_PARTY_COLUMNS = ", ".join(f"p.{role}_uscc" for role in records.PARTY_ROLES)
_ROLES_OF_T = ", ".join(f"CASE WHEN p.{role}_uscc = t.uscc THEN '{role}' END" for role in records.PARTY_ROLES)
# What each layer's answer holds beside the feature, as SQL over the feature's row ``t``.
_LINKED: dict[str, dict[str, str]] = {
    "buildings": {
        "safety": "json_build_object('grade', t.safety_grade, 'last_inspection', t.last_inspection)",
        "house_units": """(SELECT json_build_object('units', count(*), 'residents', COALESCE(sum(h.residents), 0),
                                  'area_m2', COALESCE(sum(h.area_m2), 0))
                             FROM house_unit h WHERE h.city_code = :city AND h.building_code = t.code)""",
        "project": records.project_sql(_PROJECT_OF["buildings"]),
        "alarms": _alarms_near_sql("t.footprint", "t.safety_grade = 'D'"),
    },
    "projects": {"project": records.project_sql(_PROJECT_OF["projects"]), "alarms": _alarms_near_sql("t.footprint")},
    "sensors": {
        "latest_reading": """(SELECT json_build_object('time', r.time, 'value', r.value) FROM sensor_reading r
                               WHERE r.sensor_id = t.id ORDER BY r.time DESC LIMIT 1)""",
        "alarms": """COALESCE((SELECT json_agg(json_build_object('id', a.id, 'level', a.level, 'status', a.status,
                            'raised_at', a.raised_at, 'peak_value', a.peak_value) ORDER BY a.id DESC)
                       FROM alarm a WHERE a.sensor_id = t.id AND a.status <> 'closed'), '[]'::json)""",
    },
    "alarms": {
        "steps": """COALESCE((SELECT json_agg(json_build_object('status', s.status, 'at', s.at, 'note', s.note)
                            ORDER BY s.at, s.id) FROM alarm_step s WHERE s.alarm_id = t.id), '[]'::json)""",
    },
    "bim_elements": {
        "element": """(SELECT json_build_object('global_id', e.global_id, 'ifc_class', e.ifc_class,
                              'predefined_type', e.predefined_type, 'name', e.name, 'storey', e.storey,
                              'materials', e.materials, 'properties', e.properties, 'quantities', e.quantities,
                              'version_id', v.id, 'version_no', v.version_no, 'model_id', m.id, 'model_name', m.name)
                         FROM bim_element e JOIN bim_model_version v ON v.id = e.version_id
                         JOIN bim_model m ON m.id = v.model_id
                        WHERE e.version_id = t.version_id AND e.global_id = t.global_id)""",
        "project": records.project_sql(_PROJECT_OF["bim_elements"]),
    },
    "pipelines": {
        "nodes": """COALESCE((SELECT json_agg(n ORDER BY n.id) FROM (
                        SELECT id, kind, utility, depth_m, is_open FROM pipe_node
                         WHERE id IN (t.from_node, t.to_node)) AS n), '[]'::json)""",
    },
    "enterprises": {
        "enterprise": records.enterprise_sql("t.uscc"),
        "projects": f"""COALESCE((SELECT json_agg(json_build_object('code', p.code, 'name', p.name, 'stage', p.stage,
                           'roles', array_remove(ARRAY[{_ROLES_OF_T}], NULL)) ORDER BY p.code)
                          FROM project p WHERE t.uscc IN ({_PARTY_COLUMNS})), '[]'::json)""",
    },
}
# Layers whose answer lists what lies beneath (pipes and tunnel compartments near the feature): all
# but enterprises, whose point is a registered address.
_WITH_BENEATH = frozenset(IDENTIFIABLE) - {"enterprises"}


def _answer_sql(layer: str) -> str:
    c = registry().layer(layer)
    parts = {"feature": layers.feature_sql(c), **_LINKED.get(layer, {})}
    if layer in _WITH_BENEATH:
        parts["beneath"] = _beneath_sql(layers.geom_sql(c))
    fields = ", ".join(f"'{name}', {sql}" for name, sql in parts.items())
    return f"SELECT json_build_object({fields}) FROM {c.from_clause} WHERE t.{c.id_column} = :id{_in_city(layer, True)}"


_ANSWER = {layer: text(_answer_sql(layer)) for layer in IDENTIFIABLE}
_CITY_OF = {
    c.name: text(f"SELECT t.city_code FROM {c.from_clause} WHERE t.{c.id_column} = :id")
    for c in registry().layers
    if c.name in IN_CITIES
}


@lru_cache(maxsize=32)
def _answer_writing(layer: str, write: str) -> TextClause:
    """The answer's statement that also runs ``write`` (with ``{when}`` filled in) when the answer names people."""
    when = _names_people_sql(layer)
    if when is None:
        return _ANSWER[layer]
    return text(f"WITH written AS ({write.format(when=when)}) {_answer_sql(layer)}")


def pick(conn: Connection, at: Point) -> tuple[str, str]:
    """The layer and id of the feature at a store-CRS point (buildings first), or a 404: looked for in the
    point's city first, then (a feature of the next city within its tolerance of a border) everywhere."""
    params = {"x": at.x, "y": at.y, "srid": inputs.srid()}
    city = conn.execute(_CITY_AT, params).scalar_one()
    row = conn.execute(_in(_PICK_IN_CITY, city), params).first() or conn.execute(_PICK, params).first()
    if row is None:
        raise NotFound("nothing mapped at this point: click on a building, pipe, site or parcel")
    return row.layer, row.id


def identify(
    conn: Connection,
    layer: str,
    fid: str,
    personal: bool,
    distance_m: float = 10.0,
    write_if_people: tuple[str, dict] | None = None,
) -> dict:
    """A feature with its linked records, as one answer for the side panel (one SQL statement).

    ``write_if_people``: a data-modifying statement (SQL with ``{when}`` where its condition goes, and its
    parameters) that the same statement runs exactly when the answer names people (:func:`has_people`),
    seen in the answer's snapshot and committed with it, e.g. the read's audit row."""
    if layer not in IDENTIFIABLE:
        raise UserError(f"identify works on {', '.join(IDENTIFIABLE)}, not {layer!r}")
    if not (0 <= distance_m <= MAX_BENEATH_M):
        raise UserError(f"distance_m must be 0..{MAX_BENEATH_M:.0f} m, not {distance_m}")
    collection = registry().layer(layer)
    key = layers.feature_id(collection, fid)
    params = {"id": key, "d": float(distance_m)}
    statement = _ANSWER[layer]
    if write_if_people is not None:
        statement = _answer_writing(layer, write_if_people[0])
        params |= write_if_people[1]
    if layer in IN_CITIES:
        # the feature's city from the key's own index, so the answer plans one city's partitions
        city = conn.execute(_CITY_OF[layer], params).scalar()
        if city is None:
            raise NotFound(f"{layer} has no feature {fid!r}")
        statement = _in(statement, city)
    found = conn.execute(statement, params).scalar()
    if found is None:
        raise NotFound(f"{layer} has no feature {fid!r}")
    if "project" in found:
        records.mask_people(found["project"], personal)
    return {"layer": layer, "id": fid, **found}


def _names_people_sql(layer: str) -> str | None:
    """SQL (boolean, parameter ``:id``) of whether the answer for the feature ``:id`` of ``layer`` names people,
    as :func:`has_people` tells of the answer; None for layers whose answer never does."""
    if layer not in _PROJECT_OF:
        return None
    c = registry().layer(layer)
    return f"""EXISTS (SELECT 1 FROM {c.from_clause} WHERE t.{c.id_column} = :id{_in_city(layer, True)}
                          AND {records.names_people_sql(_PROJECT_OF[layer])})"""


def has_people(answer: dict) -> bool:
    """Whether an identify answer names people (for the audit of unmasked reads)."""
    project = answer.get("project")
    return bool(project and project.get("people"))
