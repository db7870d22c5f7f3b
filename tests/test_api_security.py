"""Security of the spatial API: masking per role, audit of sensitive reads and exports, tokens,
roles, rate limits, CORS, and bad input answered with problem+json while the server keeps serving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import mapping

from core.settings import get_settings
from tests.pii import open_field

API = "/api/v1"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def phones(rows, sample_city) -> list[str]:
    numbers = [open_field(r["phone_enc"]) for r in rows("SELECT phone_enc FROM person WHERE phone_enc IS NOT NULL")]
    assert numbers
    return numbers


@pytest.fixture(scope="module")
def site(rows, sample_city, to_lonlat) -> dict:
    """A building of a project with people, and a CRS84 polygon and point around it."""
    row = rows(
        """SELECT b.code, ST_AsBinary(b.footprint) AS wkb_g FROM building b
            WHERE b.project_code IN (SELECT pp.project_code FROM project_person pp
                                       JOIN project p ON p.code = pp.project_code
                                      WHERE p.stage IN ('preparation', 'construction'))
            ORDER BY b.code LIMIT 1"""
    )[0]
    centre = row["wkb_g"].centroid
    return {
        "code": row["code"],
        "point": mapping(to_lonlat(centre)),
        "polygon": mapping(to_lonlat(centre.buffer(300, quad_segs=4))),
    }


def _answers(client, site, headers) -> list[str]:
    lon, lat = site["point"]["coordinates"]
    identify = client.get(f"{API}/query/identify", params={"lon": lon, "lat": lat}, headers=headers)
    within = client.post(f"{API}/query/within", json=site["polygon"], headers=headers)
    incident = client.post(
        f"{API}/analysis/incident", json={"type": "fire", "location": site["point"], "radius_m": 300}, headers=headers
    )
    assert [r.status_code for r in (identify, within, incident)] == [200, 200, 200]
    assert identify.json()["project"]["people"], "the identified building's project names people"
    return [identify.text, within.text, incident.text]


def test_public_sees_no_plain_phone_number(client, role_headers, site, phones):
    for text in _answers(client, site, role_headers["public"]):
        assert not any(phone in text for phone in phones)
    for text in _answers(client, site, role_headers["planner"]):
        assert not any(phone in text for phone in phones)


def test_emergency_sees_phones_and_the_read_is_audited(client, role_headers, site, phones, rows):
    before = rows("SELECT count(*) AS n FROM audit_log WHERE action = 'read_personal' AND username = 'emergency'")[0]
    identify, _, incident = _answers(client, site, role_headers["emergency"])
    assert any(phone in identify for phone in phones)
    assert any(phone in incident for phone in phones)
    after = rows("SELECT count(*) AS n FROM audit_log WHERE action = 'read_personal' AND username = 'emergency'")[0]
    assert after["n"] >= before["n"] + 2


def test_large_page_is_audited_as_an_export(client, role_headers, rows):
    before = rows("SELECT count(*) AS n FROM audit_log WHERE action = 'export'")[0]["n"]
    assert (
        client.get(f"{API}/collections/buildings/items?limit=5000", headers=role_headers["planner"]).status_code == 200
    )
    audited = rows("SELECT username, object FROM audit_log WHERE action = 'export' ORDER BY id DESC LIMIT 1")
    assert rows("SELECT count(*) AS n FROM audit_log WHERE action = 'export'")[0]["n"] == before + 1
    assert audited[0]["username"] == "planner" and "buildings" in audited[0]["object"]


def _excavation(client, site, headers):
    body = {"area": site["polygon"], "depth_m": 2.0}
    return client.post(f"{API}/analysis/excavation", json=body, headers=headers)


def test_tokens_and_roles(client, role_headers, site):
    missing = _excavation(client, site, {})
    assert missing.status_code == 401 and missing.headers["content-type"] == PROBLEM
    past = datetime.now(UTC) - timedelta(minutes=5)
    expired_token = jwt.encode(
        {"sub": "engineer", "role": "engineer", "ver": 0, "typ": "access", "iat": past, "exp": past},
        get_settings().jwt_secret,
        algorithm="HS256",
    )
    expired = _excavation(client, site, {"Authorization": f"Bearer {expired_token}"})
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    forged = jwt.encode({"sub": "x", "role": "admin", "exp": datetime.now(UTC) + timedelta(hours=1)}, "wrong-secret")
    assert _excavation(client, site, {"Authorization": f"Bearer {forged}"}).status_code == 401
    denied = _excavation(client, site, role_headers["emergency"])
    assert denied.status_code == 403 and denied.headers["content-type"] == PROBLEM
    assert _excavation(client, site, role_headers["engineer"]).status_code == 200
    wrong = client.post(f"{API}/auth/token", data={"username": "planner", "password": "guess"})
    assert wrong.status_code == 401


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("post", "/analysis/incident", {"type": "gas_leak", "location": "POINT", "radius_m": 1e9}, 400),
        ("post", "/analysis/incident", {"type": "earthquake", "location": None}, 422),
        (
            "post",
            "/analysis/incident",
            {"type": "flood", "location": {"type": "Point", "coordinates": [2.35, 48.85]}},
            422,
        ),
        ("get", "/query/identify?lon=2.35&lat=48.85", None, 422),
        ("get", "/collections/nowhere/items", None, 404),
        ("get", "/thematic/nowhere?theme=safety_grade", None, 404),
        ("get", "/collections/buildings/items?bbox=121,32,120,31", None, 400),
        ("get", "/collections/buildings/items?use=1%27%20OR%20%271%27=%271", None, 200),
    ],
)
def test_bad_input_is_a_clear_problem(client, site, method, url, body, status):
    if isinstance(body, dict) and body.get("location") == "POINT":
        body = {**body, "location": site["point"]}
    response = client.request(method, API + url, json=body)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == PROBLEM and response.json()["detail"]
    else:
        assert response.json()["features"] == []
    assert client.get(f"{API}/health").status_code == 200


def test_self_intersecting_polygon_is_rejected(client, role_headers, site):
    lon, lat = site["point"]["coordinates"]
    d = 0.002
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[lon, lat], [lon + d, lat + d], [lon + d, lat], [lon, lat + d], [lon, lat]]],
    }
    for url, body in (
        ("/query/within", bowtie),
        ("/analysis/excavation", {"area": bowtie, "depth_m": 2}),
        ("/analysis/clearance", {"area": bowtie}),
    ):
        response = client.post(API + url, json=body, headers=role_headers["engineer"])
        assert response.status_code == 400 and "Self-intersection" in response.json()["detail"], response.text
    assert not shapely.geometry.shape(bowtie).is_valid


def test_sliding_window_counts_the_last_minute_by_its_overlap():
    """The counter allows ``limit`` hits in any minute, the minute before weighted by how much of it the
    sliding minute still covers; refused hits are not counted; idle keys go."""
    from spatial_api.ratelimit import SlidingWindow

    window, key = SlidingWindow(), "public/addr:1"

    def allowed(at: float, tries: int) -> int:
        return sum(window.hit(key, 10, at) == 0 for _ in range(tries))

    assert allowed(5.0, 15) == 10  # minute 0 full after 10
    assert 0 < window.hit(key, 10, 6.0) <= 60 + 60
    assert allowed(90.0, 15) == 5  # half of minute 0's 10 still inside the sliding minute
    assert allowed(179.0, 15) == 9  # 9 + 5/60 of minute 1's 5 <= 10 < 10 + 5/60
    window.hit("public/addr:2", 10, 400.0)
    assert set(window.counts) == {"public/addr:2"}


def test_rate_limit_answers_429(database, sample_city):
    from spatial_api.app import create_app

    settings = get_settings()
    saved = settings.rate_limit_per_minute
    settings.rate_limit_per_minute = 3
    try:
        limited = TestClient(create_app())
    finally:
        settings.rate_limit_per_minute = saved
    statuses = [limited.get(f"{API}/conformance").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    response = limited.get(f"{API}/conformance")
    assert response.headers["content-type"] == PROBLEM and response.headers["retry-after"]


def test_cors_allows_only_configured_origins(client, sample_city):
    allowed = get_settings().cors_origins[0]
    ok = client.options(f"{API}/collections", headers={"Origin": allowed, "Access-Control-Request-Method": "GET"})
    assert ok.headers.get("access-control-allow-origin") == allowed
    other = client.get(f"{API}/conformance", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers
