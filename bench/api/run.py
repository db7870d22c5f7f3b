"""Benchmark of the spatial API: identify, within and items?bbox at 1, 8 and 32 concurrent clients,
the ratio to the same work without HTTP (raw SQL for items, the library call for identify/within),
and items?bbox beside pygeoapi serving the same table. Writes bench/api/RESULTS.md.

    .venv/bin/python bench/api/run.py --buildings 100000 [--skip-load] [--workers 2]

pygeoapi (from PyPI) runs from a venv of its own, bench/.venv-pygeoapi, made on the first run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DB_NAME = "cim_bench_api"
PYGEOAPI_VENV = ROOT / "bench" / ".venv-pygeoapi"
# uvicorn with --workers binds a socket on which asyncio leaves Nagle on (~40 ms per keep-alive
# request): every server a benchmark starts, peers included, serves with this protocol instead.
NO_DELAY = ("--http", "spatial_api.http_protocol:NoDelayHttpProtocol")
# pygeoapi 0.21's PostgreSQL provider filters a CRS84 bbox against the stored geometry without
# transforming it, so it gets the same buildings stored in CRS84 (with a GiST index): the same rows
# and columns as our collection, and no per-request ST_Transform, which favours pygeoapi.
PYGEOAPI_TABLE = "bench_building_crs84"
PYGEOAPI_COPY = f"""
DROP TABLE IF EXISTS {PYGEOAPI_TABLE};
CREATE TABLE {PYGEOAPI_TABLE} AS
  SELECT code, address, use, structure, height_m, floors_above, floors_below, year_built, safety_grade,
         project_code, parcel_code, ST_Transform(footprint, 4326) AS geom FROM building;
ALTER TABLE {PYGEOAPI_TABLE} ADD PRIMARY KEY (code);
CREATE INDEX ON {PYGEOAPI_TABLE} USING gist (geom);
ANALYZE {PYGEOAPI_TABLE};
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(latencies: list[float], seconds: float) -> dict:
    if not latencies:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "rps": 0.0}
    return {
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "rps": round(len(latencies) / seconds, 1),
    }


async def drive(urls: list[tuple[str, str, dict | None]], concurrency: int, verify: str | bool = True) -> dict:
    """Send every request with at most ``concurrency`` in flight; latencies of 200s only (others counted).
    ``verify``: the CA file of an HTTPS front (or True: the system's)."""
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    queue = list(urls)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, verify=verify) as client:

        async def worker() -> None:
            nonlocal errors, first_error
            while queue:
                method, url, body = queue.pop()
                started = time.perf_counter()
                response = await client.request(method, url, json=body)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                    first_error = first_error or f"{response.status_code} {url}: {response.text[:300]}"

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {**summary(latencies, seconds), "errors": errors, "first_error": first_error}


def in_process(calls: list, concurrency: int) -> dict:
    """The same work without HTTP: each call is a function run in a thread pool of ``concurrency``."""
    latencies: list[float] = []

    def timed(call) -> None:
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(timed, calls))
    return summary(latencies, time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


def prepare_database(buildings: int, skip_load: bool) -> str:
    from core import cluster

    # On the local cluster: made by the superuser, owned and used by the application role.
    local = None if os.environ.get("DATABASE_URL") else cluster.up()
    server = make_url(os.environ.get("DATABASE_URL") or local.admin_url)
    owner = make_url(local.url) if local else server
    url = owner.set(database=DB_NAME).render_as_string(hide_password=False)
    if skip_load:
        return url
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}" OWNER "{owner.username}"'))
    admin.dispose()
    script = (
        "from core import migrate; migrate.upgrade(); from sample_models.load import load_sample_city; "
        f"import json; print(json.dumps(load_sample_city(buildings={buildings}, seed=7)))"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "DATABASE_URL": url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    print(f"loaded the city in {time.perf_counter() - started:.0f} s: {done.stdout.strip()[-300:]}", flush=True)
    with create_engine(url).connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return url


def workload(url: str, n: int, seed: int = 1) -> dict:
    """Random identify points (building centroids), within polygons and bboxes, in CRS84."""
    rng = random.Random(seed)
    engine = create_engine(url)
    with engine.connect() as conn:
        points = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_Centroid(footprint), 4326) AS p FROM building "
                "TABLESAMPLE SYSTEM (5) LIMIT :n) s"
            ),
            {"n": n},
        ).all()
    engine.dispose()
    rng.shuffle(points)
    boxes = []
    for lon, lat in points:
        d = 0.002  # ~200 m
        boxes.append((lon - d, lat - d, lon + d, lat + d))
    return {"points": points, "boxes": boxes}


