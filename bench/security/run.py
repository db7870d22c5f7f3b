"""Security overheads, measured in one run against peers in the same run (ratios, not absolute times).

- identify p50: anonymous (no credentials: no token check at all) vs a planner's token (signature,
  claims and the one indexed user lookup per request) vs an emergency token (the same, plus the plain
  phones and an audit row for the personal data it reads). Requests alternate between the three so
  load drift hits all. Then one audit row alone (its durable commit included), p50.
- audit overhead, isolated: the emergency identify as is (its audit row written by the read's own
  statement, ``spatial_api.audit.row_when``) vs the same request with the audit writes made no-ops (in
  this bench process only, for that request only): the INSERT into audit_log and its durable commit are
  all that differ; p50 and p99. Also the previous way, in the same rounds: the row written after the read
  on the read's connection (``row_when`` giving nothing, so identify falls back to ``audit.record``).
  Then one audit row alone, on a pool checkout and transaction of its own, and on a held autocommit read
  connection.
- encrypted-field overhead: the same emergency identify (audit off in both, so the audit row's noise
  does not hide it) with ``decrypt_field`` as is vs replaced by returning the stored value (the name
  ``gis.analysis.records.decrypt_field``, which identify calls, patched in this process only); and one
  ``core.privacy.decrypt_field`` of a real ciphertext alone (timeit).
- login throughput with lockout on (one bcrypt check plus the throttle rows per login).

In-process (Starlette's TestClient) on a throw-away database on the project's cluster with the
sample city (400 buildings, seed 7); the database is dropped afterwards. Writes RESULTS.json beside.

    PYTHONPATH=$PWD .venv/bin/python bench/security/run.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
import timeit
import uuid
from collections.abc import Iterator
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


@contextlib.contextmanager
def _switched_off(audit: str | None, decrypt: bool) -> Iterator[None]:
    """For one request in this process: decryption as the identity, and the audit row in the read's own
    statement (``audit.row_when``) left out (``audit="in_read"``: identify then writes it after the read, on
    the read's connection, the previous way) or no audit write at all (``audit="all"``)."""
    from gis.analysis import records
    from spatial_api import audit as audit_module

    saved = audit_module.record, audit_module.row_when, records.decrypt_field
    if audit is not None:
        audit_module.row_when = lambda *args, **kwargs: None
    if audit == "all":
        audit_module.record = lambda *args, **kwargs: None
    if decrypt:
        records.decrypt_field = lambda token: token
    try:
        yield
    finally:
        audit_module.record, audit_module.row_when, records.decrypt_field = saved


# caller -> (headers key, audit switched off: "in_read" or "all", decryption switched off)
SWITCHED: dict[str, tuple[str, str | None, bool]] = {
    "emergency_audit_after_read": ("emergency", "in_read", False),
    "emergency_no_audit": ("emergency", "all", False),
    "emergency_no_audit_no_decrypt": ("emergency", "all", True),
}


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
    load_at_start = [round(x, 2) for x in os.getloadavg()]
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
    for who, (same_as, _, _) in SWITCHED.items():
        headers[who] = headers[same_as]
    from core import user_state
    from core.privacy import decrypt_field
    from gis.analysis import records

    samples: dict[str, list[float]] = {k: [] for k in headers}
    params = {"lon": lon, "lat": lat}

    def call(who: str) -> tuple[float, dict]:
        if who == "planner_from_db":
            user_state._forget("planner")
        _, no_audit, no_decrypt = SWITCHED.get(who, (who, None, False))
        with _switched_off(no_audit, no_decrypt):
            started = time.perf_counter()
            response = client.get("/api/v1/query/identify", params=params, headers=headers[who])
            took = time.perf_counter() - started
        assert response.status_code == 200, response.text
        return took, response.json()

    # Check once that each switch does what it says: the phones (and how many were opened), the rows.
    opened = 0

    def counting(token: str | None) -> str | None:
        nonlocal opened
        opened += 1
        return decrypt_field(token)

    records.decrypt_field = counting
    try:
        people = [p for g in call("emergency")[1]["project"]["people"].values() for p in g]
    finally:
        records.decrypt_field = decrypt_field
    sealed_people = [p for g in call("emergency_no_audit_no_decrypt")[1]["project"]["people"].values() for p in g]
    phones = [p["phone"] for p in people if p.get("phone")]
    assert opened and sum("*" not in p for p in phones) == opened, "the emergency identify sees plain phones"
    assert all(p["phone"] != q["phone"] for p, q in zip(people, sealed_people, strict=True) if p.get("phone"))
    audit_rows = text("SELECT count(*) FROM audit_log WHERE action = 'read_personal'")
    with get_engine().connect() as conn:
        before = conn.execute(audit_rows).scalar_one()
    for who in ("emergency", "emergency_audit_after_read", "emergency_no_audit", "emergency_no_audit_no_decrypt"):
        call(who)
    with get_engine().connect() as conn:
        assert conn.execute(audit_rows).scalar_one() == before + 2, "only the requests with the audit on write a row"

    for _ in range(20):  # warm-up
        for who in headers:
            call(who)
    for _ in range(rounds):
        for who in headers:
            samples[who].append(call(who)[0])
    identify = {who: _p50_ms(s) for who, s in samples.items()}
    identify_p99 = {who: round(sorted(s)[int(len(s) * 0.99)] * 1000, 3) for who, s in samples.items()}
    # One decrypt_field of a real ciphertext (a phone of the sample city), alone.
    with get_engine().connect() as conn:
        ciphertext = conn.execute(text("SELECT phone_enc FROM person WHERE phone_enc IS NOT NULL LIMIT 1")).scalar_one()
    number = 20000
    decrypt_us = min(timeit.repeat(lambda: decrypt_field(ciphertext), number=number, repeat=5)) / number * 1e6
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
    # The same row as identify writes it now: on a held autocommit read connection (one round trip).
    from core.db import read_engine

    held_samples = []
    with read_engine().connect() as conn:
        for _ in range(rounds):
            started = time.perf_counter()
            audit.record("bench", "identify", Principal("bench", "emergency"), None, conn=conn)
            held_samples.append(time.perf_counter() - started)

    logins = 30
    started = time.perf_counter()
    for i in range(logins):
        far = TestClient(client.app, client=(f"10.9.{i // 250}.{i % 250}", 1))
        assert far.post("/api/v1/auth/token", data={"username": "planner", "password": "planner-demo"}).is_success
    login_s = time.perf_counter() - started
    result = {
        "rounds": rounds,
        "identify_p50_ms": identify,
        "identify_p99_ms": identify_p99,
        "token_check_ratio": round(identify["planner"] / identify["anonymous"], 3),
        "token_check_from_db_ratio": round(identify["planner_from_db"] / identify["anonymous"], 3),
        "token_check_alone_p50_ms": _p50_ms(check_samples),
        "user_state_from_memory": listening,
        "personal_read_ratio": round(identify["emergency"] / identify["planner"], 3),
        "audit_row_p50_ms": _p50_ms(audit_samples),
        "audit_row_share_of_identify": round(_p50_ms(audit_samples) / identify["planner"], 3),
        "audit_row_on_read_connection_p50_ms": _p50_ms(held_samples),
        "audit_overhead_ratio": round(identify["emergency"] / identify["emergency_no_audit"], 3),
        "audit_overhead_p99_ratio": round(identify_p99["emergency"] / identify_p99["emergency_no_audit"], 3),
        "audit_after_read_overhead_ratio": round(
            identify["emergency_audit_after_read"] / identify["emergency_no_audit"], 3
        ),
        "audit_row_share_of_emergency_identify": round(_p50_ms(audit_samples) / identify["emergency"], 3),
        "phones_decrypted_per_identify": opened,
        "decrypt_overhead_ratio": round(identify["emergency_no_audit"] / identify["emergency_no_audit_no_decrypt"], 3),
        "decrypt_field_alone_us": round(decrypt_us, 2),
        "decrypt_share_of_identify": round(opened * decrypt_us / 1000 / identify["emergency_no_audit"], 4),
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "logins_per_s": round(logins / login_s, 1),
    }
    (HERE / "RESULTS.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
