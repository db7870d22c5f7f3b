"""Valve isolation on a real network: WNTR's ky4 (1,156 pipes, EPSG:3547 in US survey feet) imported
with `cim gis import` into its own database.

ky4 carries no valves (its pipes have no check valves and WNTR ships valve positions only for Net1,
without a CRS), so the test runs the search twice on the real topology: without valves, where the
honest answer is "the whole connected network is cut", and with valves placed by a stated synthetic
rule (every 6th junction in id order). Expected sets come from networkx components over raw SQL rows.
The store CRS of that database is UTM 16N (EPSG:32616), a metric CRS that covers Kentucky; the
city's CGCS2000 zone at 120°E cannot hold a network in North America.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import networkx as nx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ROOT, create_database, drop_database

ISOLATE = """
import json, sys
from gis.analysis.isolation import isolate
from gis.network import build_graph
print(json.dumps(isolate(build_graph("water"), sys.argv[1])))
"""


@pytest.fixture(scope="module")
def ky4(server_url, shared_datasets):
    pipes = shared_datasets / "water_network" / "ky4_pipes.geojson"
    if not pipes.is_file():
        pytest.skip("ky4_pipes.geojson is absent from ../shared/datasets/water_network")
    name = f"cim_test_ky4_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    env = {**os.environ, "DATABASE_URL": url, "CIM_STORE_SRID": "32616"}
    try:
        subprocess.run(
            [sys.executable, "-c", "from core import migrate; migrate.upgrade()"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=300,
        )
        imported = subprocess.run(
            [
                sys.executable,
                "-m",
                "spatial_api.cli",
                "gis",
                "import",
                str(pipes),
                "--layer",
                "pipelines",
                "--utility",
                "water",
                "--mapping",
                "wntr",
                "--json",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert imported.returncode == 0, imported.stderr
        engine = create_engine(
            url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
        )
        yield env, engine
        engine.dispose()
    finally:
        drop_database(server_url, name)


def _isolate(env: dict, pipe_id: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", ISOLATE, pipe_id], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _expected(engine, burst: str) -> tuple[set[str], set[str]]:
    with engine.connect() as conn:
        pipes = conn.execute(
            text("SELECT id, from_node, to_node FROM pipeline WHERE from_node IS NOT NULL AND to_node IS NOT NULL")
        ).all()
        valves = {r[0] for r in conn.execute(text("SELECT id FROM pipe_node WHERE kind = 'valve' AND is_open"))}
    graph = nx.MultiGraph()
    for pid, a, b in pipes:
        graph.add_edge(a, b, key=pid)
    ends = next((a, b) for pid, a, b in pipes if pid == burst)
    cut = graph.subgraph([n for n in graph if n not in valves])
    section: set[str] = set()
    for end in ends:
        if end not in valves:
            section |= nx.node_connected_component(cut, end)
    isolated = {burst} | {k for u, v, k in graph.edges(keys=True) if u in section or v in section}
    bounding = {n for n in valves if n in ends or any(m in section for m in graph.neighbors(n))}
    return bounding, isolated


def test_ky4_valve_isolation(ky4):
    env, engine = ky4
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM pipeline")).scalar()
        burst = conn.execute(text("SELECT id FROM pipeline WHERE id = 'P-100'")).scalar()
    assert count > 1000 and burst == "P-100"
    no_valves = _isolate(env, burst)
    valves, isolated = _expected(engine, burst)
    assert not valves and set(no_valves["isolated_pipes"]) == isolated and no_valves["warning"]
    with engine.begin() as conn:
        conn.execute(
            text(
                """UPDATE pipe_node SET kind = 'valve' WHERE id IN (
                 SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM pipe_node) s WHERE n % 6 = 0)"""
            )
        )
    answer = _isolate(env, burst)
    valves, isolated = _expected(engine, burst)
    assert valves and set(answer["valves_to_close"]) == valves
    assert set(answer["isolated_pipes"]) == isolated and len(isolated) < count / 4
