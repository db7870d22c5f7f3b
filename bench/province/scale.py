"""Province scale-out, each figure beside the single process in the same run, on a generated province:

- identify and items-within at 8 and 32 clients: straight to one API process (the single-process
  figure), then through nginx (the project's configuration, `ops.nginx`, TLS) in front of one and of
  two API processes;
- tiling throughput (the buildings, pipelines and pipe_nodes tilesets rebuilt from scratch): `build_layer`
  called in this process one layer after another, then the same three layers as `tiles.build` jobs on
  the job queue (`core.jobs`) run by one and by two `cim worker` processes;
- replication lag under write load: a primary of its own (`cim db up` in a scratch folder) alone, then
  with a hot standby made by `pg_basebackup` (asynchronous, then synchronous as pg_auto_failover runs
  it): rows/s written and the standby's lag sampled from `pg_stat_replication` every 0.2 s.

Writes bench/province/scale.json and the scale-out part of bench/province/RESULTS.md.

    .venv/bin/python bench/province/scale.py --cities 4 --buildings 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.api.run import _square, drive, free_port, percentile, wait_for, workload  # noqa: E402

RESULTS = ROOT / "bench" / "province" / "RESULTS.md"
BEGIN, END = "<!-- scale-out: bench/province/scale.py -->", "<!-- /scale-out -->"
TILE_LAYERS = ("buildings", "pipelines", "pipe_nodes")
CLIENTS = (8, 32)
WRITE_S = 10.0


def _api(port: int, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", "spatial_api.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def api(url: str, requests: int) -> dict[str, Any]:
    """identify and within at 8 and 32 clients: direct to one process, through nginx to one and two."""
    from ops import nginx

    load = workload(url, requests)
    env = {**os.environ, "CIM_RATE_LIMIT_PER_MINUTE": "100000000"}
    ports = [free_port(), free_port()]
    servers = [_api(port, env) for port in ports]
    place = Path(tempfile.mkdtemp(prefix="cim-bench-nginx-", dir="/var/tmp"))
    place.chmod(0o755)
    out: dict[str, Any] = {}
    try:
        for port, server in zip(ports, servers, strict=True):
            wait_for(f"http://127.0.0.1:{port}/api/v1/conformance", server)
        setups: list[tuple[str, str, str | bool, nginx.Front | None]] = [
            ("1 process, direct", f"http://127.0.0.1:{ports[0]}/api/v1", True, None)
        ]
        for count in (1, 2):
            front = nginx.Front(place / f"front{count}", free_port(), tuple(f"127.0.0.1:{p}" for p in ports[:count]))
            nginx.write(front)
            nginx.start(front)
            setups.append(
                (
                    f"nginx, {count} process{'es' if count > 1 else ''}",
                    f"https://127.0.0.1:{front.port}/api/v1",
                    str(front.certificate),
                    front,
                )
            )
        try:
            for name, base, verify, _ in setups:
                calls: dict[str, list[tuple[str, str, dict | None]]] = {
                    "identify": [("GET", f"{base}/query/identify?lon={x}&lat={y}", None) for x, y in load["points"]],
                    "within": [("POST", f"{base}/query/within", _square(x, y, 0.003)) for x, y in load["points"]],
                }
                for kind, reqs in calls.items():
                    for clients in CLIENTS:
                        asyncio.run(drive(reqs[: 4 * clients], clients, verify))  # warm the pools
                        figures = asyncio.run(drive(reqs, clients, verify))
                        out.setdefault(kind, {}).setdefault(str(clients), {})[name] = figures
                        print(kind, clients, name, figures, flush=True)
        finally:
            for _, _, _, proxy in setups:
                if proxy is not None:
                    nginx.stop(proxy)
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
        shutil.rmtree(place, ignore_errors=True)
    return out


def _tiles() -> int:
    from tiles.build import layer_dir

    return sum(1 for layer in TILE_LAYERS for _ in layer_dir(layer).rglob("*.glb"))


def tiling(warm_up: bool = True) -> dict[str, Any]:
    """The three tilesets from scratch: in this process, then as jobs run by one and two workers; first,
    unless not ``warm_up``, a pass untimed (a large province's pass is long, and its cache effect small)."""
    from core import jobs
    from core.db import get_engine
    from spatial_api import tasks  # noqa: F401 - registers the tasks
    from tiles.build import build_layer, layer_dir

    def clear() -> None:
        for layer in TILE_LAYERS:
            shutil.rmtree(layer_dir(layer), ignore_errors=True)

    out: dict[str, Any] = {}
    for layer in TILE_LAYERS if warm_up else ():  # imports and the rows in cache, as the workers find them
        build_layer(layer)
    clear()
    started = time.perf_counter()
    features = sum(int(build_layer(layer).get("features", 0)) for layer in TILE_LAYERS)
    seconds = time.perf_counter() - started
    out["in this process"] = {"seconds": round(seconds, 1), "tiles": _tiles(), "features": features}
    for count in (1, 2):
        clear()
        engine = get_engine()
        with engine.connect() as conn:  # workers of earlier parts (the API processes') are not counted
            baseline = conn.execute(text("SELECT coalesce(max(id), 0) FROM procrastinate_workers")).scalar_one()
        command = [sys.executable, "-m", "spatial_api.cli", "worker"]
        log = tempfile.NamedTemporaryFile(prefix="cim-bench-workers-", suffix=".log", delete=False)  # noqa: SIM115
        workers = [subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT) for _ in range(count)]
        try:
            query = text("SELECT count(*) FROM procrastinate_workers WHERE id > :b")
            deadline = time.monotonic() + 600  # imports take long on a loaded machine
            while True:
                with engine.connect() as conn:
                    if int(conn.execute(query, {"b": baseline}).scalar_one()) >= count:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{count} workers did not start")
                time.sleep(0.2)
            started = time.perf_counter()
            ids = [str(jobs.submit("tiles.build", {"layer": layer})) for layer in TILE_LAYERS]
            give_up = started + 5 * out["in this process"]["seconds"] + 120
            while True:
                with engine.connect() as conn:
                    statuses = conn.execute(
                        text("SELECT status, error FROM job WHERE CAST(id AS text) = ANY(:ids)"), {"ids": ids}
                    ).all()
                if all(s in ("succeeded", "failed") for s, _ in statuses):
                    break
                if any(worker.poll() is not None for worker in workers) or time.perf_counter() > give_up:
                    break
                time.sleep(0.2)
            seconds = time.perf_counter() - started
            failed = sorted({e or f"{s}: the worker stalled" for s, e in statuses if s != "succeeded"})
            with engine.connect() as conn:  # how many parts each layer's job was handed on to (tiles.parts)
                parts = dict(
                    conn.execute(
                        text("SELECT job.params->>'layer', count(part.id) FROM job LEFT JOIN job part"
                             " ON part.parent_id = job.id WHERE CAST(job.id AS text) = ANY(:ids) GROUP BY 1"),
                        {"ids": ids},
                    ).all()
                )  # fmt: skip
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(60)
                except subprocess.TimeoutExpired:  # a stalled worker's job thread never ends
                    worker.kill()
                    worker.wait()
        name = f"{count} worker{'s' if count > 1 else ''}"
        out[name] = {"seconds": round(seconds, 1), "tiles": _tiles(), "features": features, "errors": failed}
        out[name]["parts"] = parts
    for figures in out.values():
        figures["features_per_s"] = (
            None if figures.get("errors") else round(figures["features"] / figures["seconds"], 1)
        )
    return out


