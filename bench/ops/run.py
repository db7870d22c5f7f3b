"""RPO and RTO of the backups: a bundled cluster of its own, archiving with the product's settings
(archive_timeout 60 s), a full backup, then a steady write load (one row every 20 ms, each
acknowledged id and time kept); the machine is lost (postmaster SIGKILLed, nothing more reaches the
archive); `restore --to latest` from the repository into a scratch cluster. RPO = the newest
acknowledged write's time minus the newest recovered row's; RTO = from the start of the restore to
a cluster that takes writes. Prints one JSON object.

    .venv/bin/python bench/ops/run.py [--seconds 30]
    .venv/bin/python bench/ops/run.py --data-dir .data --url URL   # the bundled cluster there, e.g. holding a
        # province `bench/province/run.py --keep` loaded: its size in the result; it is SIGKILLed like
        # a fresh one (start it again with `cim db up`), the restored copy removed after; it stays backed up
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, make_url, text  # noqa: E402

from core import cluster  # noqa: E402
from core.settings import Settings, configured  # noqa: E402
from ops import backup  # noqa: E402
from ops.postgres import stop  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--data-dir", type=Path, help="an existing bundled cluster's data dir, kept (not a fresh one)")
    parser.add_argument("--url", help="with --data-dir: a database there the writes may create their table in")
    args = parser.parse_args()
    kept = args.data_dir is not None
    place = args.data_dir.resolve() if kept else Path(tempfile.mkdtemp(prefix="cim-bench-ops-", dir="/var/tmp"))
    place.chmod(0o755)
    result: dict[str, object] = {"write_seconds": args.seconds, "archive_timeout_s": backup.ARCHIVE_TIMEOUT_S}
    restored_dir = None
    try:
        with configured(Settings(data_dir=place)):
            cluster.up()
            backup.setup()
            url = args.url or cluster.status().url or ""
            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("DROP TABLE IF EXISTS rpo"))
                conn.execute(text("CREATE TABLE rpo (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())"))
                sizes = "SELECT sum(pg_database_size(oid)) FROM pg_database"
                result["cluster_bytes"] = int(conn.execute(text(sizes)).scalar_one())
            started = time.monotonic()
            backup.now("full", (1,))
            result["full_backup_s"] = round(time.monotonic() - started, 1)
            acked: list[tuple[int, float]] = []
            deadline = time.monotonic() + args.seconds
            with engine.connect() as conn:
                while time.monotonic() < deadline:
                    conn.execute(text("INSERT INTO rpo (id) VALUES (:i)"), {"i": len(acked) + 1})
                    acked.append((len(acked) + 1, time.time()))
                    time.sleep(0.02)
            engine.dispose()
            pid = int((cluster.status().data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)  # the machine is lost: only the repository remains
            lost_at = time.time()
            started = time.monotonic()
            the_plan = backup.plan(None)
            answer = backup.restore(the_plan)
            rto = time.monotonic() - started
            restored_dir = Path(str(answer["data_dir"]))
            scratch = create_engine(make_url(str(answer["url"])).set(database=make_url(url).database))
            with scratch.connect() as conn:
                present, newest = conn.execute(text("SELECT count(*), max(id) FROM rpo")).one()
            scratch.dispose()
            newest_at = dict(acked).get(newest or 0, acked[0][1] if acked else lost_at)
            result |= {
                "acknowledged": len(acked),
                "recovered": present,
                "lost_rows": len(acked) - present,
                "rpo_s": round(acked[-1][1] - newest_at, 1) if newest else round(args.seconds, 1),
                "rto_s": round(rto, 1),
                "restore_seconds_reported": answer["seconds"],
            }
    finally:
        if restored_dir is not None:
            stop(restored_dir, "immediate")
            if kept:
                shutil.rmtree(restored_dir, ignore_errors=True)
        with configured(Settings(data_dir=place)):
            stop(cluster.status().data_dir, "immediate")
        if not kept:
            shutil.rmtree(place, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
