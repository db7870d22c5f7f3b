"""Pipelines and pipe nodes: depth to a 3D axis, snapping of pipe ends into nodes, the network report.

Depth, in order of preference:
1. invert elevations (管底高程, start/end or one for the pipe): axis Z = invert + radius, exact; the stored
   cover ``depth_m`` (to the top) = ground - invert - diameter;
2. cover depths (埋深, start/end or one; or a depth to the axis): axis Z = ground - cover - radius at each vertex,
   interpolated along the pipe between start and end;
3. neither: a default cover per utility, counted as a warning.
Ground comes from the DEM (:func:`gis.dem.ground_heights`) at every vertex.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from core import vocab
from core.errors import UserError
from core.models.network import NODE_KINDS, UTILITIES
from core.settings import store_srid
from gis.dem import ground_heights
from gis.importers.report import ImportReport
from gis.importers.rows import Row
from gis.importers.write import upsert

# Default cover to the pipe top (m) when a survey gives no depth (the utilities vocabulary's).
DEFAULT_COVER_M = {e.code: e.cover_depth_m for e in vocab.get("utilities").entries}
MIN_SEGMENT_M = 1e-3
NO_GROUND = "no ground height (outside the DEM or no DEM): ground taken as 0 m"


def _default_cover(utility: str) -> float:
    """The utility's default cover depth (m), from the utilities vocabulary."""
    cover = DEFAULT_COVER_M[utility]
    if cover is None:
        raise UserError(f"utility {utility!r} has no cover_depth_m in the utilities vocabulary: give the depth")
    return cover


def _check_utility(rows: list[Row], report: ImportReport) -> list[Row]:
    kept = []
    for row in rows:
        if row.values["utility"] not in UTILITIES:
            report.reject(row.fid, f"unknown utility code {row.values['utility']!r}")
        else:
            kept.append(row)
    return kept


def _line(row: Row, report: ImportReport) -> np.ndarray | None:
    """The pipe's 2D vertices, or None (rejected with a reason)."""
    geom = row.geom
    if geom.geom_type == "MultiLineString":
        geom = shapely.line_merge(geom)
    if geom.geom_type != "LineString":
        report.reject(row.fid, f"not a single line ({geom.geom_type})")
        return None
    xy = shapely.get_coordinates(geom)
    keep = np.concatenate([[True], np.hypot(*np.diff(xy, axis=0).T) >= MIN_SEGMENT_M])
    if keep.sum() < 2:
        report.reject(row.fid, "zero-length pipe")
        return None
    report.warn("repeated vertex removed", int((~keep).sum()))
    xy = xy[keep]
    return xy


def _along(xy: np.ndarray) -> np.ndarray:
    """Fraction of the length from the first vertex, per vertex."""
    run = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    return run / run[-1]


def _pair(values: dict, one: str, start: str, end: str) -> tuple[float, float] | None:
    a, b, both = values.get(start), values.get(end), values.get(one)
    if a is not None or b is not None:
        first = a if a is not None else (b if both is None else both)
        second = b if b is not None else (first if both is None else both)
        assert first is not None and second is not None, "one of a and b is given"
        return float(first), float(second)
    return (float(both), float(both)) if both is not None else None


def _axis_z(values: dict, xy: np.ndarray, ground: np.ndarray, report: ImportReport) -> tuple[np.ndarray, float | None]:
    """Axis Z per vertex and the cover depth to the top (mean) for one pipe."""
    radius = (values.get("diameter_mm") or 0.0) / 2000.0
    t = _along(xy)
    known_ground = np.where(np.isnan(ground), 0.0, ground)
    report.warn(NO_GROUND, int(np.isnan(ground).any()))
    if (inverts := _pair(values, "invert_m", "start_invert_m", "end_invert_m")) is not None:
        invert = inverts[0] + (inverts[1] - inverts[0]) * t
        cover = ground - invert - 2 * radius
        return invert + radius, (float(np.nanmean(cover)) if not np.isnan(cover).all() else None)
    if (covers := _pair(values, "depth_m", "start_depth_m", "end_depth_m")) is not None:
        cover = covers[0] + (covers[1] - covers[0]) * t
    elif values.get("depth_axis_m") is not None:
        cover = np.full(len(xy), values["depth_axis_m"] - radius)
    else:
        default = _default_cover(values["utility"])
        cover = np.full(len(xy), default)
        report.warn(f"no depth: default cover {default} m for {values['utility']}")
    return known_ground - cover - radius, float(cover.mean())


