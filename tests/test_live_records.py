"""Sensors registered through the records write API (kind ``sensors``): the compartment must exist,
the kind comes from the sensor-kind vocabulary, the position is a 3D point; a registered sensor's
readings are then accepted, an unregistered one's refused."""

from __future__ import annotations

from datetime import UTC, datetime

import shapely
from pyproj import Transformer

SENSOR = "TEST-REG-CH4-01"


def _position(rows) -> tuple[str, dict]:
    """A point on the first gas compartment's tunnel axis, as "lon,lat,h" (CRS84, store height) and the compartment."""
    place = rows(
        """SELECT c.id, ST_X(p) AS x, ST_Y(p) AS y, ST_Z(p) AS z FROM tunnel_compartment c
             JOIN utility_tunnel u ON u.id = c.tunnel_id,
             LATERAL ST_LineInterpolatePoint(u.axis, 0.5) AS p
            WHERE 'gas' = ANY(c.utilities) ORDER BY c.id LIMIT 1"""
    )[0]
    srid = rows("SELECT Find_SRID('public', 'sensor', 'position') AS s")[0]["s"]
    lon, lat = Transformer.from_crs(f"EPSG:{srid}", "OGC:CRS84", always_xy=True).transform(place["x"], place["y"])
    return f"{lon:.9f},{lat:.9f},{place['z']:.3f}", place


def _reading(client, headers, sensor: str) -> dict:
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    answer = client.post(
        "/api/v1/sensors/readings",
        json={"readings": [{"sensor_id": sensor, "time": now, "value": 1.5}]},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_sensor_registered_through_the_records_api_is_validated_and_then_fed(client, role_headers, rows):
    engineer = role_headers["engineer"]
    position, place = _position(rows)
    assert _reading(client, engineer, SENSOR)["rejected"][0]["reason"] == "unknown sensor"
    good = {"id": SENSOR, "kind": "甲烷（天然气）", "unit": "%LEL", "compartment_id": place["id"], "position": position}

    refused = {
        "compartment": {**good, "compartment_id": "NO-SUCH-COMPARTMENT"},
        "kind": {**good, "kind": "radon"},
        "position": {**good, "position": position.rsplit(",", 1)[0]},  # no height
    }
    for what, body in refused.items():
        answer = client.post("/api/v1/records/sensors", json=body, headers=engineer)
        assert answer.status_code == 422, (what, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert rows("SELECT count(*) AS n FROM sensor WHERE id = :s", s=SENSOR) == [{"n": 0}]
    assert client.post("/api/v1/records/sensors", json=good, headers=role_headers["planner"]).status_code == 403

    try:
        made = client.post("/api/v1/records/sensors", json=good, headers=engineer)
        assert made.status_code == 201, made.text
        stored = rows(
            "SELECT kind, unit, compartment_id, ST_X(position) AS x, ST_Y(position) AS y, ST_Z(position) AS z "
            "FROM sensor WHERE id = :s",
            s=SENSOR,
        )[0]
        assert (stored["kind"], stored["unit"], stored["compartment_id"]) == ("CH4", "%LEL", place["id"])
        # The position went through CRS84 and back: on the axis point within a millimetre, its height kept.
        assert shapely.Point(stored["x"], stored["y"]).distance(shapely.Point(place["x"], place["y"])) < 1e-3
        assert abs(stored["z"] - place["z"]) < 1e-3
        assert _reading(client, engineer, SENSOR)["accepted"] == 1
    finally:  # removed through the same API (If-Match: the record's ETag as read)
        read = client.get(f"/api/v1/records/sensors/{SENSOR}", headers=engineer)
        if read.status_code == 200:
            gone = client.delete(
                f"/api/v1/records/sensors/{SENSOR}", headers={**engineer, "If-Match": read.headers["etag"]}
            )
            assert gone.status_code == 204, gone.text
    assert rows("SELECT count(*) AS n FROM sensor WHERE id = :s", s=SENSOR) == [{"n": 0}]