def pygeoapi_config(url: str, port: int) -> Path:
    u = make_url(url)
    config = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "limits": {"default_items": 100, "max_items": 10000},
            "map": {"url": "", "attribution": ""},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "bench",
                "description": "bench",
                "keywords": [],
                "terms_of_service": "",
                "url": "",
            },
            "license": {"name": "", "url": ""},
            "provider": {"name": "", "url": ""},
            "contact": {"name": ""},
        },
        "resources": {
            "buildings": {
                "type": "collection",
                "title": "buildings",
                "description": "buildings",
                "keywords": [],
                "extents": {
                    "spatial": {"bbox": [-180, -90, 180, 90], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
                },
                "providers": [
                    {
                        "type": "feature",
                        "name": "PostgreSQL",
                        "data": {
                            "host": u.host,
                            "port": u.port,
                            "dbname": u.database,
                            "user": u.username,
                            "password": u.password or "",
                            "search_path": ["public"],
                        },
                        "id_field": "code",
                        "table": PYGEOAPI_TABLE,
                        "geom_field": "geom",
                    }
                ],
            }
        },
    }
    path = ROOT / "bench" / "results" / "pygeoapi.config.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def start(cmd: list[str], env: dict, cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    args.port = args.port or free_port()
    url = prepare_database(args.buildings, args.skip_load)
    env = {**os.environ, "DATABASE_URL": url, "CIM_RATE_LIMIT_PER_MINUTE": "100000000"}
    os.environ.update(DATABASE_URL=url)
    from core.settings import configure

    configure(None)  # cluster.up() read the settings before DATABASE_URL was set
    with create_engine(url).connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("building", "pipeline")}
    load = workload(url, args.requests)
    base = f"http://127.0.0.1:{args.port}/api/v1"
    server_cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "spatial_api.app:create_app",
        "--factory",
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--no-access-log",
        *NO_DELAY,
    ]
    server = start(server_cmd, env)
    results: dict = {"counts": counts, "workers": args.workers, "requests": args.requests, "api": {}, "direct": {}}
    try:
        wait_for(f"{base}/conformance", server)
        requests = {
            # the HTTP floor: a request that touches no database (uvicorn, FastAPI, middlewares, client)
            "conformance": [("GET", f"{base}/conformance", None)] * len(load["points"]),
            "identify": [("GET", f"{base}/query/identify?lon={x}&lat={y}", None) for x, y in load["points"]],
            "within": [("POST", f"{base}/query/within", _square(x, y, 0.003)) for x, y in load["points"]],
            "items_bbox": [
                ("GET", f"{base}/collections/buildings/items?limit=100&bbox={','.join(map(str, b))}", None)
                for b in load["boxes"]
            ],
        }
        for name, reqs in requests.items():
            for c in (1, 8, 32):
                asyncio.run(drive(reqs[: 4 * c], c))  # warm up: as many pooled connections as clients
                results["api"].setdefault(name, {})[c] = asyncio.run(drive(reqs, c))
                print(name, c, results["api"][name][c], flush=True)
        results["direct"] = direct(url, load)
    finally:
        server.terminate()
        server.wait(30)
    out = ROOT / "bench" / "results" / "api.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))  # kept if the peer fails
    ours = start(server_cmd, env)
    try:
        wait_for(f"{base}/conformance", ours)
        results["pygeoapi"] = run_pygeoapi(url, load, free_port(), args.workers, base)
    finally:
        ours.terminate()
        ours.wait(30)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "api.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


def _square(lon: float, lat: float, d: float) -> dict:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return {"type": "Polygon", "coordinates": [ring]}


