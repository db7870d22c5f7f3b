"""Valve isolation for a pipe burst, and the buildings that lose supply.

From the burst pipe, a breadth-first search over the network graph crosses every node that is not a
valve; each valve reached is a boundary: open ones must be closed, closed ones already isolate. The
pipes reached are the isolated section. Supply model: a building is served by its service
connection, the nearest pipe of the utility within ``MAX_SERVICE_M``; it loses supply when that pipe
is isolated. (Sources such as tanks and reservoirs are not modelled: a section cut off from every
source upstream of a valve is not reported.)
"""

from __future__ import annotations

from collections import deque

import networkx as nx
from sqlalchemy import Connection, text

from core.errors import UserError

MAX_SERVICE_M = 100.0

_LOSING_SUPPLY = text(
    """WITH cut AS (SELECT ST_Collect(ST_Force2D(geom)) AS g FROM pipeline WHERE id = ANY(:ids))
       SELECT b.code, n.id AS pipe_id, round(n.d::numeric, 2)::float AS service_distance_m
         FROM building b, cut
        CROSS JOIN LATERAL (SELECT p.id, ST_Distance(p.geom, b.footprint) AS d FROM pipeline p
                             WHERE p.utility = :utility ORDER BY p.geom <-> b.footprint, p.id LIMIT 1) AS n
        WHERE ST_DWithin(b.footprint, cut.g, :service) AND n.id = ANY(:ids) AND n.d <= :service
        ORDER BY b.code"""
)


def edge_of(graph: nx.Graph, pipe_id: str) -> tuple[str, str]:
    """The two nodes of the pipe's edge (through ``gis.network``'s index of pipes)."""
    edge = graph.graph["pipe_edges"].get(pipe_id)
    if edge is not None:
        return edge
    raise UserError(f"pipe {pipe_id!r} is not in the connected network of its utility: check the pipe id")


def isolate(graph: nx.Graph, pipe_id: str, inoperable: frozenset[str] = frozenset()) -> dict:
    """Valves to close, valves already closed and isolated pipes for a burst on ``pipe_id``.

    An open valve in ``inoperable`` (known not to close) is no boundary: the trace goes past it to the
    next ring of valves (second-level isolation), and the answer lists it as skipped."""
    start = edge_of(graph, pipe_id)
    skipped: set[str] = set()
    to_close: set[str] = set()
    closed: set[str] = set()
    pipes: set[str] = set()
    edges_seen: set[frozenset[str]] = {frozenset(start)}
    pipes.update([graph.edges[start]["id"], *graph.edges[start].get("parallel", ())])
    seen: set[str] = set()
    queue = deque(start)
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        attrs = graph.nodes[node]
        if attrs.get("kind") == "valve":
            if not attrs.get("is_open", True):
                closed.add(node)
                continue
            if node not in inoperable:
                to_close.add(node)
                continue
            skipped.add(node)
        for neighbour in graph.neighbors(node):
            key = frozenset((node, neighbour))
            if key not in edges_seen:
                edges_seen.add(key)
                data = graph.edges[node, neighbour]
                pipes.update([data["id"], *data.get("parallel", ())])
            queue.append(neighbour)
    return {
        "burst_pipe": pipe_id,
        "valves_to_close": sorted(to_close),
        "valves_already_closed": sorted(closed),
        "valves_inoperable_skipped": sorted(skipped),
        "isolated_pipes": sorted(pipes),
        "warning": None if to_close or closed else "no valve bounds this section: the whole connected network is cut",
    }


def losing_supply(conn: Connection, utility: str, isolated_pipes: list[str]) -> list[dict]:
    """Buildings whose service connection (nearest pipe of the utility) is isolated."""
    rows = conn.execute(_LOSING_SUPPLY, {"ids": isolated_pipes, "utility": utility, "service": MAX_SERVICE_M})
    return [dict(r) for r in rows.mappings()]
