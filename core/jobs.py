"""Long work (ingest, tiling, review) as jobs: procrastinate's PostgreSQL queue runs them, our
``job`` table tells users the stage, percent and error.

A package registers a task with ``@jobs.task("bim.ingest")`` (a function taking ``job_id`` that
calls :func:`run`); the API calls :func:`submit`. Workers run inside ``cim serve``
and, on other machines, as ``cim worker`` (:func:`work`: it starts again after a failover).

A worker whose host dies leaves its job ``doing``: every worker looks for jobs whose worker has
been silent for :data:`STALLED_AFTER_S` (:func:`reap`) and queues them again when their task
said a second run is safe (``rerun_if_lost``: the work is one transaction, or idempotent), else
marks them failed with the reason. Files a task reads (uploads) must be on storage every worker
host shares (``CIM_DATA_DIR``).

Long work runs in a spawned process of its own (``run(..., own_process=True)``): long native calls
hold the GIL, and in the worker's job thread they starved its event loop, whose heartbeat then went
silent and the running job was reaped as lost. A job may hand its work on to parts (:func:`fan_out`:
jobs of their own, which any worker runs); it stays running until its last part finishes it
(:func:`part_done`, :func:`finish`), and fails when one of them fails.

A task registered with ``serial`` (a key of its params, e.g. a tiling build's layer) runs its jobs of
one key one at a time, in order of submission, across all workers: a job submitted while another of
its key is queued or running (a job handed on to parts runs until its last part finishes it) waits in
our table, not on the queue (no worker slot, no polling), ``queued`` with no queue job; a job of the
key that ends (succeeded, failed, lost) puts the oldest waiting one on the queue, in the transaction
that ends it, and every reaper round does so for keys whose jobs ended without it. A submission equal
to a job still waiting (same params and owner) is that job: it has not read anything yet. Work of a
key run outside the queue (a layer's build in a command or a request) is serialized with the key's
jobs by a lock on the key that both hold while they run (:mod:`core.holds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import Any, cast

import procrastinate
from procrastinate.jobs import DEFAULT_QUEUE
from procrastinate.worker import Worker
from sqlalchemy import CursorResult, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from core.db import database_url, session_scope
from core.errors import NotFound, UserError
from core.models import Job
from core.settings import configure, get_settings, on_configure

log = logging.getLogger("cim.jobs")

NAMESPACE = "cim"
# A worker wakes on LISTEN/NOTIFY, but procrastinate clears its wake-up flag after every fetch, so a
# job deferred while a fetch runs waits for the next poll (5 s by default): poll often instead. One
# poll is one indexed SELECT ... FOR UPDATE SKIP LOCKED on the queue table.
FETCH_POLLING_S = 0.5
# Each worker writes a heartbeat this often; one silent for STALLED_AFTER_S is taken for gone.
HEARTBEAT_S = 2.0
STALLED_AFTER_S = 10.0
REAP_EVERY_S = 3.0
RESTART_AFTER_S = 1.0  # a worker stopped by a lost database tries again this soon
LOST_RETRIES = 2  # runs of one job a lost worker may cost before it is failed instead


def worker_options(concurrency: int = 1) -> dict[str, Any]:
    """Options of every queue worker (``App.run_worker_async``)."""
    return {
        "concurrency": concurrency,
        "fetch_job_polling_interval": FETCH_POLLING_S,
        "update_heartbeat_interval": HEARTBEAT_S,
        "stalled_worker_timeout": STALLED_AFTER_S,
        "install_signal_handlers": False,
    }


_registry: dict[str, Callable[[str], None]] = {}
_rerunnable: set[str] = set()
_serial: dict[str, Callable[[dict[str, Any]], str]] = {}  # task → the key of its params it runs one at a time by
_schedules: dict[str, tuple[str, str, dict[str, Any]]] = {}  # periodic id → (task, cron, params)

Progress = Callable[[str, float], None]
ENDED = ("succeeded", "failed", "rejected")


class HandedOn:
    """What a job's work returns when it handed the job on to parts (:func:`fan_out`)."""


HANDED_ON = HandedOn()
Work = Callable[[dict[str, Any], Progress], "dict[str, Any] | HandedOn"]


def _conninfo() -> str:
    return database_url().replace("postgresql+psycopg://", "postgresql://", 1)


