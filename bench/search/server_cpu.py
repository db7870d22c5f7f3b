"""CPU per request of GET /search, GET /profiles and GET /mvt/buildings (zoom 16, beside: the same
principal dependency serves it): the API server's (its uvicorn processes), the database's
(the server's backends, found by application name) and the load generator's, for this checkout beside
another (e.g. the main branch), both serving the same database, driven in turn. At 8 clients on 2 cores
the tail is CPU queueing, so total CPU per request is what sets p99; unlike latency it hardly moves with
the machine's load.

    .venv/bin/python bench/search/server_cpu.py --url URL --data-dir DIR --baseline CHECKOUT
        [--requests 400] [--clients 1] [--rounds 2] [--client raw|httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.api.run import drive, wait_for  # noqa: E402
from bench.search.client import drive_raw  # noqa: E402
from bench.search.cpu import process_cpu  # noqa: E402
from bench.search.run import requests_of, serve, workload  # noqa: E402

ZOOM = 16


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (uvicorn's workers)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").iterdir():
            children = (task / "children").read_text().split()
            todo.extend(int(c) for c in children)
    return found


def cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process still alive."""
    out = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            out[pid] = process_cpu(pid)
    return out


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings (a process new since the first counts from zero)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def tiles(url: str, n: int) -> list[tuple[int, int]]:
    """Zoom-16 tiles (x, y) under ``n`` buildings drawn at random."""
    engine = create_engine(url)
    with engine.connect() as conn:
        points = conn.execute(
            text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_Centroid(footprint), 4326) AS p
                      FROM building TABLESAMPLE SYSTEM (2) REPEATABLE (1) LIMIT :n) s"""),
            {"n": n},
        ).all()
    engine.dispose()
    scale = 2**ZOOM
    return [
        (int((lon + 180) / 360 * scale), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * scale))
        for lon, lat in points
    ]


def requests(base: str, kind: str, work: dict) -> list[tuple[str, str, dict | None]]:
    if kind == "mvt":
        return [("GET", f"{base}/mvt/buildings/{ZOOM}/{x}/{y}.pbf", None) for x, y in work["tiles"]]
    return requests_of(base, kind, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="the data dir (its keys) of the kept city")
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="the load generator")
    parser.add_argument("--kinds", default="search,profile,mvt", help="which requests, comma-separated")
    args = parser.parse_args()
    for key in ("jwt_secret", "field_key", "pii_key"):
        os.environ[f"CIM_{key.upper()}_FILE"] = str(args.data_dir / "secrets" / key)
    work = workload(args.url, args.requests) | {"tiles": tiles(args.url, args.requests)}
    checkouts = {"this": ROOT, "before": args.baseline}
    servers = {}
    for name, path in checkouts.items():
        named = make_url(args.url).update_query_dict({"application_name": f"cim-cpu-{name}-{os.getpid()}"})
        log = Path(f"/tmp/bench-server-cpu-{name}.log")
        servers[name] = serve(path, named.render_as_string(hide_password=False), args.workers, log)
    kinds = args.kinds.split(",")
    go: Callable = drive_raw if args.client == "raw" else drive
    out: dict[str, list[dict]] = {}
    engine = create_engine(args.url, isolation_level="AUTOCOMMIT")
    try:
        for server, base in servers.values():
            wait_for(f"{base}/health", server, 300)
        for _, base in servers.values():
            for kind in kinds:
                asyncio.run(go(requests(base, kind, work)[:100], args.clients))  # warm: pool, prepared statements
        for round_ in range(args.rounds):
            for kind in kinds:
                order = list(servers.items())  # alternated round by round: a rising load favours neither
                for name, (server, base) in order if round_ % 2 == 0 else order[::-1]:
                    with engine.connect() as conn:
                        backends = conn.scalars(
                            text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                            {"a": f"cim-cpu-{name}-{os.getpid()}"},
                        ).all()
                    processes = descendants(server.pid)
                    api, db = cpu_of(processes), cpu_of(list(backends))
                    own, wall = time.process_time(), time.perf_counter()
                    asked = requests(base, kind, work)
                    result = asyncio.run(go(asked, args.clients))
                    n = len(asked)
                    row = {
                        "server_cpu_ms": round(spent(api, cpu_of(processes)) * 1000 / n, 3),
                        "db_cpu_ms": round(spent(db, cpu_of(list(backends))) * 1000 / n, 3),
                        "client_cpu_ms": round((time.process_time() - own) * 1000 / n, 3),
                        "wall_ms": round((time.perf_counter() - wall) * 1000 / n, 2),
                        "p50_ms": result["p50_ms"],
                        "p99_ms": result["p99_ms"],
                        "errors": result["errors"],
                        "load": round(os.getloadavg()[0], 1),
                    }
                    out.setdefault(f"{kind} {name}", []).append(row)
                    print(kind, name, row, flush=True)
    finally:
        engine.dispose()
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=60)
    report = {"requests": args.requests, "clients": args.clients, "client": args.client, "results": out}
    (Path(__file__).parent / "server_cpu.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
