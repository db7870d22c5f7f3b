"""The highly available site under load, on hosts of the test's own (tests/ha_site.py: network
namespaces for the monitor, two database nodes, two API hosts, a worker, nginx and a client).

A client writes sensor readings and lists the sensors through nginx the whole time. First the
primary's postmaster is SIGKILLed (its host with it): the standby is promoted within 30 s, every
write acknowledged before the kill is there afterwards, reads fail only inside the failover window,
writes in flight get a clean 503 with Retry-After, writes after it succeed, and the old primary
rejoins as the standby. Then one API host and the worker host are killed while import jobs run:
nginx routes around the API host, and every job ends (run again by a surviving worker, or failed
with the reason), none left running, none half-written. Last, both data nodes are lost and the
pgBackRest archive (which followed the failover) is restored: RPO and RTO. Counts come from the
client's own log and from SQL on the primary (or the restored cluster)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fixtures_records import Codes
from tests.ha_site import SENSOR, Site, build, until

pytestmark = [
    pytest.mark.ha,
    pytest.mark.skipif(shutil.which("pg_autoctl") is None, reason="pg_auto_failover: bash scripts/install_system.sh"),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx: bash scripts/install_system.sh"),
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]
FAILOVER_GOAL_S = 30
IMPORT_ROWS = 20000  # per job: several seconds of work
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    built = build()
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(scope="module")
def load(site: Site) -> Iterator[subprocess.Popen]:
    """The client's write and read load through nginx, for the whole module."""
    script = [sys.executable, str(ROOT / "tests" / "ha_load.py"), "load", str(site.client_config)]
    process = subprocess.Popen(site.command("client", script), env=site.env, cwd=ROOT)
    try:
        yield process
    finally:
        (site.root / "stop").touch()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def log(site: Site, name: str) -> list[dict]:
    path = site.root / f"{name}.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def acked(site: Site) -> list[dict]:
    return [w for w in log(site, "writes") if w["acked"]]


def figures(name: str, values: dict) -> None:
    print(f"HA {name}:", json.dumps(values))
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / f"ha_{name}.json").write_text(json.dumps(values))


def test_failover_under_load_through_nginx_loses_no_acknowledged_write(site, load):
    from ops import ha

    topology = site.topology
    assert topology is not None
    until(lambda: len(acked(site)) >= 40, 90, "40 acknowledged writes through nginx")
    primary = topology.nodes[0]
    assert ha.states(topology) == {"node1": "primary", "node2": "secondary"}
    killed_at = time.time()
    postmaster = primary.postmaster_pid
    assert postmaster is not None
    os.kill(postmaster, 9)
    site.kill_host("node1")
    until(lambda: any(w["sent"] > killed_at for w in acked(site)), 60, "a write acknowledged after the kill")
    recovered_at = min(w["done"] for w in acked(site) if w["sent"] > killed_at)
    until(lambda: ha.states(topology).get("node2") in ("wait_primary", "primary"), 30, "node2 promoted")
    more = len(acked(site)) + 20
    until(lambda: len(acked(site)) >= more, 60, "20 more acknowledged writes")
    rejoin_s = time.monotonic()
    ha.restart_keeper(topology, primary)
    until(lambda: ha.states(topology) == {"node1": "secondary", "node2": "primary"}, 120, "node1 rejoining")
    rejoin_s = time.monotonic() - rejoin_s
    until(lambda: log(site, "writes")[-1]["done"] > time.time() - 1, 30, "writes going on")

    writes, reads = log(site, "writes"), log(site, "reads")  # the load goes on: these lines, then the table
    stored = {row[0] for row in site.sql(f"SELECT time FROM sensor_reading WHERE sensor_id = '{SENSOR}'")}
    # the database's text of each acknowledged reading's time, computed by the database itself
    times = ",".join(f"'{w['time']}'" for w in writes if w["acked"])
    expected = {row[0] for row in site.sql(f"SELECT unnest(ARRAY[{times}]::timestamptz[])")}
    lost = expected - stored
    before_kill = [w for w in writes if w["acked"] and w["done"] <= killed_at]
    failed_reads = [r for r in reads if not r["ok"]]
    refused_writes = [w for w in writes if not w["acked"]]
    values = {
        "failover_s": round(recovered_at - killed_at, 2),
        "rejoin_s": round(rejoin_s, 1),
        "writes_acknowledged": len(expected),
        "acknowledged_before_kill": len(before_kill),
        "lost": len(lost),
        "writes_refused": len(refused_writes),
        "refusals": sorted({w["status"] for w in refused_writes}),
        "reads": len(reads),
        "reads_failed": len(failed_reads),
    }
    figures("failover", values)
    assert lost == set(), f"acknowledged writes lost: {sorted(lost)[:10]}"
    assert before_kill and len(expected) > len(before_kill) + 20
    assert recovered_at - killed_at <= FAILOVER_GOAL_S
    # Refused writes: only inside the failover window, each a problem+json 503 with Retry-After.
    assert all(killed_at - 1 <= w["sent"] <= recovered_at for w in refused_writes), refused_writes[:5]
    assert all(w["status"] == 503 and w["problem"] and w["retry_after"] for w in refused_writes), refused_writes[:5]
    # Reads fail, if at all, only inside the window; every read after it succeeded.
    assert all(killed_at - 1 <= r["sent"] <= recovered_at for r in failed_reads), failed_reads[:5]
    assert len([r for r in reads if r["sent"] > recovered_at]) >= 20
    # Afterwards reads go to the standby (node1 again, now in recovery), writes to the primary.
    assert site.sql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == [["1"]]