def task(
    name: str, *, rerun_if_lost: bool = False, serial: Callable[[dict[str, Any]], str] | None = None
) -> Callable[[Callable[[str], None]], Callable[[str], None]]:
    """Register ``function(job_id)`` as the queue task ``name``; ``rerun_if_lost``: a run cut short
    by a lost worker left nothing behind (one transaction, or idempotent work), so it is run again;
    ``serial``: the key of a job's params whose jobs run one at a time, in order of submission."""

    def register(function: Callable[[str], None]) -> Callable[[str], None]:
        _registry[name] = function
        if rerun_if_lost:
            _rerunnable.add(name)
        if serial is not None:
            _serial[name] = serial
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
    key = f"{task_name}:{_serial[task_name](params)}" if task_name in _serial else None
    with session_scope() as session:
        if key is None:
            job = Job(kind=task_name, params=params, username=username, status=status, stage=status, percent=0)
            session.add(job)
            session.flush()
            if not hold:
                _defer(session, [job.id])
            return job.id
        _lock_serial(session, key)
        if not hold:
            waiting = session.execute(_COALESCE, {"key": key, "params": params, "username": username}).scalar()
            if waiting is not None:
                return waiting
        job = Job(
            kind=task_name, params=params, username=username, status=status, stage=status, percent=0, serial=key,
            created_at=func.clock_timestamp(),  # in order of taking the key's lock: the order they run in
        )  # fmt: skip
        session.add(job)
        session.flush()
        if not hold:
            _start_waiting(session, [key])
        return job.id


# procrastinate's own function (what its job manager's defer calls), here in our transaction: a job's
# row and its queue job are written together (a job recorded and never queued would block its key).
_DEFER = text(
    """
    WITH deferred AS (
        SELECT job.id, (procrastinate_defer_jobs_v1(ARRAY[ROW(
                   :queue, :namespace || ':' || job.kind, 0, NULL, NULL,
                   jsonb_build_object('job_id', job.id::text), NULL
               )::procrastinate_job_to_defer_v1]))[1] AS queue_job_id
          FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS given(id, n) JOIN job ON job.id = given.id
         ORDER BY given.n
    )
    UPDATE job SET queue_job_id = deferred.queue_job_id FROM deferred WHERE job.id = deferred.id
    """
)


def _defer(session: Session, job_ids: list[uuid.UUID]) -> None:
    """Put jobs on the queue, in this order, in the session's transaction."""
    session.execute(_DEFER, {"queue": DEFAULT_QUEUE, "namespace": NAMESPACE, "ids": job_ids})


# A job of a serial key counts as holding it while queued on the queue or running (a job handed on to
# parts runs until its last part finishes it); one queued with no queue job waits for its turn.
_OPEN = "serial = :key AND status IN ('queued', 'running')"
_HOLDER = text(f"SELECT id FROM job WHERE {_OPEN} AND (status = 'running' OR queue_job_id IS NOT NULL) LIMIT 1")
_NEXT = text(f"SELECT id FROM job WHERE {_OPEN} AND status = 'queued' AND queue_job_id IS NULL ORDER BY created_at, id")
_WAITING_KEYS = text(
    "SELECT DISTINCT serial FROM job WHERE serial IS NOT NULL AND status = 'queued' AND queue_job_id IS NULL"
)
_COALESCE = text(
    f"""SELECT id FROM job WHERE {_OPEN} AND status = 'queued' AND queue_job_id IS NULL
          AND params = CAST(:params AS jsonb) AND username IS NOT DISTINCT FROM :username
        ORDER BY created_at LIMIT 1"""
).bindparams(bindparam("params", type_=JSONB))


