"""Jobs of one serial key run one at a time, in order of submission, waiting off the queue (no worker slot);
a job handed on to parts holds its key until its last part ends; a submission equal to a waiting job is
that job; a failed or lost job frees its key; other keys run meanwhile. The in-process queue worker, on a
database of the module's own (the session's server would take these jobs)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core import jobs
from core.errors import UserError

SERIAL = "tests.serial"
PART = "tests.serial_part"
GATES: dict[str, threading.Event] = {}  # a job's "gate" param → the event it waits for
RUNS: list[tuple[str, str, float]] = []  # (name, "start" or "end", time.monotonic())


@pytest.fixture(scope="module")
def queue_database(database: Engine, server_url: str) -> Iterator[Engine]:
    from tests.conftest import migrated_database

    with migrated_database(server_url, "cim_serial") as engine:
        yield engine


def _gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


def _serial_work(job_id: str, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any] | jobs.HandedOn:
    RUNS.append((params["name"], "start", time.monotonic()))
    try:
        if params.get("fail"):
            raise UserError("asked to fail")
        if params.get("parts"):
            return jobs.fan_out(job_id, PART, [{"name": f"{params['name']}.{n}"} for n in range(params["parts"])])
        assert _gate(params.get("gate", params["name"])).wait(60), "its gate was never opened"
        return {"name": params["name"]}
    finally:
        RUNS.append((params["name"], "end", time.monotonic()))


def _part_work(job_id: str, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    assert _gate("parts").wait(60), "the parts' gate was never opened"
    result = {"name": params["name"]}
    parent = jobs.part_done(job_id, result)
    if parent is not None:
        jobs.finish(parent, {"parts": "done"})
    return result


@pytest.fixture
def tasks(queue_database: Engine) -> Iterator[None]:
    """A serial task (by its ``key`` param) that waits for its gate, fails or fans out, and its part task."""
    GATES.clear()
    RUNS.clear()
    jobs.task(SERIAL, serial=lambda params: params["key"])(
        lambda job_id: jobs.run(job_id, lambda p, r: _serial_work(job_id, p, r))
    )
    jobs.task(PART)(lambda job_id: jobs.run(job_id, lambda p, r: _part_work(job_id, p, r)))
    jobs.get_queue.cache_clear()
    try:
        yield
    finally:
        for gate in GATES.values():
            gate.set()
        for name in (SERIAL, PART):
            jobs._registry.pop(name, None)
        jobs._serial.pop(SERIAL, None)
        jobs.get_queue.cache_clear()


def submit(name: str, key: str = "a", **params: Any) -> uuid.UUID:
    return jobs.submit(SERIAL, {"key": key, "name": name, **params}, "tester")


def row(engine: Engine, job_id: uuid.UUID) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT * FROM job WHERE id = :i"), {"i": job_id}).mappings().one())


def runs(name: str) -> tuple[float, float]:
    """When a job's work started and ended (it ran once)."""
    [start] = [at for n, what, at in RUNS if n == name and what == "start"]
    [end] = [at for n, what, at in RUNS if n == name and what == "end"]
    return start, end


def in_worker(scenario: Callable[[], None], concurrency: int = 2) -> None:
    """``scenario`` in a thread while an in-process queue worker runs jobs ``concurrency`` at a time."""

    async def main() -> None:
        worker = asyncio.create_task(jobs.work(concurrency))
        try:
            await asyncio.to_thread(scenario)
        finally:
            for gate in GATES.values():
                gate.set()
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(worker, 60)

    asyncio.run(main())


def until(condition: Callable[[], object], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)
    return value


def status(engine: Engine, job_id: uuid.UUID, *wanted: str) -> bool:
    return row(engine, job_id)["status"] in wanted


def test_jobs_of_a_key_run_one_at_a_time_in_order_and_other_keys_meanwhile(queue_database, tasks):
    first = submit("a1")
    second = submit("a2")
    assert submit("a2") == second  # equal to a job still waiting: that job
    third = submit("a3")
    other = submit("b1", key="b", gate="a1")  # another key, held by the same gate as a1
    assert row(queue_database, first)["queue_job_id"] is not None
    for waiting in (second, third):
        assert (row(queue_database, waiting)["queue_job_id"], row(queue_database, waiting)["stage"]) == (
            None,
            f"waiting for job {first}",
        )
    assert row(queue_database, other)["queue_job_id"] is not None

    def scenario() -> None:
        until(
            lambda: status(queue_database, first, "running") and status(queue_database, other, "running"), "a1 and b1"
        )
        assert row(queue_database, second)["queue_job_id"] is None  # still off the queue: no slot taken
        _gate("a1").set()
        _gate("a2").set()
        _gate("a3").set()
        until(lambda: status(queue_database, third, "succeeded", "failed"), "a3")

    in_worker(scenario)
    assert all(row(queue_database, j)["status"] == "succeeded" for j in (first, second, third, other))
    (a1, a1_end), (a2, a2_end), (a3, _) = runs("a1"), runs("a2"), runs("a3")
    assert a1_end <= a2 and a2_end <= a3  # one at a time, in order of submission
    b1, b1_end = runs("b1")
    assert b1 < a1_end and a1 < b1_end  # the other key's job ran while a1 ran
    assert [n for n, what, _ in RUNS if what == "start"].count("a2") == 1  # the coalesced submission ran once


