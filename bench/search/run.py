"""Benchmark of search and profiles: GET /search p50/p99 at 1 and 8 clients, GET /profiles p99, on the
sample city; beside, in the same run, the search statement without HTTP and a naive peer (ILIKE
'%q%' over the same columns, no normalisation, no index) for the same queries. Writes
bench/search/RESULTS.md (figures) and bench/search/results.json.

    .venv/bin/python bench/search/run.py --buildings 100000 [--requests 400] [--keep | --url URL --data-dir DIR]
        [--workers 2] [--baseline /work/main]

With ``--baseline``, a second server runs that checkout's code on the same database, and the two are
driven in turn at each level (before/after in the same run, under the same load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.api.run import NO_DELAY, drive, free_port, summary, wait_for  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402
from bench.search.client import drive_raw  # noqa: E402

HERE = Path(__file__).resolve().parent
NAIVE = """SELECT * FROM (
  SELECT 'building' AS kind, code AS id FROM building WHERE address ILIKE :p OR code ILIKE :p
  UNION ALL SELECT 'project', code FROM project WHERE name ILIKE :p OR code ILIKE :p
  UNION ALL SELECT 'enterprise', uscc FROM enterprise WHERE name ILIKE :p OR uscc ILIKE :p
  UNION ALL SELECT 'person', id FROM person WHERE name ILIKE :p
  UNION ALL SELECT 'road', code FROM road WHERE name ILIKE :p) s ORDER BY kind, id LIMIT 10"""


def load_city(url: str, buildings: int) -> None:
    """The sample city into the scratch database (in a child process: the loader's memory goes with it)."""
    script = (
        "from sample_models.load import load_sample_city; import json; "
        f"print(json.dumps(load_sample_city(buildings={buildings}, seed=7)))"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], env={**os.environ, "DATABASE_URL": url}, cwd=ROOT, check=True)
    print(f"loaded the city in {time.perf_counter() - started:.0f} s", flush=True)
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("ANALYZE"))