def _lock_serial(session: Session, key: str) -> None:
    """The key's lock, until the session's transaction ends (submitting and starting its jobs take it)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('cim.jobs.serial'), hashtext(:key))"), {"key": key})


def _start_waiting(session: Session, keys: list[str] | None = None) -> None:
    """For each key (all keys with a job waiting, when None) no job holds: put its oldest waiting job on
    the queue; the others are told which job they wait for."""
    if keys is None:
        keys = list(session.execute(_WAITING_KEYS).scalars())
    for key in sorted(set(keys)):  # in one order: transactions taking several keys never deadlock
        _lock_serial(session, key)
        waiting = list(session.execute(_NEXT, {"key": key}).scalars())
        if not waiting:
            continue
        holder = session.execute(_HOLDER, {"key": key}).scalar()
        if holder is None:
            _defer(session, waiting[:1])
            holder, waiting = waiting[0], waiting[1:]
        if waiting:
            stage = f"waiting for job {holder}"
            session.execute(update(Job).where(Job.id.in_(waiting), Job.stage != stage).values(stage=stage))


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
    with session_scope() as session:
        if job.serial is None:
            _defer(session, [job_id])
        else:
            _start_waiting(session, [job.serial])


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


def run(job_id: str, work: Work, *, own_process: bool = False) -> None:
    """Run ``work(params, progress)`` for a job and record its result or a readable failure (none when
    it handed the job on to parts). ``own_process``: in a spawned process (``work`` must pickle: a
    module-level function or a partial of one), whose native calls cannot starve this worker's
    heartbeat and which may fork processes of its own."""
    with session_scope() as session:
        job = session.get(Job, uuid.UUID(job_id))
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        params, status = dict(job.params), job.status
        done, parts = session.execute(
            select(func.count().filter(Job.result.is_not(None)), func.count()).where(Job.parent_id == job.id)
        ).one()
    if status in ENDED:
        log.info("job %s ran again after it ended (%s): nothing to do", job_id, status)
        return
    if parts:  # run again after a lost worker, which had handed it on: its parts finish it
        with session_scope() as session:
            session.execute(
                update(Job)
                .where(Job.id == uuid.UUID(job_id), Job.status == "queued")
                .values(status="running", stage=f"{done} of {parts} parts done", updated_at=text("now()"))
            )
        return
    set_progress(job_id, "started", 0)
    progress = _progress(job_id)
    try:
        result = _spawned(job_id, work, params) if own_process else work(params, progress)
    except UserError as exc:
        _finish(job_id, "failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure must reach the user as a reason
        log.exception("job %s failed", job_id)
        _finish(job_id, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
    else:
        if not isinstance(result, HandedOn):
            _finish(job_id, "succeeded", result=result)


CHILDREN = 4  # spawned processes a worker keeps for the jobs it runs at once (made as needed)
_children: ProcessPoolExecutor | None = None
_children_lock = threading.Lock()


def _child_processes() -> ProcessPoolExecutor:
    """The spawned processes jobs run in, with this process's settings; kept from job to job (a new
    process spends seconds importing what a tiling job needs, and a large layer is dozens of jobs)."""
    global _children
    with _children_lock:
        if _children is None:
            context = multiprocessing.get_context("spawn")
            _children = ProcessPoolExecutor(
                CHILDREN, mp_context=context, initializer=configure, initargs=(get_settings(),)
            )
        return _children


def _forget_children() -> None:
    global _children
    with _children_lock:
        if _children is not None:
            _children.shutdown(wait=False)
        _children = None


on_configure(_forget_children)


def _spawned(job_id: str, work: Work, params: dict[str, Any]) -> dict[str, Any] | HandedOn:
    """``work`` in a spawned process (one that dies is this job's error; new ones for the next)."""
    try:
        return _child_processes().submit(_in_child, job_id, work, params).result()
    except BrokenProcessPool:
        _forget_children()
        raise


def _in_child(job_id: str, work: Work, params: dict[str, Any]) -> dict[str, Any] | HandedOn:
    return work(params, _progress(job_id))


PROGRESS_EVERY_S = 0.5


def _progress(job_id: str) -> Progress:
    """A job's progress, written when its stage changes and else at most every PROGRESS_EVERY_S (a
    tiling job reports each of thousands of tiles, and one commit each cost more than the tiles)."""
    last: list[Any] = ["", 0.0]  # stage, time written

    def progress(stage: str, percent: float) -> None:
        now = time.monotonic()
        if stage != last[0] or now - last[1] >= PROGRESS_EVERY_S:
            set_progress(job_id, stage, percent)
            last[:] = [stage, now]

    return progress


def fan_out(job_id: str, task_name: str, parts: list[dict[str, Any]]) -> HandedOn:
    """Hand a job on to parts: a job of ``task_name`` for each params, any worker's to run. The job
    stays running until its last part finishes it (:func:`part_done`), and fails when one fails. The
    parts are recorded and queued in one transaction: a job with parts handed on (:func:`run`)."""
    parent = uuid.UUID(job_id)
    with session_scope() as session:
        username = session.get(Job, parent).username  # type: ignore[union-attr]
        rows = [
            Job(kind=task_name, params=p, parent_id=parent, username=username, status="queued", stage="queued")
            for p in parts
        ]
        session.add_all(rows)
        session.flush()
        session.execute(
            update(Job)
            .where(Job.id == parent)
            .values(status="running", stage=f"0 of {len(rows)} parts done", percent=0, updated_at=text("now()"))
        )
        _defer(session, [row.id for row in rows])
    return HANDED_ON


def part_done(job_id: str, result: dict[str, Any]) -> uuid.UUID | None:
    """Record a part's result (its job still running); the job it is part of when no other part is
    left to do (then the caller finishes it: :func:`finish`), else None. The parts end one at a time
    on their job's row, so one of them is the last (again, when a lost last part is run again). A job
    queued again after its worker was lost once it had handed on is still its parts' to finish."""
    with session_scope() as session:
        parent_id = session.execute(select(Job.parent_id).where(Job.id == uuid.UUID(job_id))).scalar_one()
        status = session.execute(select(Job.status).where(Job.id == parent_id).with_for_update()).scalar_one()
        session.execute(update(Job).where(Job.id == uuid.UUID(job_id)).values(result=result))
        left, total = session.execute(
            select(func.count().filter(Job.result.is_(None)), func.count()).where(Job.parent_id == parent_id)
        ).one()
        session.execute(
            update(Job)
            .where(Job.id == parent_id, Job.status.in_(("queued", "running")))
            .values(stage=f"{total - left} of {total} parts done", percent=round(100 * (total - left) / total, 1))
        )
    return parent_id if left == 0 and status in ("queued", "running") else None


def finish(job_id: uuid.UUID | str, result: dict[str, Any]) -> None:
    """Record a job's success (a job handed on to parts: by its last part)."""
    _finish(str(job_id), "succeeded", result=result)


# Jobs handed on to parts, one of which failed: failed with that part's reason.
_FAIL_PARENTS = text(
    """
    UPDATE job SET status = 'failed', stage = 'failed', updated_at = now(),
           error = 'a part of this job failed (job ' || part.id || '): ' || coalesce(part.error, 'no reason given')
      FROM job part
     WHERE part.parent_id = job.id AND part.status = 'failed' AND job.status IN ('queued', 'running')
    RETURNING job.serial
    """
)


def _finish(job_id: str, status: str, *, error: str | None = None, result: dict | None = None) -> None:
    """End a job; the next job waiting for its serial key (or a failed parent's) is queued with it."""
    with session_scope() as session:
        key = session.execute(
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
            .returning(Job.serial)
        ).scalar_one_or_none()
        keys = [key] if key is not None else []
        if status == "failed":
            keys += [k for k in session.execute(_FAIL_PARENTS).scalars() if k is not None]
        if keys:
            _start_waiting(session, keys)


LOST = "the worker running this job was lost (its host or process stopped, or the server restarted); submit it again"
_STALLED = text(
    """
    SELECT pj.id, job.id AS job_id, job.kind, pj.attempts FROM procrastinate_jobs pj
      LEFT JOIN job ON job.queue_job_id = pj.id
     WHERE pj.status = 'doing' AND NOT EXISTS (
           SELECT 1 FROM procrastinate_workers w
            WHERE w.id = pj.worker_id AND w.last_heartbeat > now() - make_interval(secs => :stalled))
       FOR UPDATE OF pj SKIP LOCKED
    """
)

# Job rows left 'running' with no queue job a live worker is doing (a row whose queue job ended
# without it, or a server restarted under it), or left 'queued' on a queue job that ended without
# running it, and no part queued or running: failed with the reason (a failed job frees its serial key).
_ORPHANED = text(
    """
    UPDATE job SET status = 'failed', stage = 'failed', updated_at = now(),
           error = CASE WHEN status = 'running' THEN :lost ELSE :unrun END
     WHERE (status = 'running' AND NOT EXISTS (
               SELECT 1 FROM procrastinate_jobs pj JOIN procrastinate_workers w ON w.id = pj.worker_id
                WHERE pj.id = job.queue_job_id AND pj.status = 'doing'
                  AND w.last_heartbeat > now() - make_interval(secs => :stalled))
            OR status = 'queued' AND queue_job_id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM procrastinate_jobs pj WHERE pj.id = job.queue_job_id AND pj.status IN ('todo', 'doing')))
       AND NOT EXISTS (SELECT 1 FROM job part WHERE part.parent_id = job.id AND part.status IN ('queued', 'running'))
    """
)
UNRUN = "its queue job ended without running it; submit it again"

# procrastinate's own functions (what its job manager calls), here in the reaper's transaction.
_RETRY = text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)")
_FAIL = text("SELECT procrastinate_finish_job_v1(:id, 'failed', false)")