def _existing_nodes(session: Session, utilities: set[str], bounds: tuple, tolerance: float) -> list[tuple]:
    sql = text(
        "SELECT id, utility, ST_X(geom), ST_Y(geom) FROM pipe_node WHERE utility = ANY(:utilities) "
        f"AND geom && ST_Expand(ST_MakeEnvelope(:x0, :y0, :x1, :y1, {store_srid()}), :tol)"
    )
    x0, y0, x1, y1 = bounds
    params = {"utilities": sorted(utilities), "x0": x0, "y0": y0, "x1": x1, "y1": y1, "tol": tolerance}
    return list(session.execute(sql, params))


def _clusters(points: np.ndarray, tolerance: float) -> list[list[int]]:
    """Groups of points chained within ``tolerance`` of each other."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(points)))
    tree = shapely.STRtree(shapely.points(points))
    left, right = tree.query(shapely.points(points), predicate="dwithin", distance=tolerance)
    graph.add_edges_from(zip(left.tolist(), right.tolist(), strict=True))
    return [sorted(c) for c in nx.connected_components(graph)]


Line = tuple[Row, np.ndarray]  # a row and its axis's x, y vertices


def _usable_lines(rows: list[Row], report: ImportReport, snap_tolerance: float) -> list[Line]:
    """The rows with a known utility and a usable axis (a two-vertex pipe shorter than the snap
    tolerance would collapse onto one node)."""
    lines: list[Line] = []
    for row in _check_utility(rows, report):
        xy = _line(row, report)
        if xy is None:
            continue
        if snap_tolerance > 0 and np.hypot(*(xy[-1] - xy[0])) <= snap_tolerance and len(xy) == 2:
            report.reject(row.fid, "shorter than the snap tolerance")
            continue
        lines.append((row, xy))
    return lines


@dataclass
class _Ends:
    """The pipes' ends (index 2i is pipe i's start, 2i+1 its end), their utilities, and the node
    each one snaps to with that node's x, y."""

    xy: np.ndarray
    utility: np.ndarray
    node_of: np.ndarray
    node_xy: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, lines: list[Line]) -> _Ends:
        xy = np.array([[axis[0], axis[-1]] for _, axis in lines]).reshape(-1, 2)
        utility = np.repeat([row.values["utility"] for row, _ in lines], 2)
        return cls(xy, utility, np.full(len(xy), None, dtype=object))

    def snap(self, k: int | np.ndarray, node_id: str, xy: np.ndarray) -> None:
        self.node_of[k], self.node_xy[node_id] = node_id, xy

    def free(self, utility: str) -> np.ndarray:
        """The indices of the ``utility``'s ends not snapped yet."""
        return np.flatnonzero((self.utility == utility) & (self.node_of == None))  # noqa: E711


def _snap_to_existing(session: Session, lines: list[Line], ends: _Ends, tolerance: float) -> None:
    """Snap ends to the stored nodes of their utility within the tolerance: a declared end node
    (start/end node name) wins; else the nearest node."""
    all_xy = np.vstack([xy for _, xy in lines])
    bounds = (*all_xy.min(axis=0), *all_xy.max(axis=0))
    existing = _existing_nodes(session, set(ends.utility), bounds, tolerance)
    if not existing:
        return
    by_id = {node_id: (utility, np.array([x, y])) for node_id, utility, x, y in existing}
    for i, (row, _) in enumerate(lines):
        for k, name in ((2 * i, row.values.get("from_node_name")), (2 * i + 1, row.values.get("to_node_name"))):
            node = by_id.get(name) if name is not None else None
            if (
                name is not None
                and node
                and node[0] == ends.utility[k]
                and np.hypot(*(node[1] - ends.xy[k])) <= tolerance
            ):
                ends.snap(k, name, node[1])
    tree = shapely.STRtree(shapely.points([(x, y) for _, _, x, y in existing]))
    for utility in set(ends.utility):
        idx = ends.free(utility)
        same = np.array([u == utility for _, u, _, _ in existing])
        found_end, found_node = tree.query_nearest(
            shapely.points(ends.xy[idx]), max_distance=tolerance, all_matches=False
        )
        for e, n in zip(found_end.tolist(), found_node.tolist(), strict=True):
            if same[n]:
                node_id, _, x, y = existing[n]
                ends.snap(idx[e], node_id, np.array([x, y]))


