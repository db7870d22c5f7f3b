"""Input limits and the seven inputs that used to answer 5xx: each is now a 4xx problem+json with a
message, and the server keeps serving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import get_settings

API = "/api/v1"
PROBLEM = "application/problem+json"


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.fixture
def own_uploads(tmp_path, monkeypatch) -> None:
    """Uploads of this test in a folder of its own (others check that theirs is left empty)."""
    monkeypatch.setattr(get_settings(), "data_dir", tmp_path)


def _assert_problem(response, status: int) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM and response.json()["detail"]


def test_one_point_profile_line(client, role_headers, site_lonlat):
    lon, lat = site_lonlat
    engineer = role_headers["engineer"]
    _assert_problem(client.get(f"{API}/analysis/profile", params={"line": f"{lon},{lat}"}, headers=engineer), 400)
    one_point = {"line": {"type": "LineString", "coordinates": [[lon, lat]]}, "step_m": 5}
    assert client.post(f"{API}/analysis/profile", json=one_point, headers=engineer).status_code in (400, 422)


def test_tile_path_over_255_characters(client):
    _assert_problem(client.get(f"{API}/tiles/buildings/{'a' * 300}.glb"), 404)
    _assert_problem(client.get(f"{API}/tiles/buildings/{'b/' * 400}x.glb"), 404)


def test_5000_deep_json(client, role_headers):
    for url in (f"{API}/query/within", f"{API}/analysis/incident"):
        response = client.post(url, content=_deep(5000), headers={"content-type": "application/json"})
        _assert_problem(response, 400)


def test_malformed_multipart(client, role_headers, own_uploads):
    engineer = role_headers["engineer"]
    garbage = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.ifc"\r\n\r\nabc\r\n--xyz-garbage\x00\x01'
    )
    for url in (f"{API}/bim/models", f"{API}/reviews"):
        response = client.post(
            url, content=garbage, headers={**engineer, "content-type": "multipart/form-data; boundary=xyz"}
        )
        assert 400 <= response.status_code < 500, (url, response.status_code, response.text[:300])
        assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("name", ["..", ".", "x" * 300 + ".ifc", "../../etc/passwd", ""])
def test_review_file_names(client, role_headers, rows, name, own_uploads):
    project = rows("SELECT code FROM project ORDER BY code LIMIT 1")[0]["code"]
    response = client.post(
        f"{API}/reviews",
        files={"file": (name, b"ISO-10303-21;\nnot really\n", "application/octet-stream")},
        data={"project": project},
        headers=role_headers["engineer"],
    )
    assert 400 <= response.status_code < 500 or response.status_code == 202, response.text[:300]
    if response.status_code == 202:
        job = response.json()["job_id"]
        stored = Path(rows("SELECT params->>'path' AS p FROM job WHERE id = CAST(:j AS uuid)", j=job)[0]["p"])
        reviews = (get_settings().uploads_dir / "reviews").resolve()
        assert stored.resolve().parent.parent == reviews and len(stored.name.encode()) <= 255


def test_database_error_text_stays_out_of_bodies(client, caplog):
    # A NUL character in a text filter: the database driver refuses it, in its own words.
    response = client.get(f"{API}/collections/buildings/items", params={"use": "a\x00b"})
    _assert_problem(response, 400)
    assert "NUL" not in response.text and "0x00" not in response.text
    assert any("NUL" in r.getMessage() for r in caplog.records), "the reason is in the server log"


def test_polygon_vertex_limit(client, site_lonlat):
    lon, lat = site_lonlat
    import math

    n = 60_000
    ring = [
        [lon + 0.001 * math.cos(2 * math.pi * i / n), lat + 0.001 * math.sin(2 * math.pi * i / n)] for i in range(n)
    ]
    ring.append(ring[0])
    response = client.post(f"{API}/query/within", json={"type": "Polygon", "coordinates": [ring]})
    _assert_problem(response, 400)
    assert "vertices" in response.json()["detail"]


def test_body_size_limit_while_reading(client, role_headers, monkeypatch, own_uploads):
    from core.settings import get_settings

    monkeypatch.setattr(get_settings(), "upload_max_bytes", 1000)

    def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="m.ifc"\r\n\r\n'
        for _ in range(100):
            yield b"x" * 1000

    response = client.post(
        f"{API}/reviews",
        content=chunks(),
        headers={**role_headers["engineer"], "content-type": "multipart/form-data; boundary=b"},
    )
    _assert_problem(response, 413)


@pytest.fixture(scope="module")
def site_lonlat(rows, sample_city, to_lonlat) -> tuple[float, float]:
    wkb = rows("SELECT ST_AsBinary(ST_Centroid(footprint)) AS wkb_g FROM building ORDER BY code LIMIT 1")[0]["wkb_g"]
    point = to_lonlat(wkb)
    return point.x, point.y


def test_json_body_size_limit(client):
    body = json.dumps({"type": "Point", "coordinates": [1, 2], "pad": "x" * (17 * 1024 * 1024)})
    _assert_problem(client.post(f"{API}/query/within", content=body, headers={"content-type": "application/json"}), 413)
