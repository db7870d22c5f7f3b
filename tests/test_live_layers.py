"""Sensors, alarms and events as layers of the registry (labels in Chinese, collections, MVT, identify),
and open alarms near a construction site or a D-grade building in that site's or building's identify;
checked against raw SQL and shapely."""

from __future__ import annotations

import shapely
from sqlalchemy import text

API = "/api/v1"
LIVE_LAYERS = ("sensors", "alarms", "emergency_events")


def test_live_layers_are_in_the_registry_with_chinese_labels(client):
    layers = {layer["name"]: layer for layer in client.get(f"{API}/layers").json()["layers"]}
    for name in LIVE_LAYERS:
        layer = layers[name]
        assert layer["title"]["zh"] and layer["title"]["zh"] != name
        for prop in layer["properties"]:
            assert prop["label"]["zh"] and any("\u4e00" <= ch <= "\u9fff" for ch in prop["label"]["zh"]), prop
    assert {layer["name"] for layer in layers.values() if layer["identifiable"]} >= set(LIVE_LAYERS)


def test_alarms_collection_and_identify_answer_with_the_alarm(client, sample_alarm, rows, emergency_event):
    items = client.get(f"{API}/collections/alarms/items", params={"limit": 1000}).json()
    expect = rows("SELECT id, sensor_id, level, status FROM alarm ORDER BY id")
    got = sorted((f["properties"]["id"], f["properties"]["sensor_id"]) for f in items["features"])
    assert got == [(r["id"], r["sensor_id"]) for r in expect]
    answer = client.get(f"{API}/query/identify", params={"layer": "alarms", "id": sample_alarm["id"]}).json()
    assert answer["feature"]["properties"]["sensor_id"] == sample_alarm["sensor_id"]
    assert answer["steps"] == []  # inserted raw: no lifecycle step yet
    sensor = client.get(f"{API}/query/identify", params={"layer": "sensors", "id": sample_alarm["sensor_id"]}).json()
    open_ = rows(
        "SELECT id FROM alarm WHERE sensor_id = :s AND status <> 'closed' ORDER BY id DESC", s=sample_alarm["sensor_id"]
    )
    assert [a["id"] for a in sensor["alarms"]] == [r["id"] for r in open_] and sample_alarm["id"] in open_[0].values()
    latest = rows(
        "SELECT time, value FROM sensor_reading WHERE sensor_id = :s ORDER BY time DESC LIMIT 1",
        s=sample_alarm["sensor_id"],
    )
    assert (sensor["latest_reading"] or {}).get("value") == (latest[0]["value"] if latest else None)
    event = client.get(f"{API}/query/identify", params={"layer": "emergency_events", "id": emergency_event["id"]})
    assert event.status_code == 200 and event.json()["feature"]["properties"]["type"] == "gas_leak"


def _alarm_at(conn, sensor_id: str, x: float, y: float, status: str = "raised") -> int:
    return conn.execute(
        text(
            """INSERT INTO alarm (sensor_id, kind, level, rule, status, raised_at, reading_time, peak_value, neighbours,
                                  pipes, valves, readings, location)
               SELECT id, kind, 'warning', 'threshold', :status, now(), now(), 1.0, '{}', '{}', '{}', '[]',
                      ST_SetSRID(ST_MakePoint(:x, :y, 0), ST_SRID(position)) FROM sensor WHERE id = :s RETURNING id"""
        ),
        {"s": sensor_id, "x": x, "y": y, "status": status},
    ).scalar_one()


def test_alarms_near_a_site_or_a_d_grade_building_show_in_its_identify(client, database, rows):
    from gis.analysis.identify import ALARMS_NEAR_M

    footprint_of = "SELECT code, ST_AsBinary(footprint) AS wkb_footprint FROM {} WHERE {} ORDER BY code LIMIT 1"
    site = rows(footprint_of.format("project", "footprint IS NOT NULL"))[0]
    graded = {g: rows(footprint_of.format("building", f"safety_grade = '{g}'"))[0] for g in ("D", "A")}
    sensor = rows("SELECT id FROM sensor ORDER BY id LIMIT 1")[0]["id"]
    places = {"site": site["wkb_footprint"], "D": graded["D"]["wkb_footprint"], "A": graded["A"]["wkb_footprint"]}
    made: dict[str, list[int]] = {}
    with database.begin() as conn:
        for name, footprint in places.items():
            c = footprint.centroid
            edge = footprint.exterior
            east = shapely.Point(max(x for x, _ in edge.coords), c.y)
            made[name] = [
                _alarm_at(conn, sensor, east.x + ALARMS_NEAR_M / 2, c.y),  # near: half the distance out
                _alarm_at(conn, sensor, east.x + ALARMS_NEAR_M * 3, c.y),  # far
                _alarm_at(conn, sensor, east.x + 1.0, c.y, status="closed"),  # near but closed
            ]
    try:
        all_open = rows("SELECT id, ST_X(location) AS x, ST_Y(location) AS y FROM alarm WHERE status <> 'closed'")

        def expected(footprint) -> list[int]:  # shapely's distance, independent of PostGIS
            near = [(footprint.distance(shapely.Point(a["x"], a["y"])), a["id"]) for a in all_open]
            return [i for d, i in sorted(near) if d <= ALARMS_NEAR_M]

        answers = {
            "site": client.get(f"{API}/query/identify", params={"layer": "projects", "id": site["code"]}).json(),
            "D": client.get(f"{API}/query/identify", params={"layer": "buildings", "id": graded["D"]["code"]}).json(),
            "A": client.get(f"{API}/query/identify", params={"layer": "buildings", "id": graded["A"]["code"]}).json(),
        }
        for name in ("site", "D"):
            listed = [a["id"] for a in answers[name]["alarms"]]
            assert listed == expected(places[name]) and made[name][0] in listed, name
            assert made[name][1] not in listed and made[name][2] not in listed
            first = answers[name]["alarms"][listed.index(made[name][0])]
            at = rows("SELECT ST_X(location) AS x, ST_Y(location) AS y FROM alarm WHERE id = :a", a=made[name][0])[0]
            assert abs(first["distance_m"] - places[name].distance(shapely.Point(at["x"], at["y"]))) < 0.01
        assert answers["A"]["alarms"] == []  # an A-grade building lists none, even with an alarm beside it
    finally:
        with database.begin() as conn:
            conn.execute(
                text("DELETE FROM alarm WHERE id = ANY(:ids)"), {"ids": [i for ids in made.values() for i in ids]}
            )
