"""Emergency events end to end: a gas leak's valves (and the second ring past an inoperable valve)
against an independent networkx trace, the sheet's numbers against independent SQL, earthquake
ranking, building safety, the timeline from intake to close, the report and the CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections import deque
from pathlib import Path

import networkx as nx
import pytest
import shapely
from sqlalchemy import text

pytestmark = pytest.mark.usefixtures("sample_city")
ROOT = Path(__file__).resolve().parent.parent


def trace_valves(database, pipe_id: str, inoperable: set[str]) -> tuple[set[str], set[str]]:
    """(valves to close, inoperable valves passed): a breadth-first search from the pipe's two ends over
    the gas network (networkx over pipeline.from_node/to_node) that stops at operable open valves."""
    with database.connect() as conn:
        graph = nx.MultiGraph()
        graph.add_edges_from(
            conn.execute(
                text(
                    "SELECT from_node, to_node FROM pipeline WHERE utility = 'gas' AND from_node IS NOT NULL "
                    "AND to_node IS NOT NULL"
                )
            ).all()
        )
        kind = dict(conn.execute(text("SELECT id, kind FROM pipe_node WHERE utility = 'gas'")).all())
        is_open = dict(conn.execute(text("SELECT id, is_open FROM pipe_node WHERE utility = 'gas'")).all())
        start = conn.execute(text("SELECT from_node, to_node FROM pipeline WHERE id = :p"), {"p": pipe_id}).one()
    found, passed, seen, queue = set(), set(), set(), deque(start)
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        if kind[node] == "valve" and is_open[node]:
            if node not in inoperable:
                found.add(node)
                continue
            passed.add(node)
        elif kind[node] == "valve":
            continue
        queue.extend(graph.neighbors(node))
    return found, passed


@pytest.fixture(scope="module")
def gas_main(database) -> dict:
    """A gas pipe bounded by valves, with no other gas pipe within 5 m of its middle, and that middle."""
    with database.connect() as conn:
        candidates = conn.execute(
            text(
                """SELECT p.id, ST_AsBinary(ST_LineInterpolatePoint(ST_Force2D(p.geom), 0.5)) AS mid FROM pipeline p
                    WHERE p.utility = 'gas' AND p.from_node IS NOT NULL AND p.to_node IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM pipeline q WHERE q.utility = 'gas' AND q.id <> p.id
                          AND ST_DWithin(q.geom, ST_LineInterpolatePoint(ST_Force2D(p.geom), 0.5), 5))
                    ORDER BY p.diameter_mm DESC NULLS LAST, p.id"""
            )
        ).all()
    for pipe_id, mid in candidates:
        valves, _ = trace_valves(database, pipe_id, set())
        if len(valves) >= 2:
            return {
                "id": pipe_id,
                "mid": shapely.from_wkb(bytes(mid)),
            }
    pytest.fail("the sample city has no gas pipe bounded by two valves")


def _point(to_lonlat, geom) -> dict:
    return shapely.geometry.mapping(to_lonlat(geom))


def test_gas_leak_valves_second_ring_and_sheet_numbers(client, role_headers, database, gas_main, to_lonlat, rows):
    headers = role_headers["emergency"]
    body = {
        "type": "gas_leak",
        "location": _point(to_lonlat, gas_main["mid"]),
        "radius_m": 150,
        "severity": "severe",
        "source": "市应急指挥中心",
        "reporter": "值班员",
    }
    answer = client.post("/api/v1/events", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    event = answer.json()["event"]
    valves = event["action_sheet"]["valves"]
    expected, _ = trace_valves(database, gas_main["id"], set())
    assert valves["pipe_id"] == gas_main["id"]
    assert {v["id"] for v in valves["to_close"]} == expected
    assert [v["order"] for v in valves["to_close"]] == list(range(1, len(expected) + 1))
    distances = [v["network_distance_m"] for v in valves["to_close"]]
    assert distances == sorted(distances)
    assert valves["inoperable_skipped"] == [] and valves["second_ring"] is False

    # The sheet's numbers by independent SQL over the same zone (PostGIS's buffer is GEOS's too).
    sheet = event["action_sheet"]
    zone = "ST_Buffer(ST_GeomFromWKB(:wkb, 4549), 150, 'quad_segs=16')"
    where = {"wkb": shapely.to_wkb(_store_point(rows, event))}
    counts = rows(
        f"""SELECT (SELECT count(*) FROM building b WHERE ST_Intersects(b.footprint, {zone})) AS buildings,
                   (SELECT coalesce(sum(h.residents), 0) FROM house_unit h JOIN building b ON b.code = h.building_code
                     WHERE ST_Intersects(b.footprint, {zone})) AS residents,
                   (SELECT count(*) FROM project p WHERE ST_Intersects(p.footprint, {zone})
                       AND p.stage IN ('preparation', 'construction')) AS sites""",
        **where,
    )[0]
    assert len(sheet["buildings"]) == counts["buildings"] > 0
    assert sheet["residents"] == counts["residents"]
    assert len(sheet["construction_sites"]) == counts["sites"]
    tasks = event["tasks"]
    assert sum(t["action"] == "close_valve" for t in tasks) == len(expected)
    assert sum(t["action"] == "warn_building" for t in tasks) == counts["buildings"]
    assert {t["role"] for t in tasks if t["action"] == "close_valve"} == {"engineer"}

    # One of the valves will not close: the trace goes on to the next ring.
    stuck = sorted(expected)[0]
    with database.begin() as conn:
        conn.execute(text("UPDATE pipe_node SET operable = false WHERE id = :v"), {"v": stuck})
    try:
        second = client.post("/api/v1/events", json=body, headers=headers).json()["event"]["action_sheet"]["valves"]
    finally:
        with database.begin() as conn:
            conn.execute(text("UPDATE pipe_node SET operable = true WHERE id = :v"), {"v": stuck})
    ring2, passed = trace_valves(database, gas_main["id"], {stuck})
    assert passed == {stuck}
    assert {v["id"] for v in second["to_close"]} == ring2
    assert stuck not in ring2 and ring2 != expected
    assert second["inoperable_skipped"] == [stuck] and second["second_ring"] is True
    assert stuck in second["note"]


def test_kept_gas_network_is_built_again_after_a_valve_closes(client, role_headers, database, gas_main, to_lonlat):
    """The gas graph is kept between events, and a valve closed after a first event changes the next sheet."""
    from gis.network import pipe_graph

    headers = role_headers["emergency"]
    body = {"type": "gas_leak", "location": _point(to_lonlat, gas_main["mid"]), "radius_m": 50}
    first = client.post("/api/v1/events", json=body, headers=headers).json()["event"]["action_sheet"]["valves"]
    expected, _ = trace_valves(database, gas_main["id"], set())
    assert {v["id"] for v in first["to_close"]} == expected
    kept = pipe_graph("gas")
    assert pipe_graph("gas") is kept  # unchanged network: the same graph, not built again
    shut = sorted(expected)[-1]
    with database.begin() as conn:
        conn.execute(text("UPDATE pipe_node SET is_open = false WHERE id = :v"), {"v": shut})
    try:
        assert pipe_graph("gas") is not kept
        second = client.post("/api/v1/events", json=body, headers=headers).json()["event"]["action_sheet"]["valves"]
        after, _ = trace_valves(database, gas_main["id"], set())
    finally:
        with database.begin() as conn:
            conn.execute(text("UPDATE pipe_node SET is_open = true WHERE id = :v"), {"v": shut})
    assert after == expected - {shut}
    assert {v["id"] for v in second["to_close"]} == after
    assert shut in second["already_closed"]


def _store_point(rows, event) -> shapely.Point:
    return shapely.from_wkb(
        bytes(rows("SELECT ST_AsBinary(location) AS g FROM emergency_event WHERE id = :e", e=event["id"])[0]["g"])
    )


def test_event_timeline_from_intake_to_close_with_report_and_export(client, role_headers, gas_main, to_lonlat, rows):
    body = {"type": "gas_leak", "location": _point(to_lonlat, gas_main["mid"]), "source": "市应急指挥中心"}
    created = client.post("/api/v1/events", json=body, headers=role_headers["emergency"]).json()
    event_id, tasks = created["id"], created["event"]["tasks"]
    valve_task = next(t for t in tasks if t["action"] == "close_valve")
    wrong = client.post(
        f"/api/v1/events/{event_id}/tasks/{valve_task['id']}/feedback",
        json={"status": "done"},
        headers=role_headers["planner"],
    )
    assert wrong.status_code == 403
    done = client.post(
        f"/api/v1/events/{event_id}/tasks/{valve_task['id']}/feedback",
        json={"status": "done", "note": "已关闭"},
        headers=role_headers["engineer"],
    )
    assert done.status_code == 200, done.text
    closed = client.post(
        f"/api/v1/events/{event_id}/close", json={"summary": "泄漏点已修复"}, headers=role_headers["emergency"]
    )
    assert closed.status_code == 200
    assert (
        client.post(
            f"/api/v1/events/{event_id}/close", json={"summary": "again"}, headers=role_headers["emergency"]
        ).status_code
        == 400
    )
    steps = rows("SELECT step, username FROM event_step WHERE event_id = :e ORDER BY at, id", e=event_id)
    assert [s["step"] for s in steps] == ["intake", "overlay", "dispatch", "feedback", "close"]
    assert steps[3]["username"] == "engineer" and steps[4]["username"] == "emergency"
    task = rows("SELECT status, feedback, feedback_by FROM event_task WHERE id = :t", t=valve_task["id"])[0]
    assert task == {"status": "done", "feedback": "已关闭", "feedback_by": "engineer"}
    audited = rows(
        "SELECT action FROM audit_log WHERE object IN (:e, :t) AND action LIKE 'event.%' ORDER BY id",
        e=str(event_id),
        t=f"{event_id}/{valve_task['id']}",
    )
    assert [a["action"] for a in audited] == ["event.intake", "event.feedback", "event.close"]

    page = client.get(f"/api/v1/events/{event_id}/report", headers=role_headers["engineer"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text and "时间线 Timeline" in page.text
    for valve in created["event"]["action_sheet"]["valves"]["to_close"]:
        assert valve["id"] in page.text

    exported = client.get(
        "/api/v1/events", params={"type": "gas_leak", "format": "csv"}, headers=role_headers["engineer"]
    )
    lines = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    expect = rows("SELECT id FROM emergency_event WHERE type = 'gas_leak' ORDER BY reported_at DESC, id DESC")
    assert [int(r["id"]) for r in lines] == [r["id"] for r in expect]
    closed_only = client.get("/api/v1/events", params={"status": "closed"}, headers=role_headers["engineer"]).json()
    assert event_id in {e["id"] for e in closed_only} and all(e["status"] == "closed" for e in closed_only)


def test_earthquake_ranks_buildings_by_vulnerability(client, role_headers, rows, to_lonlat):
    centre = rows(
        "SELECT ST_X(ST_Centroid(ST_Extent(footprint))) AS x, ST_Y(ST_Centroid(ST_Extent(footprint))) AS y "
        "FROM building"
    )[0]
    square = shapely.box(centre["x"] - 400, centre["y"] - 300, centre["x"] + 400, centre["y"] + 300)
    body = {
        "type": "earthquake",
        "location": shapely.geometry.mapping(to_lonlat(square)),
        "intensity": "VIII",
        "severity": "critical",
        "source": "市地震局",
    }
    answer = client.post("/api/v1/events", json=body, headers=role_headers["emergency"])
    assert answer.status_code == 201, answer.text
    ranked = answer.json()["event"]["action_sheet"]["earthquake"]["buildings_ranked"]

    weights = json.loads((ROOT / "live" / "vulnerability.json").read_text())

    def score(structure, year, grade) -> float:
        era = next(e["weight"] for e in weights["eras"] if year is not None and year < e["before"]) if year else 2.0
        return round(
            weights["structure"].get(structure, weights["structure_unknown"])
            + era
            + weights["grade"].get(grade, weights["grade_unknown"]),
            2,
        )

    buildings = rows(
        """SELECT b.code, b.structure, b.year_built, b.safety_grade,
                  (SELECT coalesce(sum(residents), 0) FROM house_unit h WHERE h.building_code = b.code) AS people
             FROM building b WHERE ST_Intersects(b.footprint, ST_GeomFromText(:wkt, 4549))""",
        wkt=square.wkt,
    )
    expected = sorted(
        buildings, key=lambda b: (-score(b["structure"], b["year_built"], b["safety_grade"]), -b["people"], b["code"])
    )
    assert len(expected) > 10
    assert [b["code"] for b in ranked] == [b["code"] for b in expected]
    assert [b["score"] for b in ranked] == [score(b["structure"], b["year_built"], b["safety_grade"]) for b in expected]
    assert answer.json()["event"]["action_sheet"]["earthquake"]["people"] == sum(b["people"] for b in buildings)


def test_building_safety_lists_units_neighbours_and_pipes_beneath(client, role_headers, rows):
    d_grade = rows("SELECT code, height_m FROM building WHERE safety_grade = 'D' ORDER BY height_m DESC, code LIMIT 1")
    assert d_grade, "the sample city has a D-grade building"
    code, height = d_grade[0]["code"], d_grade[0]["height_m"]
    location = rows(
        "SELECT ST_AsGeoJSON(ST_Transform(ST_PointOnSurface(footprint), 4326)) AS g FROM building WHERE code = :c",
        c=code,
    )[0]["g"]
    answer = client.post(
        "/api/v1/events",
        json={"type": "building_safety", "location": json.loads(location), "building_code": code},
        headers=role_headers["emergency"],
    )
    assert answer.status_code == 201, answer.text
    safety = answer.json()["event"]["action_sheet"]["building_safety"]
    assert safety["building"]["code"] == code and safety["collapse_distance_m"] == height
    units = rows("SELECT id, residents FROM house_unit WHERE building_code = :c", c=code)
    assert {u["id"] for u in safety["units"]} == {u["id"] for u in units}
    assert safety["residents"] == sum(u["residents"] for u in units)
    neighbours = rows(
        "SELECT n.code FROM building b, building n WHERE b.code = :c AND n.code <> b.code "
        "AND ST_Distance(n.footprint, b.footprint) <= :h",
        c=code,
        h=height,
    )
    assert {n["code"] for n in safety["neighbours"]} == {n["code"] for n in neighbours}
    pipes = rows(
        "SELECT p.id FROM pipeline p, building b WHERE b.code = :c AND ST_Intersects(ST_Force2D(p.geom), b.footprint)",
        c=code,
    )
    assert {p["id"] for p in safety["pipes_beneath"]} == {p["id"] for p in pipes}
    tasks = answer.json()["event"]["tasks"]
    assert [t["target"] for t in tasks if t["action"] == "evacuate_building"] == [code]
    assert (
        client.post(
            "/api/v1/events",
            json={"type": "building_safety", "location": json.loads(location)},
            headers=role_headers["planner"],
        ).status_code
        == 403
    )