def _make_nodes(lines: list[Line], ends: _Ends, tolerance: float) -> tuple[list[dict], list[int]]:
    """Chain the ends near no node within the tolerance, one new node per group (a junction, or an
    end); returns the new nodes and the ends left dangling."""
    new_nodes: list[dict] = []
    dangling: list[int] = []
    for utility in set(ends.utility):
        free = ends.free(utility)
        if not len(free):
            continue
        for group in _clusters(ends.xy[free], tolerance):
            members = free[group]
            first = int(members[0])
            node_id = f"{lines[first // 2][0].fid}{'.s' if first % 2 == 0 else '.e'}"[-40:]
            ends.snap(members, node_id, ends.xy[members].mean(axis=0))
            new_nodes.append({"id": node_id, "utility": utility, "kind": "junction" if len(members) > 1 else "end"})
            if len(members) == 1:
                dangling.append(first)
    return new_nodes, dangling


def _pipe_rows(
    lines: list[Line], ends: _Ends, report: ImportReport, source_name: str
) -> tuple[list[dict], dict[str, list[float]]]:
    """The pipeline rows, their ends moved onto their nodes and Z from the depth rules at every
    vertex; and the Z of the pipe ends at each node."""
    pipe_xy = []
    for i, (_, xy) in enumerate(lines):
        xy = xy.copy()
        xy[0], xy[-1] = ends.node_xy[ends.node_of[2 * i]], ends.node_xy[ends.node_of[2 * i + 1]]
        pipe_xy.append(xy)
    ground = ground_heights(np.vstack(pipe_xy))
    offsets = np.cumsum([0] + [len(xy) for xy in pipe_xy])
    pipes: list[dict] = []
    end_z: dict[str, list[float]] = {}
    for i, ((row, _), xy) in enumerate(zip(lines, pipe_xy, strict=True)):
        z, cover = _axis_z(row.values, xy, ground[offsets[i] : offsets[i + 1]], report)
        snapped = (ends.node_of[2 * i], ends.node_of[2 * i + 1])
        end_z.setdefault(snapped[0], []).append(z[0])
        end_z.setdefault(snapped[1], []).append(z[-1])
        v = row.values
        declared = (v.get("from_node_name"), v.get("to_node_name"))
        if any(d is not None and d != s for d, s in zip(declared, snapped, strict=True)):
            report.warn("declared end node differs from the snapped node")
        pipes.append(
            {
                "id": row.fid,
                "utility": v["utility"],
                "material": v.get("material"),
                "diameter_mm": v.get("diameter_mm"),
                "pressure_class": v.get("pressure_class"),
                "depth_m": cover,
                "depth_ref": "top",
                "from_node": snapped[0],
                "to_node": snapped[1],
                "owner": v.get("owner"),
                "install_year": v.get("install_year"),
                "survey_source": v.get("survey_source") or source_name,
                "status": v.get("status") or "in_service",
                "geom": LineString(np.column_stack([xy, z])),
            }
        )
    return pipes, end_z


def _place_nodes(new_nodes: list[dict], ends: _Ends, end_z: dict[str, list[float]]) -> None:
    """The new nodes' ground, depth and point: at the mean Z of the pipe ends they join."""
    node_ground = ground_heights(np.array([ends.node_xy[n["id"]] for n in new_nodes]))
    for node, g in zip(new_nodes, node_ground, strict=True):
        z = float(np.mean(end_z[node["id"]]))
        ground_h = None if np.isnan(g) else float(g)
        x, y = ends.node_xy[node["id"]]
        node |= {
            "ground_h_orthometric": ground_h,
            "depth_m": None if ground_h is None else ground_h - z,
            "is_open": True,
            "geom": Point(x, y, z),
        }