def _enterprises(path, tag: str, rows: int) -> None:
    """A records file of ``rows`` new enterprises, their names starting with ``tag``."""
    codes = Codes()
    with path.open("w", newline="", encoding="utf-8") as out:
        table = csv.writer(out)
        table.writerow(["统一社会信用代码", "企业名称", "企业类型", "法定代表人", "注册日期", "信用等级"])
        for i in range(rows):
            table.writerow([codes.uscc(), f"{tag}建设工程{i}有限公司", "施工总承包", f"李{i}", "2016/5/1", "A"])


def test_a_lost_api_host_and_worker_leave_no_job_running_and_nothing_half_written(site, load):
    submitted = {}
    for n in range(3):
        path, tag = site.root / "data" / f"enterprises-{n}.csv", f"高可用测试{n}号"
        _enterprises(path, tag, IMPORT_ROWS)
        answer = site.client("upload", "/api/v1/records/enterprises/imports", str(path))
        assert answer["status"] == 202, answer
        submitted[answer["body"]["job_id"]] = tag
    ids = ",".join(f"'{j}'" for j in submitted)

    def statuses() -> dict[str, str]:
        return dict(site.sql(f"SELECT id, status FROM job WHERE id IN ({ids})"))

    # Three workers (one in each API process, the worker host's) take one job each: once two run,
    # one at least runs on a host about to be lost (the surviving API process runs one at a time).
    def two_running() -> bool:
        return list(statuses().values()).count("running") >= 2

    try:
        until(two_running, 180, "two jobs running at once", pause=0.2)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}: {site.sql(f'SELECT status, stage, error FROM job WHERE id IN ({ids})')}"
        ) from None
    killed_at = time.time()
    site.kill_host("api1")
    site.kill_host("worker")

    def ended() -> bool:
        return set(statuses().values()) <= {"succeeded", "failed"}

    until(ended, 240, "every job ending", pause=1)
    final = site.sql(
        f"""SELECT job.id, job.status, coalesce(job.error, ''), pj.attempts FROM job
              JOIN procrastinate_jobs pj ON pj.id = job.queue_job_id WHERE job.id IN ({ids})"""
    )
    half_written, outcome = [], {}
    for job_id, status, error, attempts in final:
        stored = int(site.sql(f"SELECT count(*) FROM enterprise WHERE name LIKE '{submitted[job_id]}%'")[0][0])
        if stored != (IMPORT_ROWS if status == "succeeded" else 0):
            half_written.append((job_id, status, stored))
        outcome[job_id] = (status, error, int(attempts))
    writes, reads = log(site, "writes"), log(site, "reads")
    after = [r for r in [*writes, *reads] if r["sent"] > killed_at]
    in_flight = [r for r in [*writes, *reads] if r["sent"] <= killed_at < r["done"]]
    failed_after = [r for r in after if r["status"] != 200]
    # procrastinate counts each run that ended (a rerun after a loss: 2), the reaper's reason says "was lost"
    interrupted = [j for j, (s, e, a) in outcome.items() if a >= 2 or "was lost" in e]
    values = {
        "jobs": {j: {"status": s, "error": e, "lost_runs": a} for j, (s, e, a) in outcome.items()},
        "interrupted": len(interrupted),
        "requests_after_kill": len(after),
        "failed_after_kill": len(failed_after),
        "in_flight_at_kill": [r["status"] for r in in_flight],
    }
    figures("lost_hosts", values)
    assert half_written == []
    # the jobs of the lost workers were noticed: run again, or failed with the reason
    assert len(interrupted) >= 1, outcome
    assert all(s == "succeeded" or (s == "failed" and e) for s, e, _ in outcome.values()), outcome
    # nginx routes around the dead API host: every request sent after the kill succeeded
    assert len(after) >= 50, len(after)
    assert failed_after == [], [(r["status"], round(r["sent"] - killed_at, 2), "i" in r) for r in failed_after]


