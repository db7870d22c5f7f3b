"""The layers: one streaming query each (WKB plus the key fields), the checks that skip bad rows
with a counted warning, and the solids each row becomes.

Columns whose names start with ``_`` feed the geometry; the others become the tile's metadata,
typed after their PostgreSQL types.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import trimesh

from core.db import get_engine
from core.errors import UserError
from core.models.bim import CITY_VERSION_IDS_SQL
from gis import solids
from tiles.metadata import Column, PropertyTable, column_for

STYLES_DIR = Path(__file__).resolve().parent.parent / "styles"
LAYER_NAME = re.compile(r"^(buildings|pipelines|nodes|tunnels|bim|bim-[1-9][0-9]{0,8})$")
DEFAULT_DIAMETER_MM = 100.0
FETCH_ROWS = 20_000


@dataclass
class Batch:
    """A layer's rows as columns; ``columns`` are the metadata properties (``id`` first)."""

    columns: list[Column]
    values: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.values["id"])

    @cached_property
    def table(self) -> PropertyTable:
        return PropertyTable(self.columns, self.values)

    @cached_property
    def wkb(self) -> np.ndarray:
        out = np.empty(len(self), dtype=object)
        out[:] = [bytes(w) if w is not None else b"" for w in self.values["_wkb"]]
        return out


@dataclass
class Features:
    """The rows kept for tiling with what the tiler needs of each."""

    batch: Batch
    keep: np.ndarray  # row numbers kept
    xy: np.ndarray  # (n, 2) store-CRS centre of each kept feature
    weight: np.ndarray  # (n,) estimated glb bytes
    group: np.ndarray  # (n,) material index
    mesh: Callable[[np.ndarray], solids.Mesh]  # solids of kept features idx, feature index = position in idx
    warnings: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class Layer:
    name: str
    class_name: str
    sql: str
    params: dict[str, Any]
    prepare: Callable[[Batch], Features]
    materials: list[dict[str, Any]]


@lru_cache
def legends() -> dict[str, Any]:
    """styles/legends.json: the colours every layer uses (utilities after CJJ 61)."""
    return json.loads((STYLES_DIR / "legends.json").read_text(encoding="utf-8"))


def _rgba(hex_colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)


def _materials(legend: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    from tiles.glb import material

    entries = legends()[legend]["entries"]
    return [material(e["value"], _rgba(e["color"], e.get("alpha", 1.0))) for e in entries], {
        e["value"]: i for i, e in enumerate(entries)
    }


def read(sql: str, params: dict[str, Any]) -> Batch:
    """Run one query on a server-side cursor and collect its columns (binary protocol: WKB
    arrives as bytes without hex decoding, about twice as fast as text)."""
    raw = get_engine().raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None, "a pooled connection has its driver's"
        with conn.cursor(name="cim_tiles_read", binary=True) as cur:
            cur.itersize = FETCH_ROWS
            cur.execute(sql, params)
            rows = cur.fetchall()
            description = cur.description
        conn.rollback()
    finally:
        raw.close()
    names = [d.name for d in description]
    columns_data = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    values = {name: list(col) for name, col in zip(names, columns_data, strict=True)}
    columns = [column_for(d.name, d.type_code) for d in description if not d.name.startswith("_")]
    return Batch(columns, values)


def _geoms(batch: Batch) -> np.ndarray:
    return shapely.from_wkb(np.array(batch.values["_wkb"], dtype=object), on_invalid="ignore")


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], float)


def _groups(values: list[Any], index: dict[str, int]) -> np.ndarray:
    other = index.get("other", 0)
    return np.array([index.get(v, other) for v in values], np.int64)


def _skip(warnings: Counter, mask: np.ndarray, reason: str) -> None:
    if mask.any():
        warnings[reason] += int(mask.sum())


# ---------------------------------------------------------------- buildings


