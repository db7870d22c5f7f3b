"""Observability: Prometheus metrics by route template, the pool, the queue and jobs against
independent SQL; JSON log lines carrying the request id; /ready's three checks, each failing for
its own reason (schema behind, database read-only, database stopped)."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from ops.logs import JsonFormatter
from spatial_api.observability import READ_RETRIES, RETRY_PAUSE_S
from tests.conftest import create_database, drop_database, settings_for
from tests.fixtures_ops import bundled_at


def samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def test_requests_are_counted_under_their_route_template(client):
    key = (
        "cim_http_requests_total",
        (("method", "GET"), ("route", "/api/v1/collections/{collection_id}"), ("status", "404")),
    )
    before = samples(client).get(key, 0.0)
    ids = [f"nothing{uuid.uuid4().hex}" for _ in range(3)]
    for collection in ids:
        assert client.get(f"/api/v1/collections/{collection}").status_code == 404
    after = samples(client)
    assert after[key] - before == 3
    latency = (
        "cim_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/v1/collections/{collection_id}")),
    )
    assert after[latency] >= 3
    exposition = client.get("/metrics").text
    assert not any(name in exposition for name in ids), "raw paths (ids) must not become labels"


def test_queue_jobs_and_pool_match_the_database(client, database):
    kind = f"ops.probe.{uuid.uuid4().hex[:6]}"
    durations = [2.0, 100.0, 4000.0]  # seconds from submission to the end
    with database.begin() as conn:
        for seconds in durations:
            conn.execute(
                text(
                    "INSERT INTO job (id, kind, status, stage, percent, params, created_at, updated_at) "
                    "VALUES (:id, :kind, 'succeeded', 'done', 100, '{}', now() - make_interval(secs => :s), now())"
                ),
                {"id": uuid.uuid4(), "kind": kind, "s": seconds},
            )
        conn.execute(
            text(
                "INSERT INTO job (id, kind, status, stage, percent, params) "
                "VALUES (:id, :kind, 'queued', 'queued', 0, '{}')"
            ),
            {"id": uuid.uuid4(), "kind": kind},
        )
    try:
        found = samples(client)
        with database.connect() as conn:
            queue = dict(conn.execute(text("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")).all())
        assert found[("cim_database_up", ())] == 1
        assert found[("cim_jobs", (("kind", kind), ("state", "queued")))] == 1
        assert found[("cim_jobs", (("kind", kind), ("state", "succeeded")))] == 3
        for state in ("todo", "doing", "succeeded", "failed"):
            assert found[("cim_queue_depth", (("state", state),))] == queue.get(state, 0)
        labels = (("kind", kind), ("state", "succeeded"))
        assert found[("cim_job_duration_seconds_count", labels)] == 3
        assert abs(found[("cim_job_duration_seconds_sum", labels)] - sum(durations)) < 5
        for bound in ("1.0", "5.0", "300.0", "3600.0", "+Inf"):
            expected = sum(1 for d in durations if bound == "+Inf" or d <= float(bound))
            assert found[("cim_job_duration_seconds_bucket", (*labels[:1], ("le", bound), labels[1]))] == expected
        assert found[("cim_db_pool_size", ())] >= 1
        assert found[("cim_db_pool_checked_out", ())] + found[("cim_db_pool_idle", ())] >= 1
    finally:
        with database.begin() as conn:
            conn.execute(text("DELETE FROM job WHERE kind = :kind"), {"kind": kind})


def test_log_lines_are_json_with_the_request_id(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("cim.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        given = client.get("/api/v1/layers", headers={"X-Request-ID": "req-ops-42"})
        made = client.get("/api/v1/layers")
        ugly = client.get("/api/v1/layers", headers={"X-Request-ID": "no spaces allowed"})
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert given.headers["x-request-id"] == "req-ops-42"
    assert len(made.headers["x-request-id"]) == 32
    assert ugly.headers["x-request-id"] not in ("no spaces allowed", made.headers["x-request-id"])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == [
        "req-ops-42",
        made.headers["x-request-id"],
        ugly.headers["x-request-id"],
    ]
    assert {(line["route"], line["status"], line["level"]) for line in lines} == {("/api/v1/layers", 200, "info")}


def test_ready_when_the_database_takes_writes(client):
    answer = client.get("/api/v1/ready")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "ready": True,
        "checks": {"database_writable": True, "migrations_current": True, "queue_reachable": True},
        "reasons": [],
    }


def test_not_ready_on_an_unmigrated_then_read_only_database(client, server_url):
    name = f"cim_ops_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    try:
        with settings_for(url):
            behind = client.get("/api/v1/ready")
        assert behind.status_code == 503
        body = behind.json()
        assert body["checks"] == {"database_writable": True, "migrations_current": False, "queue_reachable": False}
        assert "cim db migrate" in body["reasons"][0]
        assert "procrastinate_jobs" in body["reasons"][1]
        admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        admin.dispose()
        with settings_for(url):
            read_only = client.get("/api/v1/ready")
        assert read_only.status_code == 503
        assert read_only.json()["checks"]["database_writable"] is False
        assert "read-only" in read_only.json()["reasons"][0]
    finally:
        drop_database(server_url, name)


def test_not_ready_when_the_database_is_stopped(client, own_cluster):
    from core import cluster, migrate

    with bundled_at(own_cluster):
        state = cluster.status()
        url, owner = state.url, state.owner_url
        assert url is not None and owner is not None
    with bundled_at(own_cluster, url, owner):
        migrate.upgrade()
        assert client.get("/api/v1/ready").status_code == 200
        cluster.down()
        try:
            stopped = client.get("/api/v1/ready")
            metrics = samples(client)
            began = time.monotonic()
            health = client.get("/api/v1/health")
            health_s = time.monotonic() - began
        finally:
            cluster.up()
        assert client.get("/api/v1/health").status_code == 200  # back: a new connection, no restart
    assert health.status_code == 503 and health.headers["retry-after"] == "5"
    assert "x-cim-retryable" not in health.headers  # the internal mark never leaves
    assert health_s >= READ_RETRIES * RETRY_PAUSE_S  # retried inside before answering
    assert stopped.status_code == 503
    body = stopped.json()
    assert body["ready"] is False and set(body["checks"].values()) == {False}
    assert "does not take writes" in body["reasons"][0] and "refused" in body["reasons"][0]
    assert metrics[("cim_database_up", ())] == 0