def direct(url: str, load: dict) -> dict:
    """The same work without HTTP at 1, 8 and 32 threads: the items SQL through psycopg, identify and
    within through the library functions the routers call."""
    from datetime import date

    from psycopg_pool import ConnectionPool

    from core import layers
    from core.db import read_engine
    from core.registry import registry
    from core.settings import store_srid
    from gis.analysis import identify as identify_
    from gis.analysis import inputs
    from gis.analysis.within import within

    # the API's own items SQL, in psycopg's parameter style
    sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", layers.items_sql(registry().layer("buildings"), [], with_bbox=True))
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    out: dict = {}
    # autocommit, as the API's reads (no BEGIN/COMMIT round trips; prepared statements kept)
    with ConnectionPool(conninfo, min_size=8, max_size=32, kwargs={"autocommit": True}, open=True) as pool:

        def items(b):
            with pool.connection() as conn:
                box = dict(zip(("minx", "miny", "maxx", "maxy"), b, strict=True))
                conn.execute(sql, {**box, "lim": 101, "off": 0}).fetchall()

        engine = read_engine()

        def ident(p):
            with engine.connect() as conn:
                layer, fid = identify_.pick(conn, inputs.point(conn, *p))
                identify_.identify(conn, layer, fid, False)

        def stats(p):
            with engine.connect() as conn:
                within(conn, inputs.geometry(conn, _square(*p, 0.003), ("Polygon",)), store_srid(), date.today().year)

        for name, fn, data in (
            ("items_bbox", items, load["boxes"]),
            ("identify", ident, load["points"]),
            ("within", stats, load["points"]),
        ):
            for c in (1, 8, 32):
                in_process([lambda d=d, fn=fn: fn(d) for d in data[: 4 * c]], c)  # warm up
                out.setdefault(name, {})[c] = in_process([lambda d=d, fn=fn: fn(d) for d in data], c)
                print("direct", name, c, out[name][c], flush=True)
    return out


def same_features(ours: str, peer: str, boxes: list) -> bool:
    """Whether both servers return the same building codes for the same boxes (limit 100)."""
    for b in boxes:
        bbox = ",".join(map(str, b))
        mine = httpx.get(f"{ours}/collections/buildings/items?limit=100&bbox={bbox}", timeout=60).json()
        theirs = httpx.get(f"{peer}/collections/buildings/items?f=json&limit=100&bbox={bbox}", timeout=60).json()
        ids = {f["id"] for f in mine["features"]}
        if len(ids) < 100 and ids != {f["id"] for f in theirs["features"]}:
            return False
    return True


def run_pygeoapi(url: str, load: dict, port: int, workers: int, ours: str) -> dict:
    python = PYGEOAPI_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PYGEOAPI_VENV)], check=True)
    if subprocess.run([str(python), "-c", "import pygeoapi, httptools"], capture_output=True).returncode:
        pip = [
            str(PYGEOAPI_VENV / "bin" / "pip"),
            "install",
            "-q",
            "pygeoapi",
            "psycopg2-binary",
            "geoalchemy2",
            "starlette",
            "uvicorn",
            "httptools",
        ]
        subprocess.run(pip, check=True)
    with create_engine(url).begin() as conn:
        for statement in filter(str.strip, PYGEOAPI_COPY.split(";")):
            conn.execute(text(statement))
    config = pygeoapi_config(url, port)
    openapi = config.with_suffix(".openapi.yml")
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi), "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [str(PYGEOAPI_VENV / "bin" / "pygeoapi"), "openapi", "generate", str(config), "--output-file", str(openapi)],
        env=env,
        check=True,
        capture_output=True,
    )
    server = start(
        [
            str(python),
            "-m",
            "uvicorn",
            "pygeoapi.starlette_app:APP",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            *NO_DELAY,
        ],
        env,
    )
    out: dict = {}
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/collections/buildings", server)
        reqs = [
            ("GET", f"{base}/collections/buildings/items?f=json&limit=100&bbox={','.join(map(str, b))}", None)
            for b in load["boxes"]
        ]
        out["same_features"] = same_features(ours, base, load["boxes"][:20])
        for c in (1, 8, 32):
            asyncio.run(drive(reqs[: 4 * c], c))
            out[c] = asyncio.run(drive(reqs, c))
            print("pygeoapi", c, out[c], flush=True)
    finally:
        server.terminate()
        server.wait(30)
    return out


if __name__ == "__main__":
    main()
