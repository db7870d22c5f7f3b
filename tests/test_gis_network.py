"""build_graph: nodes and edges from pipe_node / pipeline rows written here with raw SQL."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import text

from gis.network import build_graph

NODES = [  # id, utility, kind, is_open, x, y, z
    ("W-A", "water", "reservoir", True, 500000.0, 3520000.0, 10.0),
    ("W-B", "water", "valve", False, 500030.0, 3520040.0, 9.0),
    ("W-C", "water", "hydrant", True, 500030.0, 3520100.0, 8.0),
    ("G-A", "gas", "valve", True, 500100.0, 3520000.0, 9.5),
    ("G-B", "gas", "end", True, 500100.0, 3520050.0, 9.5),
]
PIPES = [  # id, utility, from, to, diameter
    ("WP-1", "water", "W-A", "W-B", 300.0),
    ("WP-2", "water", "W-B", "W-C", 200.0),
    ("WP-3", "water", "W-B", "W-C", 100.0),  # parallel to WP-2
    ("GP-1", "gas", "G-A", "G-B", 160.0),
]


@pytest.fixture(scope="module")
def network(gis_database):
    xyz = {n[0]: n[4:] for n in NODES}
    with gis_database.begin() as conn:
        for node_id, utility, kind, is_open, x, y, z in NODES:
            conn.execute(
                text("INSERT INTO pipe_node (id, utility, kind, is_open, geom) "
                     "VALUES (:id, :u, :k, :o, ST_SetSRID(ST_MakePoint(:x, :y, :z), 4549))"),
                {"id": node_id, "u": utility, "k": kind, "o": is_open, "x": x, "y": y, "z": z},
            )  # fmt: skip
        for pid, utility, a, b, diameter in PIPES:
            (xa, ya, za), (xb, yb, zb) = xyz[a], xyz[b]
            conn.execute(
                text("INSERT INTO pipeline (id, utility, diameter_mm, depth_ref, status, from_node, to_node, geom) "
                     "VALUES (:id, :u, :d, 'top', 'in_service', :a, :b, ST_SetSRID(ST_MakeLine("
                     "ST_MakePoint(:xa, :ya, :za), ST_MakePoint(:xb, :yb, :zb)), 4549))"),
                {"id": pid, "u": utility, "d": diameter, "a": a, "b": b, "xa": xa, "ya": ya, "za": za,
                 "xb": xb, "yb": yb, "zb": zb},
            )  # fmt: skip
    return xyz


def test_whole_network(network):
    graph = build_graph()
    assert set(graph.nodes) == {n[0] for n in NODES}
    assert graph.number_of_edges() == 3  # WP-2 and WP-3 share one edge
    assert graph.nodes["W-B"]["kind"] == "valve" and graph.nodes["W-B"]["is_open"] is False
    assert graph.nodes["W-C"]["xyz"] == network["W-C"]
    edge = graph.edges["W-A", "W-B"]
    assert edge["id"] == "WP-1" and edge["diameter_mm"] == 300.0
    assert edge["length_m"] == pytest.approx(math.dist(network["W-A"], network["W-B"]))
    assert edge["length_2d_m"] == pytest.approx(50.0)
    parallel = graph.edges["W-B", "W-C"]
    assert {parallel["id"], *parallel["parallel"]} == {"WP-2", "WP-3"}


def test_one_utility(network):
    gas = build_graph("gas")
    assert set(gas.nodes) == {"G-A", "G-B"} and [gas.edges[e]["id"] for e in gas.edges] == ["GP-1"]
    assert build_graph("water").number_of_nodes() == 3
