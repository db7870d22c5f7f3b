"""A queue worker asked to stop: it finishes the job it runs, and meanwhile stays alive to the others."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core import jobs

GATE = threading.Event()
TASK = "tests.wait_for_gate"


@pytest.fixture(scope="module")
def queue_database(database: Engine, server_url: str) -> Iterator[Engine]:
    """A database of its own, so no other test's server works its queue (the session's server would take
    a job of a task it does not know and fail it)."""
    from tests.conftest import migrated_database

    with migrated_database(server_url, "cim_jobs") as engine:
        yield engine


@pytest.fixture
def gated_task(queue_database: Engine) -> Iterator[str]:
    """A task that runs until the test opens its gate."""

    def wait(job_id: str) -> None:
        jobs.run(job_id, lambda params, progress: {"waited": GATE.wait(60)})

    GATE.clear()
    jobs.task(TASK)(wait)
    jobs.get_queue.cache_clear()
    try:
        yield TASK
    finally:
        GATE.set()
        jobs._registry.pop(TASK, None)
        jobs.get_queue.cache_clear()


def _heartbeat(engine: Engine) -> float | None:
    with engine.connect() as conn:
        latest = text("SELECT extract(epoch FROM max(last_heartbeat)) FROM procrastinate_workers")
        seconds = conn.execute(latest).scalar()
    return None if seconds is None else float(seconds)


async def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


def test_a_stopping_worker_keeps_its_heartbeat_until_its_job_ends(queue_database: Engine, gated_task: str) -> None:
    """Before, procrastinate stopped the heartbeat first and then waited for the job: other workers reaped
    the job as lost while it still ran (failed, then finished)."""

    async def scenario() -> dict[str, int]:
        worker = asyncio.create_task(jobs.work())
        job_id = str(jobs.submit(gated_task, {}))
        await _until(lambda: jobs.find(job_id).status == "running", 30, "the job never started")
        worker.cancel()
        stopped_at = _heartbeat(queue_database)
        assert stopped_at is not None
        # two heartbeats after the stop was asked for, while the job still runs
        await _until(
            lambda: (_heartbeat(queue_database) or 0) >= stopped_at + 1.5 * jobs.HEARTBEAT_S,
            4 * jobs.HEARTBEAT_S,
            "the stopping worker's heartbeat stopped",
        )
        reaped = await asyncio.to_thread(jobs.reap, jobs.HEARTBEAT_S + 1)
        assert not worker.done(), "the worker stopped before its job ended"
        assert jobs.find(job_id).status == "running"
        GATE.set()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(worker, 30)
        job = jobs.find(job_id)
        assert (job.status, job.result) == ("succeeded", {"waited": True})
        return reaped

    assert asyncio.run(scenario()) == {"requeued": 0, "failed": 0}
    assert _heartbeat(queue_database) is None  # the worker unregistered once its job ended


def test_a_server_stopped_as_it_starts_stops(queue_database: Engine) -> None:
    """Servers stopped right after they start (the queue's pool still connecting) stop: each within 30 s,
    five in a row (before, the second one's event loop never closed). On a queue of their own: a server
    that took another test's job would rightly wait for it before stopping."""
    from fastapi.testclient import TestClient

    from spatial_api.app import create_app

    def start_and_stop() -> None:
        with TestClient(create_app()) as server:
            assert server.get("/api/v1/conformance").status_code == 200

    for _ in range(5):
        jobs.get_queue.cache_clear()  # each server process has its own queue app
        run = threading.Thread(target=start_and_stop, daemon=True)
        run.start()
        run.join(30)
        assert not run.is_alive(), "the server did not stop"
    jobs.get_queue.cache_clear()  # the last one's is closed
