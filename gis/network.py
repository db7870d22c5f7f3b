"""The pipe network as a graph: nodes are ``pipe_node`` ids, edges are ``pipeline`` rows."""

from __future__ import annotations

import networkx as nx
from sqlalchemy import text

from core.db import get_engine

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


def build_graph(utility: str | None = None) -> nx.Graph:
    """The network of one utility (all when None) from the database.

    Node attributes: ``kind``, ``utility``, ``is_open``, ``depth_m``, ``ground_h_orthometric``, ``xyz``
    (store CRS, orthometric Z of the pipe axis). Edge attributes: ``id`` (pipeline id), ``utility``,
    ``material``, ``diameter_mm``, ``depth_m``, ``depth_ref``, ``status``, ``length_m`` (3D axis length),
    ``length_2d_m``; pipes that run parallel between the same two nodes share one edge, the others' ids
    in ``parallel``. Pipes without both end nodes are left out (``network_issue`` lists them)."""
    params = {"utility": utility}
    graph = nx.Graph()
    with get_engine().connect() as conn:
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
                continue
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
