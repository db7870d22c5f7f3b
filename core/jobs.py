"""Long work (ingest, tiling, review) as jobs: procrastinate's PostgreSQL queue runs them, our
``job`` table tells users the stage, percent and error.

A package registers a task with ``@jobs.task("bim.ingest")`` (a function taking ``job_id`` that
calls :func:`run`); the API calls :func:`submit`. Workers run inside ``cim serve``
and, on other machines, as ``cim worker``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast

import procrastinate
from sqlalchemy import CursorResult, text, update

from core.db import database_url, session_scope
from core.errors import NotFound, UserError
from core.models import Job
from core.settings import on_configure

log = logging.getLogger("cim.jobs")

NAMESPACE = "cim"
# A worker wakes on LISTEN/NOTIFY, but procrastinate clears its wake-up flag after every fetch, so a
# job deferred while a fetch runs waits for the next poll (5 s by default): poll often instead. One
# poll is one indexed SELECT ... FOR UPDATE SKIP LOCKED on the queue table.
FETCH_POLLING_S = 0.5


def worker_options(concurrency: int = 1) -> dict[str, Any]:
    """Options of every queue worker (``App.run_worker`` / ``run_worker_async``)."""
    return {"concurrency": concurrency, "fetch_job_polling_interval": FETCH_POLLING_S}


_registry: dict[str, Callable[[str], None]] = {}
_schedules: dict[str, tuple[str, str, dict[str, Any]]] = {}  # periodic id → (task, cron, params)

Progress = Callable[[str, float], None]


def _conninfo() -> str:
    return database_url().replace("postgresql+psycopg://", "postgresql://", 1)


def task(name: str) -> Callable[[Callable[[str], None]], Callable[[str], None]]:
    """Register ``function(job_id)`` as the queue task ``name``."""

    def register(function: Callable[[str], None]) -> Callable[[str], None]:
        _registry[name] = function
        return function

    return register


def schedule(periodic_id: str, task_name: str, cron: str, params: dict[str, Any]) -> None:
    """Submit ``task_name`` with ``params`` on a cron schedule (a running worker defers it once per
    time, whichever worker it is)."""
    _schedules[periodic_id] = (task_name, cron, params)


def _load_tasks() -> dict[str, Callable[[str], None]]:
    """The registered tasks; the packages register theirs when ``spatial_api.tasks`` imports them."""
    return _registry


@lru_cache
def get_queue() -> procrastinate.App:
    """A procrastinate app (one per process and database) with every task registered."""
    queue = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo()))
    for name, function in _load_tasks().items():
        queue.task(name=f"{NAMESPACE}:{name}")(function)
    for periodic_id, (name, cron, params) in _schedules.items():

        def defer(timestamp: int, name: str = name, params: dict[str, Any] = params) -> None:
            submit(name, params)

        task_name = f"{NAMESPACE}:schedule:{periodic_id}"
        queue.periodic(cron=cron, periodic_id=periodic_id)(queue.task(name=task_name)(defer))
    return queue


on_configure(get_queue.cache_clear)


def submit(task_name: str, params: dict[str, Any], username: str | None = None, *, hold: bool = False) -> uuid.UUID:
    """Record a job and put it on the queue; returns the id ``GET /jobs/{id}`` answers for. ``hold``:
    recorded as ``pending_approval`` and queued only when :func:`release` is called (a second person's
    approval)."""
    if task_name not in _load_tasks():
        raise NotFound(f"no job kind {task_name!r}")
    status = "pending_approval" if hold else "queued"
    with session_scope() as session:
        job = Job(kind=task_name, params=params, username=username, status=status, stage=status, percent=0)
        session.add(job)
        session.flush()
        job_id = job.id
    if not hold:
        _defer(task_name, job_id)
    return job_id


def _defer(task_name: str, job_id: uuid.UUID) -> None:
    # A sync connector of its own: inside the server the queue's async pool is open, and a
    # PsycopgConnector with an open async pool cannot be opened synchronously.
    queue = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=_conninfo()))
    with queue.open():
        queue_job_id = queue.configure_task(f"{NAMESPACE}:{task_name}").defer(job_id=str(job_id))
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(queue_job_id=queue_job_id))


def _held(job_id: uuid.UUID, status: str) -> Job:
    """Move a held job out of ``pending_approval`` (once: a second decision finds it moved)."""
    with session_scope() as session:
        job = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "pending_approval")
            .values(status=status, stage=status, updated_at=text("now()"))
            .returning(Job)
        ).scalar_one_or_none()
    if job is None:
        raise UserError(f"job {job_id} is not awaiting approval")
    return job


def release(job_id: uuid.UUID) -> None:
    """Queue a job held by ``submit(..., hold=True)``."""
    job = _held(job_id, "queued")
    _defer(job.kind, job_id)


def refuse(job_id: uuid.UUID, reason: str) -> None:
    """End a held job without running it (``rejected``, with the reason as its error)."""
    _held(job_id, "rejected")
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(error=reason))


def find(job_id: str, kind: str | None = None) -> Job:
    """The job with this id (of this kind, when given), or a 404."""
    what = "job" if kind is None else "export" if kind == "exports.run" else f"{kind} job"
    try:
        key = uuid.UUID(job_id)
    except ValueError as exc:
        raise NotFound(f"{what} {job_id} does not exist (not a job id)") from exc
    with session_scope() as session:
        job = session.get(Job, key)
    if job is None or (kind is not None and job.kind != kind):
        raise NotFound(f"{what} {job_id} does not exist")
    return job


def set_progress(job_id: uuid.UUID | str, stage: str, percent: float, status: str = "running") -> None:
    """Record a job's stage and percent (own transaction, so readers see it at once)."""
    with session_scope() as session:
        session.execute(
            update(Job)
            .where(Job.id == uuid.UUID(str(job_id)))
            .values(stage=stage, percent=round(percent, 1), status=status, updated_at=text("now()"))
        )


