"""Prometheus metrics: requests by route template (counted by the HTTP face), and, read at each
scrape, the database pool, the queue's depth by state, the jobs' durations and the standbys'
replication lag. The figures read from the database are the same whichever API process answers."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from core.db import get_engine
from core.errors import UserError

log = logging.getLogger("cim.metrics")

registry = CollectorRegistry()

REQUESTS = Counter("cim_http_requests", "HTTP requests answered", ("method", "route", "status"), registry=registry)
LATENCY = Histogram(
    "cim_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ("method", "route"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=registry,
)
JOB_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
QUEUE_STATES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted")


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request under its route template (never the raw path: ids stay out)."""
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


class DatabaseCollector(Collector):
    """What the database says at scrape time; a database that cannot be read yields ``cim_database_up 0``."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("cim_database_up", "1 when the database answered this scrape")
        try:
            engine = get_engine()
        except UserError:
            up.add_metric([], 0)
            yield up
            return
        yield from _pool(engine.pool)
        try:
            with engine.connect() as conn:  # the primary's view (each standby's lag)
                found = [*_queue(conn), *_jobs(conn), *_replication(conn)]
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreadable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from found


def _pool(pool: object) -> Iterator[Metric]:
    if not isinstance(pool, QueuePool):
        return
    size = GaugeMetricFamily("cim_db_pool_size", "Connections the pool keeps")
    size.add_metric([], pool.size())
    used = GaugeMetricFamily("cim_db_pool_checked_out", "Pooled connections in use")
    used.add_metric([], pool.checkedout())
    idle = GaugeMetricFamily("cim_db_pool_idle", "Pooled connections open and idle")
    idle.add_metric([], pool.checkedin())
    yield from (size, used, idle)


def _queue(conn) -> Iterator[Metric]:
    jobs = GaugeMetricFamily("cim_jobs", "Jobs by kind and state (the job table)", labels=("kind", "state"))
    for kind, state, count in conn.execute(text("SELECT kind, status, count(*) FROM job GROUP BY 1, 2 ORDER BY 1, 2")):
        jobs.add_metric([kind, state], count)
    queue = GaugeMetricFamily("cim_queue_depth", "Queue entries by state (procrastinate)", labels=("state",))
    counts = dict(conn.execute(text("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")).all())
    for state in QUEUE_STATES:
        queue.add_metric([state], counts.get(state, 0))
    yield from (jobs, queue)


def _jobs(conn) -> Iterator[Metric]:
    """Durations of finished jobs (created to last update), cumulative as a histogram must be."""
    family = HistogramMetricFamily(
        "cim_job_duration_seconds", "Time from submission to the end of finished jobs", labels=("kind", "state")
    )
    rows = conn.execute(
        text(
            f"""
            SELECT kind, status, count(*), coalesce(sum(d), 0),
                   {", ".join(f"count(*) FILTER (WHERE d <= {b})" for b in JOB_BUCKETS)}
            FROM (SELECT kind, status, extract(epoch FROM updated_at - created_at)::float8 AS d
                  FROM job WHERE status IN ('succeeded', 'failed')) finished
            GROUP BY kind, status ORDER BY kind, status
            """
        )
    )
    for kind, state, count, total, *cumulative in rows:
        buckets = [(str(float(b)), c) for b, c in zip(JOB_BUCKETS, cumulative, strict=True)] + [("+Inf", count)]
        family.add_metric([kind, state], buckets, total)
    yield family


def _replication(conn) -> Iterator[Metric]:
    """On a primary, each standby's replay lag (bytes and seconds); on a standby, its own delay."""
    lag_bytes = GaugeMetricFamily("cim_replication_lag_bytes", "WAL the standby has yet to replay", labels=("standby",))
    lag_seconds = GaugeMetricFamily("cim_replication_lag_seconds", "Replay lag of the standby", labels=("standby",))
    standby = conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one()
    if standby:
        delay = conn.execute(
            text("SELECT coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)::float8")
        ).scalar_one()
        lag_seconds.add_metric(["self"], delay)
    else:
        rows = conn.execute(
            text(
                """SELECT application_name, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8,
                          coalesce(extract(epoch FROM replay_lag), 0)::float8
                   FROM pg_stat_replication"""
            )
        )
        for name, behind, seconds in rows:
            lag_bytes.add_metric([name], behind)
            lag_seconds.add_metric([name], seconds)
    yield from (lag_bytes, lag_seconds)


registry.register(DatabaseCollector())