def replication() -> dict[str, Any]:
    """Rows/s of a writer on a primary alone, with an asynchronous and with a synchronous standby,
    and the standby's replay lag (time and bytes) sampled meanwhile."""
    from core import cluster
    from core.settings import Settings, configured
    from ops.backup import HOT_STANDBY_LIMITS
    from ops.postgres import give_to_owner, psql, start, stop, wait_until

    place = Path(tempfile.mkdtemp(prefix="cim-bench-repl-", dir="/var/tmp"))
    place.chmod(0o755)
    out: dict[str, Any] = {}
    standby = place / "standby"
    try:
        with configured(Settings(data_dir=place / "primary")):
            state = cluster.up()
            primary, port = state.data_dir, state.port or 0
            url = state.admin_url or ""
            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("CREATE TABLE load (id bigserial PRIMARY KEY, at timestamptz, body text)"))
            out["primary alone"] = _write(engine, None)
            env = {**os.environ, "PGPASSWORD": cluster.password(cluster.ADMIN_USER)}
            backup = [str(cluster.server_bindir() / "pg_basebackup"), "-D", str(standby), "-h", "127.0.0.1"]
            backup += ["-p", str(port), "-U", cluster.ADMIN_USER, "-R", "-X", "stream", "-c", "fast"]
            give_to_owner(standby).chmod(0o700)
            copied = subprocess.run(cluster.as_owner(backup), env=env, capture_output=True, text=True)
            if copied.returncode:
                raise RuntimeError(f"pg_basebackup failed: {copied.stderr[-500:]}")
            # a hot standby's limits may not be below its primary's
            limits = [f"-c {name}={psql(primary, port, f'SHOW {name}')}" for name in HOT_STANDBY_LIMITS]
            start(standby, free_port(), "-c hot_standby=on", *limits)
            wait_until(lambda: psql(primary, port, "SELECT count(*) FROM pg_stat_replication") == "1", 120, "streaming")
            out["async standby"] = _write(engine, (primary, port))
            psql(primary, port, "ALTER SYSTEM SET synchronous_standby_names = '*'")
            psql(primary, port, "SELECT pg_reload_conf()")
            wait_until(lambda: psql(primary, port, "SELECT sync_state FROM pg_stat_replication") == "sync", 60, "sync")
            out["sync standby"] = _write(engine, (primary, port))
            engine.dispose()
            stop(standby, "fast")
            cluster.down()
    finally:
        stop(standby, "immediate")
        shutil.rmtree(place, ignore_errors=True)
    return out


