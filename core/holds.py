"""A serial key (:mod:`core.jobs`) held by work run outside the queue as well as by its queued jobs, so
that the key's work never overlaps whichever path it comes from (a layer's tile builds: ``cim tiles
build``, a review approval's rebuild in its request, the ``tiles.build`` jobs).

Every run of the key's work, inline or a queued job's own run, holds the key's PostgreSQL session-level
advisory lock on a connection of its own, from before it reads until it has written (:func:`hold`), in
the process that reads and writes (a queued job's spawned child). A lock ends with its session: a
process that dies, even by ``kill -9``, frees the key with no heartbeat of its own. A queued job that
hands its work on to parts (:func:`core.jobs.fan_out`, inside the lock) lets go of the lock when it has
handed on; its job row holds the key for its parts (it runs until its last part ends it), so a holder
of the lock also waits, lock in hand, while a job of its key handed on to parts has parts in flight.

No wait closes a ring: parts take no lock, and a queued job of the key cannot run (nor so wait for the
lock, in a worker slot the parts might need) while another of its key is handed on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from core.db import database_url

Progress = Callable[[str, float], None]
POLL_S = 0.5  # how often a holder looks whether the parts of a job handed on have ended
# A client gone with its host (no FIN sent): its server session, and so its lock, ends after
# idle + interval * count seconds without an answer (the default is two hours).
KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}
_KEEPALIVES = "SELECT " + ", ".join(f"set_config('{name}', %({name})s, false)" for name in KEEPALIVES)

CLASS = "cim.jobs.hold"  # the advisory locks' first key: hashtext of this; the second: hashtext of the key
_LOCK = f"hashtext('{CLASS}'), hashtext(%(key)s)"
_HOLDER = f"""
    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.classid = hashtext('{CLASS}')::oid AND l.objid = hashtext(%(key)s)::oid
"""
# a job of the key handed on to parts (queued again, when its worker was lost after), parts in flight
_HANDED_ON = """
    SELECT job.id FROM job
     WHERE job.serial = %(key)s AND job.status IN ('queued', 'running') AND job.id IS DISTINCT FROM %(own)s::uuid
       AND EXISTS (SELECT 1 FROM job part WHERE part.parent_id = job.id AND part.status IN ('queued', 'running'))
     ORDER BY job.created_at LIMIT 1
"""
APP = "cim hold"  # application_name of a lock's session outside the queue; a queued job's: JOB + its id
JOB = f"{APP} job "


@contextmanager
def hold(key: str, what: str, progress: Progress | None = None, job_id: str | None = None) -> Iterator[None]:
    """The key's lock, held inside (waiting first while another holds it, then while a job of the key
    handed on has parts in flight); ``what`` names the work in the stages reported while it waits
    ("waiting for {what} running in job <id>" or "... running outside the queue"); ``job_id``: the
    queued job this run is."""
    report = progress or (lambda stage, percent: None)
    conninfo = database_url().replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True, application_name=APP if job_id is None else JOB + job_id) as conn:
        conn.execute(_KEEPALIVES, KEEPALIVES)
        locked = conn.execute(f"SELECT pg_try_advisory_lock({_LOCK})", {"key": key}).fetchone()
        if not (locked and locked[0]):
            holder = conn.execute(_HOLDER, {"key": key}).fetchone()
            name = (holder[0] if holder else None) or ""
            where = f"in job {name.removeprefix(JOB)}" if name.startswith(JOB) else "outside the queue"
            report(f"waiting for {what} running {where}", 0)
            conn.execute(f"SELECT pg_advisory_lock({_LOCK})", {"key": key})
        while (handed_on := conn.execute(_HANDED_ON, {"key": key, "own": job_id}).fetchone()) is not None:
            report(f"waiting for {what} running in job {handed_on[0]}", 0)
            time.sleep(POLL_S)
        yield
    # the connection closed: its session, and the lock, ended
