"""Benchmark of OGC API Features beside tipg (developmentseed's asyncpg OGC Features and MVT server)
serving the same tables of the same database in the same run: items?bbox, CQL2-filtered items and
MVT tiles at 1, 8 and 32 concurrent clients. Writes bench/results/ogc.json; RESULTS.md explains.

    .venv/bin/python bench/ogc/run.py --buildings 20000 [--skip-load] [--workers 2] [--baseline CHECKOUT]

All servers run at once and each level is driven on each in turn (the same load for each); with
``--baseline``, another checkout of ours (e.g. the main branch) is measured alongside.

tipg (PyPI) runs from a venv of its own under /tmp (made on the first run) so that its pins never
touch the project's venv.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.api import run as api_bench  # noqa: E402 (the same driver, database and server helpers)

api_bench.DB_NAME = "cim_bench_ogc"  # a database of its own, made by api_bench.prepare_database
TIPG_VENV = Path("/tmp/ogc-tipg-venv")
TIPG_VERSION = "1.6.1"
CQL = "floors_above >= 3 AND use = 'residential'"
CONCURRENCY = (1, 8, 32)
# uvicorn restarts a worker that misses a 5 s health check: on a loaded 2-core machine that loops
PATIENT = ("--timeout-worker-healthcheck", "120", *api_bench.NO_DELAY)
START_S = 300


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


def tipg_python() -> Path:
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
    if subprocess.run([str(python), "-c", "import tipg, httptools"], capture_output=True).returncode:
        pip = [str(TIPG_VENV / "bin" / "pip"), "install", "-q", f"tipg=={TIPG_VERSION}", "uvicorn", "httptools"]
        subprocess.run(pip, check=True)
    return python


def tiles(boxes: list[tuple[float, float, float, float]], zoom: int) -> list[tuple[int, int, int]]:
    """The Web Mercator tile at ``zoom`` holding the centre of each box."""
    out = []
    for minx, miny, maxx, maxy in boxes:
        lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
        n = 2**zoom
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        out.append((zoom, x, y))
    return out


def requests_of(ours: str, tipg: str, boxes: list, zoom: int, before: str | None) -> dict[str, dict[str, list]]:
    """The same requests to every server: (method, url, body) per kind of work; ``before`` (another
    checkout of ours) gets ours with its base."""
    cql = httpx.QueryParams({"filter": CQL, "filter-lang": "cql2-text"})
    bbox = [",".join(map(str, b)) for b in boxes]
    wide = [",".join(map(str, (b[0] - 0.004, b[1] - 0.004, b[2] + 0.004, b[3] + 0.004))) for b in boxes]
    work = {
        "items_bbox": lambda base: [("GET", f"{base}/collections/{{c}}/items?limit=100&bbox={b}", None) for b in bbox],
        "items_cql2": lambda base: [
            ("GET", f"{base}/collections/{{c}}/items?limit=100&bbox={b}&{cql}", None) for b in wide
        ],
    }
    out: dict[str, dict[str, list]] = {}
    for name, make in work.items():
        out[name] = {
            "ours": [(m, u.replace("{c}", "buildings"), x) for m, u, x in make(ours)],
            "tipg": [(m, u.replace("{c}", "public.building"), x) for m, u, x in make(tipg)],
        }
    out["mvt"] = {
        "ours": [("GET", f"{ours}/mvt/buildings/{z}/{x}/{y}.pbf", None) for z, x, y in tiles(boxes, zoom)],
        "tipg": [
            ("GET", f"{tipg}/collections/public.building/tiles/WebMercatorQuad/{z}/{x}/{y}", None)
            for z, x, y in tiles(boxes, zoom)
        ],
    }
    if before is not None:
        for by_server in out.values():
            by_server["before"] = [(m, u.replace(ours, before, 1), x) for m, u, x in by_server["ours"]]
    return out


def same_answers(work: dict[str, dict[str, list]]) -> dict[str, bool]:
    """Whether both servers match the same features for the first requests: numberMatched always,
    the ids where one page holds them all (the servers order a longer answer differently)."""
    checks = {}
    for name in ("items_bbox", "items_cql2"):
        agree = True
        for (_, mine, _), (_, theirs, _) in list(zip(work[name]["ours"], work[name]["tipg"], strict=True))[:10]:
            a, b = httpx.get(mine, timeout=60).json(), httpx.get(theirs, timeout=60).json()
            agree &= a["numberMatched"] == b["numberMatched"]
            if a["numberMatched"] <= 100:
                agree &= {f["id"] for f in a["features"]} == {str(f["id"]) for f in b["features"]}
        checks[name] = agree
    return checks


def measure(work: dict[str, dict[str, list]], servers: list[str]) -> dict:
    """Each kind of work at each level, the servers in turn (so that each level meets the same load)."""
    out: dict = {}
    for name, by_server in work.items():
        for c in CONCURRENCY:
            for server in servers:
                reqs = by_server[server]
                asyncio.run(api_bench.drive(reqs[: 4 * c], c))  # warm up: as many pooled connections as clients
                out.setdefault(server, {}).setdefault(name, {})[c] = asyncio.run(api_bench.drive(reqs, c))
                print(server, name, c, out[server][name][c], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--zoom", type=int, default=16)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--baseline", type=Path, help="another checkout of ours (e.g. main) measured alongside")
    args = parser.parse_args()
    from core.secrets import generated

    keys = ROOT / "bench" / "results" / "ogc-keys"  # the bench's own keys, as the demo makes them
    os.environ.update(
        {f"CIM_{k.upper()}_FILE": str(generated(keys, k)) for k in ("jwt_secret", "field_key", "pii_key")}
    )
    url = api_bench.prepare_database(args.buildings, args.skip_load)
    env = {**os.environ, "DATABASE_URL": url, "CIM_RATE_LIMIT_PER_MINUTE": "100000000"}
    os.environ.update(DATABASE_URL=url)
    from core.settings import configure

    configure(None)
    with create_engine(url).connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("building",)}
    boxes = api_bench.workload(url, args.requests)["boxes"]
    random.Random(2).shuffle(boxes)
    ours_port, tipg_port, before_port = api_bench.free_port(), api_bench.free_port(), api_bench.free_port()
    ours = f"http://127.0.0.1:{ours_port}/api/v1"
    tipg = f"http://127.0.0.1:{tipg_port}"
    before = f"http://127.0.0.1:{before_port}/api/v1" if args.baseline else None

    def server_cmd(port: int) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "spatial_api.app:create_app", "--factory", "--no-access-log",
                "--port", str(port), "--workers", str(args.workers), *PATIENT]  # fmt: skip

    tipg_env = {
        **os.environ,
        "DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://", 1),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.building"]',
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        "PYTHONPATH": str(ROOT),  # for NO_DELAY's protocol
    }
    tipg_cmd = [str(tipg_python()), "-m", "uvicorn", "tipg.main:app", "--no-access-log",
                "--port", str(tipg_port), "--workers", str(args.workers), *PATIENT]  # fmt: skip
    work = requests_of(ours, tipg, boxes, args.zoom, before)
    results: dict = {"counts": counts, "workers": args.workers, "requests": len(boxes), "cql2": CQL, "zoom": args.zoom,
                     "baseline": str(args.baseline) if args.baseline else None}  # fmt: skip
    servers = {"ours": (server_cmd(ours_port), env, f"{ours}/conformance"),
               "tipg": (tipg_cmd, tipg_env, f"{tipg}/conformance")}  # fmt: skip
    if args.baseline:
        before_env = {**env, "PYTHONPATH": str(args.baseline)}
        servers["before"] = (server_cmd(before_port), before_env, f"{before}/conformance")
    # All up at once (an idle server takes no CPU); the work is then driven at each level on each in turn.
    processes = {}
    try:
        for name, (cmd, environment, ready) in servers.items():
            processes[name] = api_bench.start(cmd, environment, cwd=args.baseline if name == "before" else ROOT)
            api_bench.wait_for(ready, processes[name], START_S)
        results["same_answers"] = same_answers(work)
        results.update(measure(work, list(servers)))
    finally:
        for process in processes.values():
            stop(process)
    results["ratio_rps_ours_to_tipg"] = {
        kind: {
            c: round(results["ours"][kind][c]["rps"] / max(results["tipg"][kind][c]["rps"], 1e-9), 2)
            for c in CONCURRENCY
        }
        for kind in work
    }
    if args.baseline:
        results["ratio_rps_ours_to_before"] = {
            kind: {c: round(results["ours"][kind][c]["rps"] / max(results["before"][kind][c]["rps"], 1e-9), 2)
                   for c in CONCURRENCY}
            for kind in work
        }  # fmt: skip
    out = ROOT / "bench" / "results" / "ogc.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps({k: v for k, v in results.items() if k.startswith("ratio")}, indent=1))


if __name__ == "__main__":
    main()
