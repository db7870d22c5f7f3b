"""The tile layers of the registry: one streaming query each (WKB plus the class's properties),
the tile sources (``BUILDERS``) whose checks skip bad rows with a counted warning and which make the
solids each row becomes, and the materials of the layer's style.

Columns whose names start with ``_`` feed the geometry; the others are the tile class's properties,
declared with their types in the registry, and must be exactly those.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import shapely
import trimesh

from core import registry
from core.db import get_engine
from core.errors import UserError
from gis import solids
from tiles import styles
from tiles.metadata import Column, PropertyTable, column_for

VERSION_PREFIX = "bim-"  # bim-<version id>: one BIM model version's elements
VERSION_NAME = re.compile(rf"^{VERSION_PREFIX}[1-9][0-9]{{0,8}}$")
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
    """A tile layer: its query, class, tile source and the materials of its style."""

    name: str
    class_name: str
    sql: str
    params: dict[str, Any]
    prepare: Callable[[Batch], Features]
    columns: list[Column]
    materials: list[dict[str, Any]]
    material_index: dict[str, int]  # style value -> material ("other" for the rest)
    style: registry.Style | None

    def features(self, batch: Batch) -> Features:
        """The rows kept for tiling, each with the material its style gives it."""
        features = self.prepare(batch)
        if self.style and self.style.property:
            values = [batch.values[self.style.property][i] for i in features.keep]
            if self.style.first_of_list:
                values = [(v or "").split(",")[0] for v in values]
            features.group = _groups(values, self.material_index)
        return features


def _rgba(hex_colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)


def materials(entry: registry.Layer) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The materials of a layer: one per colour of its legend (``other`` for the rest) and the index
    of each vocabulary code, or its one colour (white when it has no style)."""
    from tiles.glb import material

    if entry.style is None:
        return [material("default", _rgba("#FFFFFF"))], {}
    items = styles.legend(entry)
    if entry.style.color:
        return [material("default", _rgba(items[0].color, items[0].alpha))], {}
    names = [item.value or "other" for item in items]
    mats = [material(name, _rgba(item.color, item.alpha)) for name, item in zip(names, items, strict=True)]
    return mats, {name: i for i, name in enumerate(names)}


def read(layer: Layer) -> Batch:
    """Run a layer's query on a server-side cursor and collect its columns (binary protocol: WKB
    arrives as bytes without hex decoding, about twice as fast as text); the query must give
    exactly the properties the layer's class declares."""
    sql, params = layer.sql, layer.params
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
    given = [n for n in names if not n.startswith("_")]
    if sorted(given) != sorted(c.name for c in layer.columns):
        raise UserError(
            f"the tile query of {layer.name} gives {', '.join(given)}, but the registry declares "
            f"{', '.join(c.name for c in layer.columns)}: make them agree in core/registry/layers.json"
        )
    columns_data = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    values = {name: list(col) for name, col in zip(names, columns_data, strict=True)}
    return Batch(layer.columns, values)


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

    def mesh(idx: np.ndarray) -> solids.Mesh:
        c, ln = _line_coords(lines[idx])
        return solids.pipe_tubes(c, ln, radius[idx])

    return Features(batch, keep, xy, weight, np.zeros(len(keep), np.int64), mesh, warnings)


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

    return Features(batch, keep, xyz[:, :2], np.full(len(keep), 2000.0), np.zeros(len(keep), np.int64), mesh, warnings)


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

    def mesh(idx: np.ndarray) -> solids.Mesh:
        c, ln = _line_coords(axes[idx])
        return solids.tunnel_sweeps(c, ln, left[idx], right[idx], height[keep][idx])

    return Features(batch, keep, xy, weight, np.zeros(len(keep), np.int64), mesh, warnings)


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

    def mesh(idx: np.ndarray) -> solids.Mesh:
        if not len(idx):
            return solids.Mesh.empty()
        return solids.triangle_soup(
            np.concatenate([triangles[i] for i in idx]), np.repeat(np.arange(len(idx)), counts[idx])
        )

    return Features(batch, keep, xy, counts * 70.0 + 200, np.zeros(len(keep), np.int64), mesh, warnings)


# The tile sources a registry layer names as its ``builder``, with the columns each reads beside
# ``_wkb``: footprints (extruded polygons) height_m, ground_h_orthometric; pipes (tubes along 3D
# axes) diameter_mm; nodes (shapes per kind) kind, ground_h_orthometric, depth_m; compartments
# (swept slices of a tunnel) tunnel_width_m, offset_m, width_m, height_m; tins (TIN Z solids) none.
BUILDERS: dict[str, Callable[[Batch], Features]] = {
    "footprints": _prepare_buildings,
    "pipes": _prepare_pipelines,
    "nodes": _prepare_nodes,
    "compartments": _prepare_tunnels,
    "tins": _prepare_bim,
}


def names() -> list[str]:
    """The tile layers of the registry (and ``bim-<version id>`` for one model version)."""
    return [la.name for la in registry.registry().tiled()]


def is_layer_name(name: str) -> bool:
    return name in names() or bool(VERSION_NAME.match(name))


def versioned_layer() -> registry.Layer:
    """The layer whose model versions are tiled apart (``bim-<version id>``): the city's BIM layer."""
    return next(la for la in registry.registry().tiled() if la.tiles and la.tiles.version_sql)


def layer(name: str) -> Layer:
    """The tile layer called ``name`` (``bim-<version id>`` for one model version)."""
    if not is_layer_name(name):
        raise UserError(f"unknown tile layer {name!r}: use {', '.join(names())} or {VERSION_PREFIX}<version id>")
    versioned = name not in names()
    entry = versioned_layer() if versioned else registry.registry().layer(name)
    tiles = entry.tiles
    if tiles is None:  # tiled() and versioned_layer() give only layers with tiles
        raise UserError(f"layer {name} has no tiles")
    sql, params = tiles.sql, {}
    if versioned:
        sql, params = tiles.version_sql or "", {"version": int(name.removeprefix(VERSION_PREFIX))}
    try:
        prepare = BUILDERS[tiles.builder]
    except KeyError:
        raise UserError(f"layer {name}: no tile source {tiles.builder!r}; one of {', '.join(BUILDERS)}") from None
    mats, index = materials(entry)
    columns = [column_for(p.name, p.type) for p in tiles.properties]
    return Layer(name, tiles.class_name, sql, params, prepare, columns, mats, index, entry.style)
