"""Security overheads, measured in one run against peers in the same run (ratios, not absolute times).

- identify p50: anonymous (no credentials: no token check at all) vs a planner's token (signature,
  claims and the one indexed user lookup per request) vs an emergency token (the same, plus the plain
  phones and an audit row for the personal data it reads). Requests alternate between the three so
  load drift hits all. Then one audit row alone (its durable commit included), p50.
- login throughput with lockout on (one bcrypt check plus the throttle rows per login).

In-process (Starlette's TestClient) on a throw-away database on the project's cluster with the
sample city (400 buildings, seed 7); the database is dropped afterwards. Writes RESULTS.json beside.

    PYTHONPATH=$PWD .venv/bin/python bench/security/run.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent


def _database() -> tuple[str, str]:
    from core import cluster

    state = cluster.up()
    name = f"cim_bench_security_{uuid.uuid4().hex[:6]}"
    admin = create_engine(make_url(state.admin_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{make_url(state.url).username}"'))
    admin.dispose()
    return state.admin_url, make_url(state.url).set(database=name).render_as_string(hide_password=False)


def _p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    admin_url, url = _database()
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"cim-bench-security-{uuid.uuid4().hex[:6]}"
    os.environ.update({"DATABASE_URL": url, "CIM_DATA_DIR": str(data), "CIM_DEMO": "1"})
    from core import settings

    settings.configure(None)  # read again with this database
    try:
        run(args.rounds)
    finally:
        from core.db import get_engine

        get_engine().dispose()
        admin = create_engine(make_url(admin_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


def run(rounds: int) -> None:
    from fastapi.testclient import TestClient
    from pyproj import Transformer

    from core import migrate
    from core.db import get_engine
    from sample_models.load import load_sample_city
    from spatial_api.app import create_app

    migrate.upgrade()
    load_sample_city(400, 7)
    with get_engine().connect() as conn:
        x, y = conn.execute(
            text(
                """SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(b.footprint) AS c FROM building b
                    JOIN project_person pp ON pp.project_code = b.project_code ORDER BY b.code LIMIT 1) s"""
            )
        ).one()
    lon, lat = Transformer.from_crs("EPSG:4549", "OGC:CRS84", always_xy=True).transform(x, y)
    client = TestClient(create_app())
    headers = {"anonymous": {}}
    for role in ("planner", "emergency"):
        token = client.post("/api/v1/auth/token", data={"username": role, "password": f"{role}-demo"}).json()
        headers[role] = {"Authorization": f"Bearer {token['access_token']}"}
    # The same planner token with its user state read from the database on every request (as before
    # the in-memory state): the peer the cache is measured against.
    headers["planner_from_db"] = headers["planner"]
    from core import user_state

    samples: dict[str, list[float]] = {k: [] for k in headers}
    params = {"lon": lon, "lat": lat}
    for _ in range(20):  # warm-up
        for h in headers.values():
            client.get("/api/v1/query/identify", params=params, headers=h)
    for _ in range(rounds):
        for who, h in headers.items():
            if who == "planner_from_db":
                user_state._forget("planner")
            started = time.perf_counter()
            response = client.get("/api/v1/query/identify", params=params, headers=h)
            samples[who].append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    identify = {who: _p50_ms(s) for who, s in samples.items()}
    # The token check alone (signature, claims, the user's state: from memory once the listener runs).
    from spatial_api.security import _user_principal

    token = headers["planner"]["Authorization"].removeprefix("Bearer ")
    check_samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        _user_principal(token)
        check_samples.append(time.perf_counter() - started)
    listening = user_state._state.listening.is_set()
    # One audit row alone (the durable commit included), as a share of the planner's identify.
    from spatial_api import audit
    from spatial_api.security import Principal

    audit_samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        audit.record("bench", "identify", Principal("bench", "emergency"), None)
        audit_samples.append(time.perf_counter() - started)

    logins = 30
    started = time.perf_counter()
    for i in range(logins):
        far = TestClient(client.app, client=(f"10.9.{i // 250}.{i % 250}", 1))
        assert far.post("/api/v1/auth/token", data={"username": "planner", "password": "planner-demo"}).is_success
    login_s = time.perf_counter() - started
    result = {
        "rounds": rounds,
        "identify_p50_ms": identify,
        "token_check_ratio": round(identify["planner"] / identify["anonymous"], 3),
        "token_check_from_db_ratio": round(identify["planner_from_db"] / identify["anonymous"], 3),
        "token_check_alone_p50_ms": _p50_ms(check_samples),
        "user_state_from_memory": listening,
        "personal_read_ratio": round(identify["emergency"] / identify["planner"], 3),
        "audit_row_p50_ms": _p50_ms(audit_samples),
        "audit_row_share_of_identify": round(_p50_ms(audit_samples) / identify["planner"], 3),
        "logins_per_s": round(logins / login_s, 1),
    }
    (HERE / "RESULTS.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