def reap(stalled_after_s: float = STALLED_AFTER_S) -> dict[str, int]:
    """The jobs of workers silent for ``stalled_after_s``: queued again when their task may be rerun
    (at most LOST_RETRIES times), else failed with the reason, as are job rows left running without
    a live worker; then the serial keys no job holds any longer start their next job. All in one
    transaction (workers reaping at once skip each other's rows). How many of each."""
    done = {"requeued": 0, "failed": 0}
    with session_scope() as session:
        for queue_id, job_id, kind, attempts in session.execute(_STALLED, {"stalled": stalled_after_s}).all():
            if kind in _rerunnable and attempts < LOST_RETRIES:
                stage, status = "queued again: the worker running it was lost", "queued"
                session.execute(_RETRY, {"id": queue_id})
                done["requeued"] += 1
            else:
                stage, status = "failed", "failed"
                session.execute(_FAIL, {"id": queue_id})
                done["failed"] += 1
            if job_id is not None:
                values: dict[str, Any] = {"status": status, "stage": stage, "updated_at": text("now()")}
                if status == "failed":
                    values["error"] = LOST
                session.execute(update(Job).where(Job.id == job_id).values(**values))
        session.execute(_FAIL_PARENTS)
        orphaned = session.execute(_ORPHANED, {"lost": LOST, "unrun": UNRUN, "stalled": stalled_after_s})
        done["failed"] += cast(CursorResult, orphaned).rowcount or 0
        _start_waiting(session)
    if any(done.values()):
        log.warning("jobs of lost workers: %(requeued)d queued again, %(failed)d failed", done)
    return done