def workload(url: str, n: int, seed: int = 1) -> dict:
    """Search queries as people type them (address fragments, parts of project and enterprise names,
    USCCs, road names) and profile ids, drawn at random."""
    rng = random.Random(seed)
    engine = create_engine(url)
    with engine.connect() as conn:
        addresses = [r[0] for r in conn.execute(text("SELECT address FROM building TABLESAMPLE SYSTEM (2) LIMIT 2000"))]
        projects = conn.execute(text("SELECT code, name FROM project ORDER BY random() LIMIT 500")).all()
        enterprises = conn.execute(text("SELECT uscc, name FROM enterprise ORDER BY random() LIMIT 500")).all()
        roads = [r[0] for r in conn.execute(text("SELECT name FROM road"))]
        buildings = [r[0] for r in conn.execute(text("SELECT code FROM building TABLESAMPLE SYSTEM (2) LIMIT 500"))]
    engine.dispose()
    queries = []
    for i in range(n):
        pick = i % 5
        if pick == 0:
            a = rng.choice(addresses)
            start = a.index("区") + 1 if "区" in a else 0
            queries.append(a[start : start + rng.randint(4, 8)])
        elif pick == 1:
            name = rng.choice(projects).name
            queries.append(name[1 : 1 + rng.randint(2, 4)])
        elif pick == 2:
            queries.append(rng.choice(enterprises).uscc)
        elif pick == 3:
            name = rng.choice(enterprises).name
            queries.append(name[2:4])
        else:
            queries.append(rng.choice(roads))
    profiles = [("building", rng.choice(buildings)) for _ in range(n // 2)]
    profiles += [("project", rng.choice(projects).code) for _ in range(n // 4)]
    profiles += [("enterprise", rng.choice(enterprises).uscc) for _ in range(n - len(profiles))]
    rng.shuffle(profiles)
    return {"queries": queries, "profiles": profiles}


def in_process(url: str, queries: list[str]) -> dict:
    """One client, no HTTP: our search statement, and the naive ILIKE peer, on the same queries."""
    from search import query as search

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    out = {}
    for name, run in (
        ("search SQL (in-process)", lambda conn, q: search.run(conn, search.Query(q, ()), id_lookup=False)),
        ("naive ILIKE peer", lambda conn, q: conn.execute(text(NAIVE), {"p": f"%{q}%"}).all()),
    ):
        latencies = []
        with engine.connect() as conn:
            for q in queries[:20]:
                run(conn, q)  # warm
            started = time.perf_counter()
            for q in queries:
                t0 = time.perf_counter()
                run(conn, q)
                latencies.append(time.perf_counter() - t0)
        out[name] = summary(latencies, time.perf_counter() - started)
    return out


def profiles_in_process(url: str, profiles: list[tuple[str, str]]) -> dict:
    """The profile statement alone (no HTTP, no audit), per kind, one client; and the audit row a
    profile that names people writes, at 1 and 8 threads (each a durable commit through the chain's lock)."""
    from bench.api.run import in_process as threads
    from profiles.read import profile
    from spatial_api import audit
    from spatial_api.security import ANONYMOUS

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    out = {}
    with engine.connect() as conn:
        for kind in ("building", "project", "enterprise"):
            ids = [i for k, i in profiles if k == kind]
            for i in ids[:10]:
                profile(conn, kind, i, False)  # warm
            latencies = []
            started = time.perf_counter()
            for i in ids:
                t0 = time.perf_counter()
                profile(conn, kind, i, False)
                latencies.append(time.perf_counter() - t0)
            out[f"{kind} profile SQL (in-process)"] = summary(latencies, time.perf_counter() - started)
    engine.dispose()
    for clients in (1, 8):
        calls = [lambda: audit.record("bench_read", "profile", ANONYMOUS, None)] * 200
        out[f"audit row ({clients} thread{'s' if clients > 1 else ''})"] = threads(calls, clients)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and data dir (printed)")
    parser.add_argument("--url", help="measure a database an earlier --keep run left (no load)")
    parser.add_argument("--data-dir", type=Path, help="with --url: the data dir (its keys) that run left")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (one per core)")
    parser.add_argument("--baseline", type=Path, help="another checkout (e.g. the main branch) measured alongside")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="the load generator: raw (bench/search/client.py, lean) or httpx")  # fmt: skip
    args = parser.parse_args()
    if args.url:
        for key in ("jwt_secret", "field_key", "pii_key"):
            os.environ[f"CIM_{key.upper()}_FILE"] = str(args.data_dir / "secrets" / key)
        os.environ["DATABASE_URL"] = args.url
        measure(args.url, args)
        return
    with scratch_database("search", keep=args.keep) as (url, data_dir):
        load_city(url, args.buildings)
        if args.keep:
            print(f"kept: --url '{url}' --data-dir {data_dir}", flush=True)
        measure(url, args)


def serve(checkout: Path, url: str, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    """uvicorn serving ``checkout``'s code on ``url``'s database (rate limit lifted, every layer public:
    the clients are anonymous, as the tests have it); the process and its /api/v1 base."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "CIM_RATE_LIMIT_PER_MINUTE": "100000000", "CIM_PUBLIC_LAYERS": '["*"]',
           "PYTHONPATH": str(checkout)}  # fmt: skip
    command = [sys.executable, "-m", "uvicorn", "spatial_api.app:create_app", "--factory", "--no-access-log",
               "--port", str(port), "--workers", str(workers), "--timeout-worker-healthcheck", "120",
               *NO_DELAY]  # fmt: skip
    server = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    return server, f"http://127.0.0.1:{port}/api/v1"


def requests_of(base: str, kind: str, work: dict) -> list[tuple[str, str, dict | None]]:
    """The workload's requests of one kind (search or profile) to the API at ``base``."""
    if kind == "search":
        return [("GET", f"{base}/search?q={q}&limit=10", None) for q in work["queries"]]
    return [("GET", f"{base}/profiles/{k}/{i}", None) for k, i in work["profiles"]]


def measure(url: str, args: argparse.Namespace) -> None:
    work = workload(url, args.requests)
    go: Callable = drive_raw if args.client == "raw" else drive
    load_before = os.getloadavg()[0]
    checkouts = {"this": ROOT, **({"before": args.baseline} if args.baseline else {})}
    logs = {name: Path(tempfile.gettempdir()) / f"bench-search-{name}.log" for name in checkouts}
    servers = {name: serve(path, url, args.workers, logs[name]) for name, path in checkouts.items()}
    results: dict[str, dict] = {}
    try:
        for server, base in servers.values():
            wait_for(f"{base}/health", server, 300)
        for clients in (1, 8):
            for kind in ("search", "profile"):
                for name, (_, base) in servers.items():  # the checkouts in turn, level by level: the same load
                    requests = requests_of(base, kind, work)
                    asyncio.run(go(requests[: 4 * clients], clients))  # warm-up
                    label = f"{kind} ({clients} client{'s' if clients > 1 else ''})"
                    results[label if name == "this" else f"{label}, before"] = asyncio.run(go(requests, clients))
                    print(name, label, results[label if name == "this" else f"{label}, before"], flush=True)
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=60)
    results.update(in_process(url, work["queries"]))
    results.update(profiles_in_process(url, work["profiles"]))
    report = {"buildings": args.buildings, "requests": args.requests, "workers": args.workers, "client": args.client,
              "baseline": str(args.baseline) if args.baseline else None, "load_before": load_before,
              "load_after": os.getloadavg()[0], "results": results}  # fmt: skip
    (HERE / "results.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