def _micros(stamp: str) -> int:
    """An ISO time as whole microseconds since the epoch (exact, no float)."""
    return (datetime.fromisoformat(stamp) - EPOCH) // timedelta(microseconds=1)


def test_losing_both_data_nodes_loses_at_most_a_minute_of_acknowledged_writes(site, load):
    """RPO and RTO of the pair (run last: it ends the site's database). Both data nodes' hosts die
    under the client's write load; the newest state in the pgBackRest repository (archived by node1,
    then, after the failover above, by node2) is restored into a scratch cluster. RPO: the newest
    acknowledged write's acknowledgement minus that of the newest acknowledged write recovered; RTO:
    the kill → the scratch cluster taking a write."""
    from ops import backup, ha
    from ops.postgres import psql, stop

    topology = site.topology
    assert topology is not None
    more = len(acked(site)) + 10
    until(lambda: len(acked(site)) >= more, 60, "10 more acknowledged writes")
    place = ha.backups(topology, site.primary())
    for node in topology.nodes:
        site.kill_host(node.name)
    started = time.monotonic()
    answer = backup.restore(backup.plan(None, site.root / "restored", 1, place), place)
    folder, port = Path(str(answer["data_dir"])), int(str(answer["port"]))
    try:
        query = f"SELECT (extract(epoch FROM time) * 1000000)::bigint FROM sensor_reading WHERE sensor_id = '{SENSOR}'"
        stored = {int(row) for row in psql(folder, port, query, ha.DATABASE).split()}
        psql(folder, port, "CREATE TABLE restore_drill (id int); INSERT INTO restore_drill VALUES (1)", ha.DATABASE)
        rto_s = time.monotonic() - started
    finally:
        stop(folder, "immediate")
    writes = sorted(acked(site), key=lambda w: w["i"])
    recovered = [w for w in writes if _micros(w["time"]) in stored]
    newest = recovered[-1]["done"] if recovered else writes[0]["sent"]
    values = {
        "acknowledged": len(writes),
        "recovered": len(recovered),
        "rpo_s": round(writes[-1]["done"] - newest, 1),
        "rto_s": round(rto_s, 1),
        "restore_s": answer["seconds"],
        "archive_timeout_s": backup.ARCHIVE_TIMEOUT_S,
    }
    figures("restore", values)
    assert recovered == writes[: len(recovered)]  # a prefix of what was acknowledged, no gap
    # besides those, at most the one reading in flight at the kill (stored, its answer lost)
    assert len(stored - {_micros(w["time"]) for w in writes}) <= 1
    assert writes[-1]["done"] - newest <= backup.ARCHIVE_TIMEOUT_S
    assert rto_s <= 600