async def _reap_forever() -> None:
    while True:
        try:
            await asyncio.to_thread(reap)
        except Exception as exc:  # noqa: BLE001 - the database may be failing over: next round
            log.info("could not look for lost jobs: %s", exc)
        await asyncio.sleep(REAP_EVERY_S)


@contextlib.asynccontextmanager
async def _opened(queue: procrastinate.App) -> AsyncIterator[None]:
    """The queue's connection pool, open while inside and closed however the inside or the opening ends.
    ``queue.open_async()`` as a context closes nothing when cancelled while its pool still connects (a
    server stopped as it starts): the pool's maintenance tasks then swallow the event loop's last cancel
    (psycopg_pool counts CancelledError among its callers' errors) and the loop never closes. A cancel
    the opening swallowed is raised again once it returns: else the worker started and ran for ever."""
    try:
        await queue.open_async()
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        yield
    finally:
        await queue.close_async()


async def _run_worker(queue: procrastinate.App, concurrency: int) -> None:
    """One procrastinate worker until it stops or is cancelled. Cancelled, it takes no new job and waits
    for the ones it runs (a job in a thread cannot be stopped halfway); procrastinate stops its heartbeat
    first, so other workers would reap those jobs as lost while they still run (seen: a job failed as lost,
    then finished): the heartbeat is kept here until the worker has stopped."""
    worker = Worker(app=queue, **worker_options(concurrency))
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        running.cancel()
        while not running.done():
            await asyncio.wait({running}, timeout=HEARTBEAT_S)
            if not running.done() and worker.worker_id is not None:
                with contextlib.suppress(Exception):  # the database may be going away too
                    await queue.job_manager.update_heartbeat(worker.worker_id)
                log.info("stopping: waiting for the jobs this worker runs to finish")
        raise


async def work(concurrency: int = 1) -> None:
    """A queue worker and its reaper, until cancelled. A worker stops when its database goes away
    (a failover); it is started again, on the multi-host URL, until the new primary answers."""
    queue = get_queue()
    reaper = asyncio.create_task(_reap_forever())
    try:
        while True:
            try:
                async with _opened(queue):
                    await _run_worker(queue, concurrency)
                log.warning("the queue worker stopped; starting it again")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever stopped it, a worker host keeps working
                log.warning("the queue worker stopped (%s); starting it again", exc)
            await asyncio.sleep(RESTART_AFTER_S)
    finally:
        reaper.cancel()
