"""Limits per request and per role: a query that runs past the statement timeout is answered 503
problem+json with the limit in its message (never 500), connections outside requests keep no timeout;
each role has its own requests per minute, over it a 429 problem+json whose Retry-After is the wait."""

from __future__ import annotations

import math
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from core.db import read_engine
from core.settings import get_settings
from tests.fixtures_security import API, bearer, login

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def sleepy_client(database, sample_city) -> TestClient:
    """The real app with one more API route that sleeps in the database for the seconds asked."""
    from spatial_api.app import create_app

    app = create_app()

    def sleep(seconds: float) -> dict[str, float]:
        with read_engine().connect() as conn:
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return {"slept": seconds}

    app.add_api_route(f"{API}/test-sleep", sleep)
    app.router.routes.insert(0, app.router.routes.pop())  # before the viewer's mount at /
    return TestClient(app, raise_server_exceptions=False)


def test_slow_query_is_a_503_with_a_message(sleepy_client, monkeypatch):
    monkeypatch.setattr(get_settings(), "statement_timeout_ms", 300)
    started = time.monotonic()
    response = sleepy_client.get(f"{API}/test-sleep", params={"seconds": 5})
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM and response.headers["retry-after"]
    assert "0.3 s" in response.json()["detail"]
    assert elapsed < 4, "the query was cancelled at the timeout, not left to finish"
    # A query under the limit on the same pool still answers.
    assert sleepy_client.get(f"{API}/test-sleep", params={"seconds": 0.05}).json() == {"slept": 0.05}


def test_timeout_follows_the_setting_and_stays_inside_requests(sleepy_client, monkeypatch):
    monkeypatch.setattr(get_settings(), "statement_timeout_ms", 2000)
    assert sleepy_client.get(f"{API}/test-sleep", params={"seconds": 0.5}).status_code == 200
    # Outside a request (jobs, the CLI) the pooled connections run without a timeout.
    with read_engine().connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"


def test_a_real_endpoint_under_a_tiny_timeout(sleepy_client, monkeypatch):
    """Area statistics around the city's first building with a 1 ms budget: cancelled, 503 with the message."""
    (lon, lat), d = _first_building(), 0.02
    city = {
        "type": "Polygon",
        "coordinates": [
            [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
        ],
    }
    monkeypatch.setattr(get_settings(), "statement_timeout_ms", 1)
    response = sleepy_client.post(f"{API}/query/within", json=city)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM and "0.001 s" in response.json()["detail"]


def _first_building() -> tuple[float, float]:
    sql = (
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_Centroid(footprint), 4326) AS c FROM building LIMIT 1) s"
    )
    with read_engine().connect() as conn:
        return tuple(conn.execute(text(sql)).one())  # type: ignore[return-value]


def _limited_app(monkeypatch, per_role: dict[str, int], default: int):
    from spatial_api.app import create_app

    monkeypatch.setattr(get_settings(), "rate_limits_per_minute", per_role)
    monkeypatch.setattr(get_settings(), "rate_limit_per_minute", default)
    return create_app()


def test_each_role_has_its_own_limit(client, new_user, monkeypatch):
    app = _limited_app(monkeypatch, {"public": 2, "planner": 4}, default=6)
    planner, password = new_user("planner")
    engineer, _ = new_user("engineer")
    planner_headers = bearer(login(client, planner, password)["access_token"])
    engineer_headers = bearer(login(client, engineer, password)["access_token"])
    anonymous = TestClient(app, client=("10.9.0.1", 1))
    statuses = {
        "public": [anonymous.get(f"{API}/conformance").status_code for _ in range(4)],
        "planner": [anonymous.get(f"{API}/conformance", headers=planner_headers).status_code for _ in range(6)],
        "engineer": [anonymous.get(f"{API}/conformance", headers=engineer_headers).status_code for _ in range(8)],
    }
    # The same address throughout: a person's budget is their account's, not the address's.
    assert statuses == {
        "public": [200] * 2 + [429] * 2,
        "planner": [200] * 4 + [429] * 2,
        "engineer": [200] * 6 + [429] * 2,
    }


def test_429_is_problem_json_with_the_wait(monkeypatch):
    app = _limited_app(monkeypatch, {"public": 1}, default=100)
    for host in range(2, 5):  # both hits inside one clock minute (a minute's end between them moves the wait)
        anonymous = TestClient(app, client=(f"10.9.0.{host}", 1))
        before = time.time()
        assert anonymous.get(f"{API}/conformance").status_code == 200
        refused = anonymous.get(f"{API}/conformance")
        after = time.time()
        if before // 60 == after // 60:
            break
    assert refused.status_code == 429 and refused.headers["content-type"] == PROBLEM
    wait = int(refused.headers["retry-after"])
    # A sliding-window counter at 1 a minute: a hit in minute m still weighs on minute m + 1 until its
    # last instant, so the next hit goes through from the start of minute m + 2.
    opens = (before // 60 + 2) * 60
    assert math.ceil(opens - after) <= wait <= math.ceil(opens - before)
    assert f"retry in {wait} s" in refused.json()["detail"]
    assert "'public'" in refused.json()["detail"]


def test_a_forged_token_counts_as_anonymous(monkeypatch):
    """A token signed with another key gets the public budget of its address, not a role's."""
    import jwt

    app = _limited_app(monkeypatch, {"public": 1, "admin": 100}, default=100)
    forged = jwt.encode(
        {"sub": "admin", "role": "admin"}, "not-the-secret-of-this-server-at-all-0123456789", algorithm="HS256"
    )
    caller = TestClient(app, client=("10.9.0.3", 1))
    statuses = [caller.get(f"{API}/conformance", headers=bearer(forged)).status_code for _ in range(2)]
    assert statuses == [200, 429]