def _prepare_buildings(batch: Batch) -> Features:
    warnings: Counter = Counter()
    geoms = _geoms(batch)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms) | ~shapely.is_valid(geoms)
    bad |= ~np.isin(shapely.get_type_id(geoms), [3]) | (shapely.area(geoms) <= 0)
    _skip(warnings, bad, "invalid or empty footprint")
    height = _floats(batch.values["height_m"])
    no_height = ~bad & ~(height > 0)
    _skip(warnings, no_height, "no height (NULL or not positive)")
    ground = _floats(batch.values["ground_h_orthometric"])
    ok = ~bad & ~no_height
    need = ok & np.isnan(ground)
    if need.any():
        from gis.dem import ground_heights

        centre = shapely.get_coordinates(shapely.point_on_surface(geoms[need]))
        ground[need] = ground_heights(centre)
    no_ground = ok & np.isnan(ground)
    _skip(warnings, no_ground, "no ground height (NULL and outside the DEM)")
    keep = np.nonzero(ok & ~no_ground)[0]
    polygons, bottom, top = geoms[keep], ground[keep], ground[keep] + height[keep]
    centre = shapely.get_coordinates(shapely.centroid(polygons))
    weight = 9.0 * np.array([len(batch.values["_wkb"][i]) for i in keep]) + 120

    def mesh(idx: np.ndarray) -> solids.Mesh:
        return solids.extrude_footprints(polygons[idx], bottom[idx], top[idx])

    return Features(batch, keep, centre, weight, np.zeros(len(keep), np.int64), mesh, warnings)


BUILDINGS_SQL = """
SELECT code AS id, ST_AsBinary(footprint) AS _wkb, address, use, structure, height_m, ground_h_orthometric,
       floors_above, floors_below, year_built, safety_grade, project_code, parcel_code, bim_model_id, last_inspection
FROM building ORDER BY code
"""

# ---------------------------------------------------------------- pipelines


def _line_coords(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coords, line = shapely.get_coordinates(geoms, include_z=True, return_index=True)
    return solids.dedupe_vertices(coords, line)


def _vertex_means(coords: np.ndarray, line: np.ndarray, count: int) -> np.ndarray:
    """(count, 2) mean x, y of each line's vertices (where a line sits in the quadtree)."""
    n = np.maximum(np.bincount(line, minlength=count), 1)
    return np.column_stack([np.bincount(line, coords[:, k], count) / n for k in range(2)])


def _axes(batch: Batch, warnings: Counter, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows' 3D axes, their vertices and line index (``_line_coords``), and which axes can be
    drawn; invalid, empty, 2D and zero-length ones are counted in ``warnings`` as skipped."""
    geoms = _geoms(batch)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms) | (shapely.get_type_id(geoms) != 1)
    bad |= ~shapely.has_z(geoms)
    _skip(warnings, bad, f"invalid, empty or 2D {what}")
    coords, line = _line_coords(np.where(bad, None, geoms))  # type: ignore[call-overload]  # object arrays take None
    short = ~bad & (np.bincount(line, minlength=len(geoms)) < 2)
    _skip(warnings, short, f"zero-length {what}")
    return geoms, coords, line, ~bad & ~short


def _prepare_pipelines(batch: Batch) -> Features:
    warnings: Counter = Counter()
    geoms, coords, line, drawable = _axes(batch, warnings, "axis")
    diameter = _floats(batch.values["diameter_mm"])
    no_diameter = drawable & ~(diameter > 0)
    _skip(warnings, no_diameter, f"no diameter: drawn at {DEFAULT_DIAMETER_MM:g} mm")
    diameter[no_diameter] = DEFAULT_DIAMETER_MM
    keep = np.nonzero(drawable)[0]
    radius = diameter[keep] / 2000
    lines = geoms[keep]
    xy = _vertex_means(coords, line, len(geoms))[keep]
    weight = 11.0 * np.array([len(batch.values["_wkb"][i]) for i in keep]) + 700
    group = _groups([batch.values["utility"][i] for i in keep], PIPE_INDEX)

    def mesh(idx: np.ndarray) -> solids.Mesh:
        c, ln = _line_coords(lines[idx])
        return solids.pipe_tubes(c, ln, radius[idx])

    return Features(batch, keep, xy, weight, group, mesh, warnings)


PIPELINES_SQL = """
SELECT id, ST_AsBinary(geom) AS _wkb, utility, material, diameter_mm, pressure_class, depth_m, depth_ref,
       from_node, to_node, owner, install_year, survey_source, status
FROM pipeline ORDER BY id
"""

# ---------------------------------------------------------------- pipe nodes

# Shapes of the node kinds: template, size (x, y, z) and whether it rises to the ground.
NODE_SHAPES: dict[str, tuple[str, tuple[float, float, float], bool]] = {
    "manhole": ("cylinder", (0.7, 0.7, 1.0), True),
    "hydrant": ("cylinder", (0.15, 0.15, 1.0), True),
    "valve": ("box", (0.6, 0.6, 0.6), False),
}
HYDRANT_ABOVE_GROUND_M = 0.8


def _template(name: str) -> trimesh.Trimesh:
    if name == "cylinder":  # unit radius, z from 0 to 1
        shape = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=10)
        shape.apply_translation([0, 0, 0.5])
        return shape
    if name == "box":
        return trimesh.creation.box(extents=[1.0, 1.0, 1.0])
    return trimesh.creation.icosahedron()


def _prepare_nodes(batch: Batch) -> Features:
    warnings: Counter = Counter()
    geoms = _geoms(batch)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms) | (shapely.get_type_id(geoms) != 0)
    bad |= ~shapely.has_z(geoms)
    _skip(warnings, bad, "invalid, empty or 2D position")
    keep = np.nonzero(~bad)[0]
    xyz = shapely.get_coordinates(geoms[keep], include_z=True)
    ground = _floats(batch.values["ground_h_orthometric"])[keep]
    depth = _floats(batch.values["depth_m"])[keep]
    ground = np.where(np.isnan(ground), xyz[:, 2] + np.nan_to_num(depth, nan=1.0), ground)
    kinds = np.array([batch.values["kind"][i] for i in keep], dtype=object)
    group = _groups([batch.values["utility"][i] for i in keep], PIPE_INDEX)

    def mesh(idx: np.ndarray) -> solids.Mesh:
        parts = []
        for kind in np.unique(kinds[idx]):
            sel = np.nonzero(kinds[idx] == kind)[0]
            shape, size, rises = NODE_SHAPES.get(kind, ("icosahedron", (0.4, 0.4, 0.4), False))
            centre = xyz[idx[sel]].copy()
            scale = np.tile(np.array(size, float), (len(sel), 1))
            if rises:
                top = ground[idx[sel]] + (HYDRANT_ABOVE_GROUND_M if kind == "hydrant" else 0.0)
                scale[:, 2] = np.maximum(top - centre[:, 2], 0.3)
            parts.append(solids.place(_template(shape), centre, scale, sel))
        return solids.orient_outward(solids.concat(parts))

    return Features(batch, keep, xyz[:, :2], np.full(len(keep), 2000.0), group, mesh, warnings)


NODES_SQL = """
SELECT id, ST_AsBinary(geom) AS _wkb, utility, kind, ground_h_orthometric, depth_m, is_open FROM pipe_node ORDER BY id
"""

# ---------------------------------------------------------------- utility tunnels


def _prepare_tunnels(batch: Batch) -> Features:
    warnings: Counter = Counter()
    geoms, _, _, drawable = _axes(batch, warnings, "tunnel axis")
    width = _floats(batch.values["tunnel_width_m"])
    offset, part = _floats(batch.values["offset_m"]), _floats(batch.values["width_m"])
    height = _floats(batch.values["height_m"])
    no_section = drawable & ~((width > 0) & (part > 0) & (height > 0) & (offset >= 0))
    _skip(warnings, no_section, "no cross-section (width, height or compartment offset missing)")
    keep = np.nonzero(drawable & ~no_section)[0]
    axes = geoms[keep]
    left = width[keep] / 2 - offset[keep]
    right = left - part[keep]
    xy = shapely.get_coordinates(shapely.centroid(axes))
    weight = 14.0 * np.array([len(batch.values["_wkb"][i]) for i in keep]) + 400
    first_utility = [(batch.values["utilities"][i] or "").split(",")[0] for i in keep]
    group = _groups(first_utility, PIPE_INDEX)

    def mesh(idx: np.ndarray) -> solids.Mesh:
        c, ln = _line_coords(axes[idx])
        return solids.tunnel_sweeps(c, ln, left[idx], right[idx], height[keep][idx])

    return Features(batch, keep, xy, weight, group, mesh, warnings)


TUNNELS_SQL = """
SELECT c.id, ST_AsBinary(t.axis) AS _wkb, c.tunnel_id, c.name, array_to_string(c.utilities, ',') AS utilities,
       c.offset_m, c.width_m, t.name AS tunnel_name, t.segment, t.width_m AS tunnel_width_m, t.height_m,
       t.cover_depth_m, t.owner
FROM tunnel_compartment c JOIN utility_tunnel t ON t.id = c.tunnel_id ORDER BY c.id
"""

# ---------------------------------------------------------------- BIM elements

TIN_Z, TRIANGLE_Z = 1016, 1017
TRIANGLE_RECORD = np.dtype(
    [("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xyz", "<f8", (4, 3))]
)


def tin_triangles(wkb: bytes) -> np.ndarray:
    """The triangles (t, 3, 3) of a little-endian ISO WKB TIN Z; ValueError when it is not one."""
    if len(wkb) < 9 or wkb[0] != 1 or int.from_bytes(wkb[1:5], "little") != TIN_Z:
        raise ValueError("not a little-endian TIN Z")
    count = int.from_bytes(wkb[5:9], "little")
    records = np.frombuffer(wkb, TRIANGLE_RECORD, count=count, offset=9)
    if not ((records["type"] == TRIANGLE_Z).all() and (records["rings"] == 1).all() and (records["points"] == 4).all()):
        raise ValueError("TIN with a patch that is not a closed triangle")
    return records["xyz"][:, :3, :].copy()


def _prepare_bim(batch: Batch) -> Features:
    warnings: Counter = Counter()
    triangles: list[np.ndarray] = []
    keep_rows = []
    for i, wkb in enumerate(batch.values["_wkb"]):
        try:
            tris = tin_triangles(bytes(wkb)) if wkb is not None else None
        except ValueError:
            tris = None
        if tris is None or not len(tris) or not np.isfinite(tris).all():
            warnings["invalid or empty TIN"] += 1
            continue
        keep_rows.append(i)
        triangles.append(tris)
    keep = np.array(keep_rows, np.int64)
    counts = np.array([len(t) for t in triangles], np.int64)
    xy = np.array([t.reshape(-1, 3)[:, :2].mean(axis=0) for t in triangles]).reshape(-1, 2)
    classes = [batch.values["ifc_class"][i] for i in keep]
    group = _groups(classes, BIM_INDEX)

    def mesh(idx: np.ndarray) -> solids.Mesh:
        if not len(idx):
            return solids.Mesh.empty()
        return solids.triangle_soup(
            np.concatenate([triangles[i] for i in idx]), np.repeat(np.arange(len(idx)), counts[idx])
        )

    return Features(batch, keep, xy, counts * 70.0 + 200, group, mesh, warnings)


BIM_COLUMNS = """e.global_id AS id, ST_AsBinary(e.geom) AS _wkb, e.ifc_class, e.predefined_type, e.name, e.storey,
       array_to_string(e.materials, ';') AS materials, e.version_id, m.project_code, m.name AS model_name
FROM bim_element e JOIN bim_model_version v ON v.id = e.version_id JOIN bim_model m ON m.id = v.model_id"""
# The city layer: the newest published version of each model; a GlobalId names one element in the
# world, so where two published models carry it (the same file under two names) the newer one wins.
BIM_CITY_SQL = f"""SELECT DISTINCT ON (e.global_id) {BIM_COLUMNS}
WHERE v.id IN {CITY_VERSION_IDS_SQL}
ORDER BY e.global_id, v.id DESC"""
BIM_VERSION_SQL = f"SELECT {BIM_COLUMNS} WHERE v.id = %(version)s ORDER BY e.global_id"

PIPE_MATERIALS, PIPE_INDEX = _materials("utilities")
BIM_MATERIALS, BIM_INDEX = _materials("bim")
BUILDING_MATERIALS, _ = _materials("buildings_base")


def layer(name: str) -> Layer:
    """The layer called ``name`` (``bim-<version id>`` for one model version)."""
    if not LAYER_NAME.match(name):
        raise UserError(
            f"unknown tile layer {name!r}: use buildings, pipelines, nodes, tunnels, bim or bim-<version id>"
        )
    if name == "buildings":
        return Layer(name, "building", BUILDINGS_SQL, {}, _prepare_buildings, BUILDING_MATERIALS)
    if name == "pipelines":
        return Layer(name, "pipeline", PIPELINES_SQL, {}, _prepare_pipelines, PIPE_MATERIALS)
    if name == "nodes":
        return Layer(name, "pipe_node", NODES_SQL, {}, _prepare_nodes, PIPE_MATERIALS)
    if name == "tunnels":
        return Layer(name, "tunnel_compartment", TUNNELS_SQL, {}, _prepare_tunnels, PIPE_MATERIALS)
    if name == "bim":
        return Layer(name, "bim_element", BIM_CITY_SQL, {}, _prepare_bim, BIM_MATERIALS)
    version = int(name.removeprefix("bim-"))
    return Layer(name, "bim_element", BIM_VERSION_SQL, {"version": version}, _prepare_bim, BIM_MATERIALS)