def _write(engine, primary: tuple[Path, int] | None) -> dict[str, Any]:
    """For WRITE_S: batches of 500 rows (one commit each), then single-row commits; the lag sampled."""
    from ops.postgres import psql

    lags: list[float] = []
    behind: list[int] = []
    done = threading.Event()

    def sample() -> None:
        assert primary is not None
        query = (
            "SELECT coalesce(extract(epoch FROM replay_lag), 0), "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication WHERE replay_lsn IS NOT NULL"
        )
        while not done.is_set():
            row = psql(*primary, query)
            if "|" in row:
                lag, gap = row.split("|")
                lags.append(float(lag))
                behind.append(int(float(gap)))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample) if primary else None
    if sampler:
        sampler.start()
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            for name, rows in (("batch_rows_per_s", 500), ("single_commits_per_s", 1)):
                written, started = 0, time.perf_counter()
                statement = text(
                    "INSERT INTO load (at, body) SELECT clock_timestamp(), repeat(md5(random()::text), 8) "
                    "FROM generate_series(1, :n)"
                )
                while time.perf_counter() - started < WRITE_S / 2:
                    conn.execute(statement, {"n": rows})
                    written += rows
                out[name] = round(written / (time.perf_counter() - started), 1)
    finally:
        done.set()
        if sampler:
            sampler.join()
    if lags:
        out |= {
            "replay_lag_ms": {f"p{q}": round(percentile(lags, q) * 1000, 1) for q in (50, 99)}
            | {"max": round(max(lags) * 1000, 1)},
            "behind_bytes": {f"p{q}": int(percentile([float(b) for b in behind], q)) for q in (50, 99)}
            | {"max": max(behind)},
            "samples": len(lags),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cities", type=int, default=4)
    parser.add_argument("--buildings", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--url", help="measure the province an earlier `bench/province/run.py --keep` left")
    parser.add_argument("--data-dir", type=Path, help="with --url: the data dir that run left")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="no untimed tiling pass first")
    parser.add_argument("--only", choices=("replication", "api", "tiling"),
                        help="measure this part again, the others kept from scale.json (same province)")  # fmt: skip
    args = parser.parse_args()
    from bench.scratch import kept_database, scratch_database
    from sample_models.province import province_cities, write_province

    result: dict[str, Any] = {"cities": args.cities, "buildings": args.buildings, "loadavg": {}, "load_s": None}
    result["warm_up"] = args.warm_up
    place = kept_database(args.url, args.data_dir) if args.url else scratch_database("province_scale")
    with place as (url, _):
        if args.url:
            with create_engine(url).connect() as conn:
                result["buildings"] = conn.execute(text("SELECT count(*) FROM building")).scalar_one()
                result["cities"] = conn.execute(text("SELECT count(*) FROM division WHERE level = 2")).scalar_one()
        else:
            started = time.perf_counter()
            write_province(province_cities(args.cities, args.buildings, args.seed))
            result["load_s"] = round(time.perf_counter() - started, 1)
            with create_engine(url).connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        parts = (
            ("replication", replication),
            ("api", lambda: api(url, args.requests)),
            ("tiling", lambda: tiling(args.warm_up)),
        )
        other = None  # tiling measured on another province than scale.json's: kept beside its figures
        if args.only:
            kept = json.loads((ROOT / "bench" / "province" / "scale.json").read_text())
            if args.only == "tiling" and result["buildings"] != kept["buildings"]:
                other = {k: result[k] for k in ("buildings", "cities", "warm_up")} | {"loadavg": {}}
                kept.setdefault("tiling on other provinces", []).append(other)
            result = kept | ({"warm_up": args.warm_up} if args.only == "tiling" and other is None else {})
            parts = tuple((name, measure) for name, measure in parts if name == args.only)
        for part, measure in parts:
            before = Path("/proc/loadavg").read_text().split()[:3]
            into = result if other is None else other
            into[part] = measure()
            (ROOT / "bench" / "province" / "scale.json").write_text(
                json.dumps(result, indent=1)
            )  # kept if a later part fails
            into["loadavg"][part] = [before, Path("/proc/loadavg").read_text().split()[:3]]
    (ROOT / "bench" / "province" / "scale.json").write_text(json.dumps(result, indent=1))
    write_results(result)


def _ratio(value: float, peer: float) -> str:
    return f"{value / peer:.2f}×" if value and peer else "—"


def sizing(result: dict[str, Any]) -> list[str]:
    """The nodes of a 10,000,000-building province, from this run's rates (linear in rows)."""
    scale = 10_000_000 / result["buildings"]
    tiling = result["tiling"]
    features = tiling["in this process"]["features"] * scale
    hours = {name: features / f["features_per_s"] / 3600 for name, f in tiling.items() if f["features_per_s"]}
    queued = " ".join(f"{n}: {h:.1f} h." for n, h in hours.items() if n != "in this process")
    api = {k: result["api"][k]["32"] for k in ("identify", "within")}
    sync = result["replication"]["sync standby"]
    return [
        "",
        "### Sizing the nodes of a 10,000,000-building province from these rates",
        "",
        f"- **Tiling**: {features:,.0f} features (buildings, pipelines, pipe nodes at this province's ratios);"
        f" a full rebuild takes {hours['in this process']:.1f} h in one process (its leaves meshed by"
        f" {os.cpu_count()} forked processes here). Queue workers: {queued or 'no figure (see the table)'}",
        f"- **API**: at 32 clients through nginx, identify {api['identify']['nginx, 2 processes']['rps']} req/s and"
        f" within {api['within']['nginx, 2 processes']['rps']} req/s with two processes against"
        f" {api['identify']['nginx, 1 process']['rps']} / {api['within']['nginx, 1 process']['rps']} with one, on"
        " the same 2 cores as PostgreSQL: a second process gains only while a core is idle, so API nodes scale"
        " by cores (one process per core) on hosts of their own, not by processes on the database's host.",
        f"- **Replication**: a synchronous standby takes {sync['batch_rows_per_s']:,.0f} rows/s in 500-row commits"
        f" ({_ratio(sync['batch_rows_per_s'], result['replication']['primary alone']['batch_rows_per_s'])} of the"
        f" primary alone) with replay lag p99 {sync.get('replay_lag_ms', {}).get('p99', '—')} ms: a province"
        " load (bulk COPY per city) is not held back by its standby beyond that ratio.",
    ]


def write_results(result: dict[str, Any]) -> None:
    """The scale-out part of RESULTS.md (between its markers), the rest of the file kept."""
    lines = [
        BEGIN,
        "## Scale-out: API processes, tiling workers, replication (`bench/province/scale.py`)",
        "",
        (
            f"Run: `bench/province/scale.py --cities {result['cities']} --buildings {result['buildings']}`"
            f" (the province loaded in {result['load_s']} s)"
            if result["load_s"] is not None
            else f"Run: `bench/province/scale.py --url ...` on the {result['buildings']:,}-building,"
            f" {result['cities']}-city province `bench/province/run.py --keep` loaded"
        )
        + ("" if result.get("warm_up", True) else " (tiling timed without an untimed pass first)")
        + "; load average at the start and end of each part: "
        + "; ".join(f"{k} {' '.join(a)} → {' '.join(b)}" for k, (a, b) in result["loadavg"].items())
        + " (2 shared cores: every process of a part, nginx, the client and PostgreSQL share them).",
        "",
        "### identify and items-within (ratios: requests/s against one process reached directly)",
        "",
        "| request | clients | setup | p50 ms | p99 ms | req/s | ratio | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for kind, by_clients in result["api"].items():
        for clients, setups in by_clients.items():
            single = setups["1 process, direct"]["rps"]
            for name, f in setups.items():
                lines.append(
                    f"| {kind} | {clients} | {name} | {f['p50_ms']} | {f['p99_ms']} | {f['rps']} |"
                    f" {_ratio(f['rps'], single)} | {f['errors']} |"
                )
    lines += [
        "",
        "### Tiling throughput (buildings, pipelines and pipe_nodes tilesets from scratch)",
        "",
        "| province | runs in | seconds | tiles | features/s | ratio | parts (buildings, pipelines, nodes) |"
        " jobs not succeeded |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for run in [result, *result.get("tiling on other provinces", [])]:
        single = run["tiling"]["in this process"]["features_per_s"]
        loads = run["loadavg"]["tiling"]
        queued = [f for name, f in run["tiling"].items() if name != "in this process"]
        before = "" if any("parts" in f for f in queued) else "; one job per layer, in the worker's job thread"
        note = f"; {run['note']}" if run.get("note") else before
        province = f"{run['buildings']:,} buildings (load {' '.join(loads[0])} → {' '.join(loads[1])}{note})"
        for row, (name, f) in enumerate(run["tiling"].items()):
            parts = f.get("parts")
            lines.append(
                f"| {'' if row else province} | {name} | {f['seconds']} | {f['tiles']} | {f['features_per_s']} |"
                f" {_ratio(f['features_per_s'], single)} |"
                f" {', '.join(str(parts.get(k, 0)) for k in TILE_LAYERS) if parts else '—'} |"
                f" {'; '.join(f.get('errors') or []) or '—'} |"
            )
    lines += [
        "",
        f"### Replication under write load ({WRITE_S / 2:.0f} s of 500-row commits, then {WRITE_S / 2:.0f} s of"
        " one-row commits)",
        "",
        "| primary | rows/s, 500-row commits | ratio | one-row commits/s | ratio"
        " | replay lag p50 / p99 / max ms | behind p50 / p99 / max bytes |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    alone = result["replication"]["primary alone"]
    for name, f in result["replication"].items():
        lag = f.get("replay_lag_ms")
        gap = f.get("behind_bytes")
        lines.append(
            f"| {name} | {f['batch_rows_per_s']:,.0f} | {_ratio(f['batch_rows_per_s'], alone['batch_rows_per_s'])} |"
            f" {f['single_commits_per_s']:,.0f} | {_ratio(f['single_commits_per_s'], alone['single_commits_per_s'])} |"
            f" {' / '.join(str(lag[k]) for k in ('p50', 'p99', 'max')) if lag else '—'} |"
            f" {' / '.join(f'{gap[k]:,}' for k in ('p50', 'p99', 'max')) if gap else '—'} |"
        )
    lines += sizing(result)
    lines += ["", END]
    section = "\n".join(lines)
    current = RESULTS.read_text() if RESULTS.exists() else ""
    if BEGIN in current:
        current = current[: current.index(BEGIN)] + section + current[current.index(END) + len(END) :]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(current)
    print(section)


if __name__ == "__main__":
    main()