def _network_figures(
    lines: list[Line], pipes: list[dict], ends: _Ends, new_nodes: list[dict], dangling: list[int], report: ImportReport
) -> dict:
    """Components, dangling ends and unconnected pipes (each reported), nodes created and reused."""
    graph = nx.Graph()
    graph.add_edges_from((p["from_node"], p["to_node"]) for p in pipes)
    dangling_ends = set(dangling)
    unconnected = [row.fid for i, (row, _) in enumerate(lines) if {2 * i, 2 * i + 1} <= dangling_ends]
    for first in dangling:
        report.issues.append((lines[first // 2][0].fid, f"dangling {'start' if first % 2 == 0 else 'end'}"))
    for pid in unconnected:
        report.issues.append((pid, "pipe connects to no other pipe"))
    created = {m["id"] for m in new_nodes}
    return {
        "components": nx.number_connected_components(graph),
        "dangling_ends": len(dangling),
        "unconnected_pipes": len(unconnected),
        "nodes_created": len(new_nodes),
        "nodes_reused": len({n for n in ends.node_of if n not in created}),
    }


def import_pipelines(
    session: Session,
    rows: list[Row],
    report: ImportReport,
    *,
    snap_tolerance: float,
    source_name: str,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write pipelines, snapping their ends into existing or new nodes; returns the network figures."""
    lines = _usable_lines(rows, report, snap_tolerance)
    if not lines:
        return {"components": 0, "dangling_ends": 0, "unconnected_pipes": 0}
    ends = _Ends.of(lines)
    _snap_to_existing(session, lines, ends, snap_tolerance)
    new_nodes, dangling = _make_nodes(lines, ends, snap_tolerance)
    pipes, end_z = _pipe_rows(lines, ends, report, source_name)
    if new_nodes:
        _place_nodes(new_nodes, ends, end_z)
        upsert(session, "pipe_node", "id", new_nodes, ("geom",))
    upsert(session, "pipeline", "id", pipes, ("geom",), progress)
    report.written += len(pipes)
    return _network_figures(lines, pipes, ends, new_nodes, dangling, report)


def import_nodes(
    session: Session,
    rows: list[Row],
    report: ImportReport,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write pipe nodes at the pipe axis height: ground (attribute, else DEM) minus the axis depth (attribute,
    else the utility's default cover)."""
    rows = _check_utility(rows, report)
    kept: list[tuple[Row, Point]] = []
    for row in rows:
        if row.values["kind"] not in NODE_KINDS:
            report.reject(row.fid, f"unknown node kind {row.values['kind']!r}")
        elif row.geom.geom_type != "Point":
            report.reject(row.fid, f"not a point ({row.geom.geom_type})")
        else:
            kept.append((row, row.geom))
    dem = ground_heights(np.array([[p.x, p.y] for _, p in kept])) if kept else np.array([])
    nodes = []
    for (row, point), g in zip(kept, dem, strict=True):
        v = row.values
        ground = v.get("ground_h_orthometric")
        if ground is None:
            ground = None if np.isnan(g) else float(g)
        if v.get("depth_m") is None:
            report.warn(f"no depth: default cover {_default_cover(v['utility'])} m for {v['utility']}")
        depth: float = v["depth_m"] if v.get("depth_m") is not None else _default_cover(v["utility"])
        report.warn(NO_GROUND, int(ground is None))
        nodes.append(
            {
                "id": row.fid,
                "utility": v["utility"],
                "kind": v["kind"],
                "ground_h_orthometric": ground,
                "depth_m": depth,
                "is_open": v.get("is_open", True),
                "geom": Point(point.x, point.y, (ground or 0.0) - depth),
            }
        )
    upsert(session, "pipe_node", "id", nodes, ("geom",), progress)
    report.written += len(nodes)
    return {}
