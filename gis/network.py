"""The pipe network as a graph: nodes are ``pipe_node`` ids, edges are ``pipeline`` rows; and the
graphs kept in memory between requests, built again only when their tables change."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

import networkx as nx
from sqlalchemy import Connection, text

from core.db import database_url, get_engine

T = TypeVar("T")
MAX_KEPT = 16  # graphs kept per process (one per utility, one per road width asked for, ...)

_NODES = """
SELECT id, utility, kind, is_open, depth_m, ground_h_orthometric, ST_X(geom), ST_Y(geom), ST_Z(geom)
FROM pipe_node {where}
"""
_PIPES = """
SELECT id, from_node, to_node, utility, material, diameter_mm, depth_m, depth_ref, status,
       ST_Length(geom), ST_3DLength(geom)
FROM pipeline WHERE from_node IS NOT NULL AND to_node IS NOT NULL {utility}
ORDER BY id
"""
# The network's version (moved on by every statement that writes its tables, migration 0020) and the
# database's oid (a database made again under the same name starts its versions again).
_VERSION = text(
    "SELECT version, (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "FROM network_version WHERE network = :n"
)
_kept: dict[tuple, tuple[tuple, object]] = {}
_lock = threading.Lock()


def kept(network: str, key: Hashable, build: Callable[[Connection], T]) -> T:
    """``build(conn)``'s answer for ``key``, kept while ``network`` (``pipe``: pipeline and pipe_node;
    ``road``) is unchanged: one small read per call, the build only after a committed change.

    The version is read before the build, so a graph is never kept under a version older than its rows."""
    with get_engine().connect() as conn:
        version = tuple(conn.execute(_VERSION, {"n": network}).one())
        slot = (database_url(), network, key)
        with _lock:
            hit = _kept.get(slot)
        if hit is not None and hit[0] == version:
            return hit[1]  # type: ignore[return-value]
        value = build(conn)
    with _lock:
        _kept.pop(slot, None)
        _kept[slot] = (version, value)
        while len(_kept) > MAX_KEPT:
            _kept.pop(next(iter(_kept)))
    return value


def pipe_graph(utility: str | None = None) -> nx.Graph:
    """:func:`build_graph`, kept until a pipe or node is written. Shared: read it, do not change it."""
    return kept("pipe", utility, lambda conn: build_graph(utility, conn))


def build_graph(utility: str | None = None, conn: Connection | None = None) -> nx.Graph:
    """The network of one utility (all when None) from the database.

    Node attributes: ``kind``, ``utility``, ``is_open``, ``depth_m``, ``ground_h_orthometric``, ``xyz``
    (store CRS, orthometric Z of the pipe axis). Edge attributes: ``id`` (pipeline id), ``utility``,
    ``material``, ``diameter_mm``, ``depth_m``, ``depth_ref``, ``status``, ``length_m`` (3D axis length),
    ``length_2d_m``; pipes that run parallel between the same two nodes share one edge, the others' ids
    in ``parallel``. ``graph.graph["pipe_edges"]`` maps every pipe id to its edge's two nodes. Pipes
    without both end nodes are left out (``network_issue`` lists them)."""
    if conn is None:
        with get_engine().connect() as own:
            return build_graph(utility, own)
    params = {"utility": utility}
    graph = nx.Graph()
    pipe_edges: dict[str, tuple[str, str]] = {}
    graph.graph["pipe_edges"] = pipe_edges
    node_rows = conn.execute(text(_NODES.format(where="WHERE utility = :utility" if utility else "")), params)
    for node_id, util, kind, is_open, depth, ground, x, y, z in node_rows:
        graph.add_node(
            node_id,
            utility=util,
            kind=kind,
            is_open=is_open,
            depth_m=depth,
            ground_h_orthometric=ground,
            xyz=(x, y, z),
        )
    pipe_rows = conn.execute(text(_PIPES.format(utility="AND utility = :utility" if utility else "")), params)
    for pid, a, b, util, material, diameter, depth, depth_ref, status, length_2d, length_3d in pipe_rows:
        if graph.has_edge(a, b):
            graph.edges[a, b]["parallel"].append(pid)
            pipe_edges[pid] = pipe_edges[graph.edges[a, b]["id"]]
            continue
        pipe_edges[pid] = (a, b)
        graph.add_edge(
            a,
            b,
            id=pid,
            utility=util,
            material=material,
            diameter_mm=diameter,
            depth_m=depth,
            depth_ref=depth_ref,
            status=status,
            length_m=length_3d,
            length_2d_m=length_2d,
            parallel=[],
        )
    return graph