def test_a_job_handed_on_to_parts_holds_its_key_until_its_last_part(queue_database, tasks):
    fanned = submit("p", parts=2)
    behind = submit("q")

    def scenario() -> None:
        parts = until(lambda: _parts_running(queue_database, fanned), "both parts running")
        with queue_database.connect() as conn:  # the fanned-out job's queue job ended: procrastinate's lock is free
            queue_status = conn.execute(
                text("SELECT status FROM procrastinate_jobs WHERE id = :q"),
                {"q": row(queue_database, fanned)["queue_job_id"]},
            ).scalar_one()
        assert (queue_status, row(queue_database, fanned)["status"]) == ("succeeded", "running")
        assert row(queue_database, behind)["queue_job_id"] is None and len(parts) == 2
        _gate("q").set()
        _gate("parts").set()
        until(lambda: status(queue_database, behind, "succeeded", "failed"), "the job behind")

    in_worker(scenario)
    done = row(queue_database, fanned)
    assert (done["status"], done["result"]) == ("succeeded", {"parts": "done"})
    assert runs("q")[0] > runs("p")[1]
    with queue_database.connect() as conn:
        started = conn.execute(
            text("SELECT at FROM procrastinate_events WHERE job_id = :q AND type = 'started'"),
            {"q": row(queue_database, behind)["queue_job_id"]},
        ).scalar_one()
    assert started >= done["updated_at"]  # started only once the last part had finished the job before it
    assert row(queue_database, behind)["status"] == "succeeded"


def _parts_running(engine: Engine, parent: uuid.UUID) -> list[uuid.UUID]:
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM job WHERE parent_id = :p AND status = 'running'"), {"p": parent})
        found = list(ids.scalars())
    return found if len(found) == 2 else []


def test_a_failed_job_frees_its_key(queue_database, tasks):
    failing = submit("f", fail=True)
    behind = submit("g")
    _gate("g").set()
    in_worker(lambda: until(lambda: status(queue_database, behind, "succeeded", "failed"), "the job behind"))
    assert (row(queue_database, failing)["status"], row(queue_database, failing)["error"]) == (
        "failed",
        "asked to fail",
    )
    assert row(queue_database, behind)["status"] == "succeeded"


def test_a_job_lost_with_its_worker_frees_its_key_or_holds_it_when_run_again(queue_database, tasks):
    """The reaper fails a lost job of a task that may not run again, and starts the next of its key; a lost
    job that runs again keeps the key. The lost worker: a registered one whose heartbeat is old, which took
    the job from the queue with procrastinate's own fetch."""
    lost = submit("l")
    behind = submit("m")
    _take_with_a_dead_worker(queue_database, lost)
    assert jobs.reap() == {"requeued": 0, "failed": 1}
    assert (row(queue_database, lost)["status"], row(queue_database, lost)["error"]) == ("failed", jobs.LOST)
    assert row(queue_database, behind)["queue_job_id"] is not None  # on the queue now

    jobs._rerunnable.add(SERIAL)
    try:
        later = submit("n")
        _take_with_a_dead_worker(queue_database, behind)
        assert jobs.reap() == {"requeued": 1, "failed": 0}
        assert row(queue_database, behind)["status"] == "queued"
        assert row(queue_database, later)["queue_job_id"] is None  # still waiting behind the rerun
    finally:
        jobs._rerunnable.discard(SERIAL)


def _take_with_a_dead_worker(engine: Engine, job_id: uuid.UUID) -> None:
    with engine.begin() as conn:
        worker = conn.execute(text("SELECT procrastinate_register_worker_v1()")).scalar_one()
        conn.execute(
            text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' WHERE id = :w"),
            {"w": worker},
        )
        taken = conn.execute(text("SELECT id FROM procrastinate_fetch_job_v2(NULL, :w)"), {"w": worker}).scalar_one()
        assert taken == row(engine, job_id)["queue_job_id"]
        conn.execute(text("UPDATE job SET status = 'running' WHERE id = :j"), {"j": job_id})
