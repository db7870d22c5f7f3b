"""Backups and point-in-time recovery (pgBackRest) of a bundled cluster of the tests' own: a full
and an incremental backup in two repositories, and the drill: rows deleted by mistake come back
by restoring to a time before the delete into a scratch cluster, counted there independently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.conftest import ROOT
from tests.fixtures_ops import bundled_at

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "pgbackrest"], capture_output=True).returncode != 0,
    reason="pgbackrest is not installed: bash scripts/install_system.sh",
)


def cim(data_dir, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CIM_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "spatial_api.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )


def test_rows_deleted_by_mistake_come_back_in_a_scratch_cluster(own_cluster):
    from core import cluster
    from ops import backup
    from ops.postgres import stop

    with bundled_at(own_cluster):
        backup.setup()  # archiving on: the first time, a restart
        engine = create_engine(cluster.status().owner_url or "", isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with engine.connect() as conn:
            conn.execute(text("DROP TABLE IF EXISTS drill; CREATE TABLE drill (id int PRIMARY KEY, note text)"))
            conn.execute(text("INSERT INTO drill SELECT g, 'before the full' FROM generate_series(1, 500) g"))
        full = backup.now("full", (1, 2))
        assert sorted((b.repo, b.type) for b in full) == [(1, "full"), (2, "full")]
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO drill SELECT g, 'before the incr' FROM generate_series(501, 700) g"))
        incr = backup.now("incr", (1,))
        assert [(b.repo, b.type) for b in incr] == [(1, "incr")]
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO drill SELECT g, 'only in the WAL' FROM generate_series(701, 800) g"))
            before_delete = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            conn.execute(text("SELECT pg_sleep(0.2)"))
            deleted = conn.execute(text("DELETE FROM drill WHERE id % 3 = 0")).rowcount
            left = conn.execute(text("SELECT count(*) FROM drill")).scalar_one()
        engine.dispose()
        assert (deleted, left) == (266, 534)  # 800 // 3 multiples of three
        listed = cim(own_cluster, "backup", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        labels = [b["label"] for b in json.loads(listed.stdout.strip().splitlines()[-1])["backups"]]
        assert labels == [b.label for b in sorted(full + incr, key=lambda b: (b.stopped, b.repo))]
        verified = cim(own_cluster, "backup", "verify", "--json")  # also pushes the delete's WAL to the archive
        assert verified.returncode == 0, verified.stderr

        planned = cim(own_cluster, "restore", "--to", before_delete.isoformat(), "--plan")
        assert planned.returncode == 0, planned.stderr
        assert f"copy backup {incr[0].label}" in planned.stdout and "untouched" in planned.stdout
        restored = cim(own_cluster, "restore", "--to", before_delete.isoformat(), "--json")
        assert restored.returncode == 0, restored.stderr
        assert "restore plan" in restored.stdout
        answer = json.loads(restored.stdout.strip().splitlines()[-1])
        try:
            as_owner = {"username": cluster.OWNER_USER, "password": cluster.password(cluster.OWNER_USER)}
            scratch = create_engine(make_url(answer["url"]).set(**as_owner))  # the drill's table is the owner's
            with scratch.connect() as conn:
                rows = conn.execute(text("SELECT id FROM drill ORDER BY id")).scalars().all()
                notes = dict(conn.execute(text("SELECT note, count(*) FROM drill GROUP BY note")).all())
            scratch.dispose()
        finally:
            stop(Path(answer["data_dir"]), "fast")
        assert rows == list(range(1, 801))
        assert notes == {"before the full": 500, "before the incr": 200, "only in the WAL": 100}
        with create_engine(cluster.status().owner_url or "").connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM drill")).scalar_one() == 534  # the running one untouched


def test_a_restore_asks_for_a_time_it_can_reach(own_cluster):
    bad = cim(own_cluster, "restore", "--to", "yesterday")
    assert bad.returncode == 2 and "is not an ISO time" in bad.stderr
    naive = cim(own_cluster, "restore", "--to", "2026-01-01T00:00:00")
    assert naive.returncode == 2 and "with its zone" in naive.stderr
    early = cim(own_cluster, "restore", "--to", datetime(2000, 1, 1).astimezone().isoformat())
    assert early.returncode == 2 and "no backup in repository 1 finished before" in early.stderr


def test_losing_the_machine_loses_at_most_a_minute_of_acknowledged_writes(own_cluster):
    """RPO and RTO: a steady write load for longer than archive_timeout, then the postmaster is
    SIGKILLed (nothing more reaches the archive) and the newest state in the repository is restored
    into a scratch cluster. RPO: the newest acknowledged write's time minus the newest recovered
    one's (all of the load when none came back); RTO: the restore, start to taking writes."""
    import signal
    import time

    from core import cluster
    from ops import backup
    from ops.postgres import stop

    with bundled_at(own_cluster):
        place = backup.setup()
        if not [b for b in backup.listing(place) if b.repo == 1]:  # run alone: the drill's backups are not there
            backup.now("full", (1,))
        engine = create_engine(cluster.status().owner_url or "", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP TABLE IF EXISTS rpo; CREATE TABLE rpo (id int PRIMARY KEY)"))
            acked: list[float] = []
            deadline = time.monotonic() + backup.ARCHIVE_TIMEOUT_S + 5
            while time.monotonic() < deadline:
                conn.execute(text("INSERT INTO rpo VALUES (:i)"), {"i": len(acked)})
                acked.append(time.time())
                time.sleep(0.05)
        engine.dispose()
        os.kill(int((place.data_dir / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
        started = time.monotonic()
        answer = backup.restore(backup.plan(None))
        rto_s = time.monotonic() - started
        try:
            as_owner = {"username": cluster.OWNER_USER, "password": cluster.password(cluster.OWNER_USER)}
            scratch = create_engine(make_url(str(answer["url"])).set(**as_owner))
            with scratch.connect() as conn:
                present = conn.execute(text("SELECT count(*), max(id) FROM rpo")).one()
                conn.execute(text("INSERT INTO rpo VALUES (-1)"))  # it takes writes
                conn.commit()
            scratch.dispose()
        finally:
            stop(Path(str(answer["data_dir"])), "immediate")
            cluster.down()
            cluster.up(place.port)  # crash recovery of the original: the session's teardown stops it
    count, newest = present
    rpo_s = acked[-1] - acked[newest if newest is not None else 0]
    figures = {"acknowledged": len(acked), "recovered": count, "rpo_s": round(rpo_s, 1), "rto_s": round(rto_s, 1)}
    print("RPO/RTO:", json.dumps(figures))
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "backup_rpo.json").write_text(json.dumps(figures))
    assert newest is None or count == newest + 1  # a prefix of the load, no gap
    assert rpo_s <= backup.ARCHIVE_TIMEOUT_S
    assert rto_s <= 600