def run(job_id: str, work: Callable[[dict[str, Any], Progress], dict[str, Any]]) -> None:
    """Run ``work(params, progress)`` for a job and record its result or a readable failure."""
    with session_scope() as session:
        job = session.get(Job, uuid.UUID(job_id))
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        params = dict(job.params)
    set_progress(job_id, "started", 0)

    def progress(stage: str, percent: float) -> None:
        set_progress(job_id, stage, percent)

    try:
        result = work(params, progress)
    except UserError as exc:
        _finish(job_id, "failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure must reach the user as a reason
        log.exception("job %s failed", job_id)
        _finish(job_id, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
    else:
        _finish(job_id, "succeeded", result=result)


def _finish(job_id: str, status: str, *, error: str | None = None, result: dict | None = None) -> None:
    with session_scope() as session:
        session.execute(
            update(Job)
            .where(Job.id == uuid.UUID(job_id))
            .values(
                status=status,
                error=error,
                result=result,
                stage="done" if status == "succeeded" else "failed",
                percent=100.0 if status == "succeeded" else Job.percent,
                updated_at=text("now()"),
            )
        )


def fail_orphans() -> int:
    """Mark failed the jobs left 'running' by a worker that is gone (no heartbeat for 60 s)."""
    with session_scope() as session:
        result = cast(
            CursorResult,
            session.execute(
                text(
                    """
            UPDATE job SET status = 'failed', stage = 'failed', updated_at = now(),
                   error = 'the worker running this job stopped (server restart); submit it again'
            WHERE status = 'running' AND NOT EXISTS (
                SELECT 1 FROM procrastinate_jobs pj JOIN procrastinate_workers w ON w.id = pj.worker_id
                WHERE pj.id = job.queue_job_id AND w.last_heartbeat > now() - interval '60 seconds')
            """
                )
            ),
        )
        return result.rowcount or 0
