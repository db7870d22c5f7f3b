"""Benchmark of the 3D Tiles engine against py3dtiles' own PostGIS/WKB exporter.

Loads a city (the sample city with ``--buildings`` buildings, or with ``--synthetic`` a plain
generated one) into a throw-away database, then builds, each in its own process (so each peak
RSS is its own): our buildings, pipelines (every pipe of the sample city, about 3.7 per
building) and nodes layers; an unchanged rebuild of the buildings; their b3dm (3D Tiles 1.0)
sibling; an incremental pipelines rebuild after editing 20 pipes; py3dtiles ``export`` on the
same buildings. Prints one JSON object and writes bench/tiles/last_run.json (RESULTS.md is
written from it by hand).

    .venv/bin/python bench/tiles/run.py [--buildings 100000] [--pipes 20000] [--synthetic]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_database  # noqa: E402

CHILD = """
import json, resource, sys, time
from tiles.build import build_layer
result = build_layer(sys.argv[1], formats=sys.argv[2])
result["peak_rss_mb"] = PEAK_RSS_MB()
result["worker_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(result))
"""

PEER = """
import resource, sys, time, json
from py3dtiles.export import from_db
t = time.perf_counter()
from_db(sys.argv[1], "peer_building", "geom", "code", sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": PEAK_RSS_MB(),
                  "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

SYNTHETIC_BUILDINGS = """
INSERT INTO building (code, height_m, ground_h_orthometric, floors_above, floors_below, use, structure, year_built,
                      safety_grade, address, footprint)
SELECT 'SB' || lpad(g::text, 7, '0'), 6 + (hashint % 90), 4 + (hashint % 7) * 0.3, 2 + hashint % 30, 0,
       (ARRAY['residential', 'commercial', 'office', 'industrial', 'public'])[1 + hashint % 5], 'frame',
       1970 + hashint % 54, (ARRAY['A', 'B', 'C', 'D'])[1 + hashint % 4], '常州市某路' || g || '号',
       CASE WHEN hashint % 5 = 0
            THEN ST_Difference(ST_MakeEnvelope(x, y, x + w, y + d, 4549),
                               ST_MakeEnvelope(x + w / 2, y + d / 2, x + w + 1, y + d + 1, 4549))
            ELSE ST_MakeEnvelope(x, y, x + w, y + d, 4549) END
FROM (SELECT g, abs(hashtext(g::text)) AS hashint,
             480000 + (g % 320) * 50.0 AS x, 3500000 + (g / 320) * 50.0 AS y,
             12 + abs(hashtext('w' || g)) % 25 AS w, 10 + abs(hashtext('d' || g)) % 25 AS d
      FROM generate_series(0, :n - 1) g) s
"""

SYNTHETIC_PIPES = """
INSERT INTO pipeline (id, utility, material, diameter_mm, depth_m, depth_ref, status, install_year, geom)
SELECT 'SP' || lpad(g::text, 6, '0'), (ARRAY['water', 'drain', 'sewer', 'gas', 'heat', 'power', 'telecom'])[1 + g % 7],
       'PE', (ARRAY[100, 160, 300, 600, 800])[1 + g % 5], 1.2, 'top', 'in_service', 2000 + g % 24,
       ST_SetSRID(ST_MakeLine(ARRAY[ST_MakePoint(x, y, 2.5 - (g % 7) * 0.3),
                                    ST_MakePoint(x + 45, y + (g % 3), 2.45 - (g % 7) * 0.3)]), 4549)
FROM (SELECT g, 480000 + (g % 350) * 46.0 AS x, 3500000 + (g / 350) * 30.0 + (g % 7) * 3.5 + 47 AS y
      FROM generate_series(0, :n - 1) g) s
"""

PEER_TABLE = """
CREATE TABLE peer_building AS
SELECT code, ST_GeomFromText(replace(ST_AsText(ST_Extrude(footprint, 0, 0, height_m)), 'POLYHEDRALSURFACE',
                                     'MULTIPOLYGON'), 4549) AS geom
FROM (SELECT code, ST_Translate(ST_Force3D(footprint), 0, 0, ground_h_orthometric) AS footprint, height_m
      FROM building WHERE height_m > 0) b
"""


# The process's own peak RSS. Not getrusage's ru_maxrss: Linux carries it over from the forked
# copy of this (large, after loading the city) process through exec.
PEAK_RSS = """
def PEAK_RSS_MB():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
"""
CHILD, PEER = PEAK_RSS + CHILD, PEAK_RSS + PEER


def _run(code: str, *args: str) -> dict:
    """Run a build in its own process; ``process_seconds`` is its whole wall time (interpreter
    start and imports included), beside the build's own ``seconds``."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=os.environ)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - started, 3)
    return result


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _tiles_stats(directory: Path, suffix: str) -> dict:
    files = sorted(directory.rglob(f"*{suffix}"))
    sizes = sorted(f.stat().st_size for f in files)
    raw = sum(sizes)
    sample = files[:: max(len(files) // 200, 1)]
    gz = sum(len(gzip.compress(f.read_bytes(), 6)) for f in sample)
    return {
        "files": len(files),
        "bytes": raw,
        "max_tile_bytes": sizes[-1] if sizes else 0,
        "median_tile_bytes": sizes[len(sizes) // 2] if sizes else 0,
        "gzip_ratio": round(gz / max(sum(f.stat().st_size for f in sample), 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--pipes", type=int, default=20_000)
    parser.add_argument("--synthetic", action="store_true", help="generate plain buildings and pipes in SQL")
    parser.add_argument("--keep", action="store_true", help="keep the database and the tiles")
    args = parser.parse_args()

    from sqlalchemy import text

    with scratch_database("tiles", keep=args.keep) as (url, data_dir):
        from core.db import get_engine

        started = time.perf_counter()
        if args.synthetic:
            with get_engine().begin() as conn:
                conn.execute(text(SYNTHETIC_BUILDINGS), {"n": args.buildings})
                conn.execute(text(SYNTHETIC_PIPES), {"n": args.pipes})
            source = "synthetic (SQL-generated rectangles and L-shapes, straight pipes)"
        else:
            from sample_models.load import load_sample_city

            load_sample_city(args.buildings)
            source = f"sample city, {args.buildings} buildings, seed 7"
        with get_engine().begin() as conn:
            conn.execute(text("ANALYZE"))
            counts = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("building", "pipeline", "pipe_node")
            }
        load_s = time.perf_counter() - started

        results: dict = {"source": source, "counts": counts, "load_seconds": round(load_s, 1)}
        # the buildings three times from scratch (the machine is shared: the median is the figure)
        runs = []
        for _ in range(3):
            subprocess.run(["rm", "-rf", str(data_dir / "tiles" / "buildings")], check=True)
            runs.append({"load_average_before": _load()} | _run(CHILD, "buildings", "glb"))
        results["buildings_runs"] = [
            {k: r[k] for k in ("seconds", "process_seconds", "features_per_s", "load_average_before")} for r in runs
        ]
        results["buildings"] = sorted(runs, key=lambda r: r["seconds"])[1]
        results["buildings"] |= _tiles_stats(data_dir / "tiles" / "buildings" / "t", ".glb")
        results["buildings"]["bytes_per_feature"] = round(results["buildings"]["bytes"] / counts["building"], 1)
        for layer in ("pipelines", "pipe_nodes"):
            if counts[{"pipelines": "pipeline", "pipe_nodes": "pipe_node"}[layer]]:
                load = _load()
                summary = _run(CHILD, layer, "glb")
                summary |= _tiles_stats(data_dir / "tiles" / layer / "t", ".glb")
                summary["bytes_per_feature"] = round(summary["bytes"] / max(summary["features"], 1), 1)
                summary["load_average_before"] = load
                results[layer] = summary
        # the same buildings unchanged: a rebuild that hashes every leaf and writes none
        results["buildings_unchanged_rebuild"] = _run(CHILD, "buildings", "glb")
        # 3D Tiles 1.0 for legacy clients (b3dm), the same tree meshed again
        load = _load()
        summary = _run(CHILD, "buildings", "b3dm")
        summary |= _tiles_stats(data_dir / "tiles" / "buildings" / "b3dm", ".b3dm")
        summary["bytes_per_feature"] = round(summary["bytes"] / max(summary["features"], 1), 1)
        summary["load_average_before"] = load
        results["buildings_b3dm"] = summary

        # incremental: edit 20 pipes spread over the city, rebuild
        with get_engine().begin() as conn:
            conn.execute(
                text(
                    "UPDATE pipeline SET diameter_mm = diameter_mm + 50 WHERE id IN "
                    "(SELECT id FROM pipeline ORDER BY md5(id) LIMIT 20)"
                )
            )
        results["pipelines_after_editing_20"] = _run(CHILD, "pipelines", "glb")

        # the peer: py3dtiles' own PostGIS/WKB path on the same buildings
        prep = time.perf_counter()
        with get_engine().begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis_sfcgal"))
            conn.execute(text(PEER_TABLE))
        prep_s = time.perf_counter() - prep
        peer_dir = data_dir / "py3dtiles"
        peer_dir.mkdir()
        u = get_engine().url
        conninfo = f"dbname={u.database} host={u.host} port={u.port} user={u.username}" + (
            f" password={u.password}" if u.password else ""
        )
        load = _load()
        peer = _run(PEER, conninfo, str(peer_dir))
        peer["load_average_before"] = load
        peer |= _tiles_stats(peer_dir, ".b3dm")
        peer["features"] = counts["building"]
        peer["features_per_s"] = round(counts["building"] / peer["seconds"], 1)
        peer["extrusion_sql_seconds"] = round(prep_s, 1)
        peer["bytes_per_feature"] = round(peer["bytes"] / max(counts["building"], 1), 1)
        results["py3dtiles_export"] = peer
        results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_end": _load()}
        print(json.dumps(results, ensure_ascii=False))
        (Path(__file__).parent / "last_run.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
