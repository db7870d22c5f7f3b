"""Benchmark: generate and load the sample city, against a row-by-row ORM peer.

    .venv/bin/python bench/city/run.py [--buildings 100000] [--peer 10000] [--generate-only N]
    .venv/bin/python bench/city/run.py --buildings 0 --generate-only 300000   # add a generate-only figure

Runs in a database of its own on the project's cluster (or DATABASE_URL's server), dropped afterwards.
Measures: generation and load wall time, rows/s, peak RSS (psutil, sampled every 50 ms); then the same
buildings and house units of a ``--peer``-building city written with plain SQLAlchemy ORM ``session.add_all``
and with the loader's COPY, into empty tables with their indexes and keys in place. Writes
``bench/city/results.json`` and ``bench/city/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.settings import configure  # noqa: E402
from tests.conftest import _server_url, create_database, drop_database  # noqa: E402

HERE = Path(__file__).resolve().parent


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, psutil.Process().memory_info().rss)


def _full_load(buildings: int) -> dict:
    from sample_models.city.generate import generate_city
    from sample_models.load import load_sample_city

    with PeakRSS() as rss:
        started = time.perf_counter()
        generate_city(buildings, 7)
        generate_s = time.perf_counter() - started
    with PeakRSS() as rss_load:
        started = time.perf_counter()
        counts = load_sample_city(buildings, 7)
        total_s = time.perf_counter() - started
    rows = sum(v for k, v in counts.items() if k not in ("demo_users", "dem_tile"))
    return {
        "buildings": buildings,
        "generate_s": round(generate_s, 1),
        "generate_peak_rss_mb": round(rss.peak / 2**20),
        "load_total_s": round(total_s, 1),
        "load_peak_rss_mb": round(rss_load.peak / 2**20),
        "rows": rows,
        "rows_per_s": round(rows / total_s),
        "buildings_per_s": round(buildings / total_s),
        "counts": counts,
    }


def _peer(buildings: int) -> dict:
    """The same rows (buildings without their project and parcel links, and their house units) by ORM
    ``add_all`` and by COPY, each into emptied tables with indexes and foreign keys in place."""
    from geoalchemy2.shape import from_shape
    from sqlalchemy import text

    from core.db import get_engine, session_scope
    from core.models import Building, HouseUnit
    from core.settings import store_srid
    from sample_models.city.generate import generate_city
    from sample_models.load import _copy

    city = generate_city(buildings, 7)
    frame = city.tables["building"].assign(project_code=None, parcel_code=None)
    units = city.tables["house_unit"]
    plain_frame, plain_units = ((f.astype(object).where(f.notna(), None)) for f in (frame, units))
    srid = store_srid()
    rows = len(frame) + len(units)
    engine = get_engine()

    def empty() -> None:
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE house_unit, building CASCADE"))

    empty()
    started = time.perf_counter()
    with session_scope() as session:
        session.add_all(
            Building(
                code=r.code,
                address=r.address,
                height_m=float(r.height_m),
                ground_h_orthometric=float(r.ground_h_orthometric),
                floors_above=int(r.floors_above),
                floors_below=int(r.floors_below),
                structure=r.structure,
                use=r.use,
                year_built=r.year_built,
                safety_grade=r.safety_grade,
                footprint=from_shape(r.footprint, srid=srid),
            )
            for r in plain_frame.itertuples(index=False)
        )
        session.flush()
        session.add_all(
            HouseUnit(
                id=r.id,
                building_code=r.building_code,
                unit_no=r.unit_no,
                floor=int(r.floor),
                area_m2=float(r.area_m2),
                ownership_cert=r.ownership_cert,
                owner_masked=r.owner_masked,
                residents=int(r.residents),
                contract_filing_no=r.contract_filing_no,
            )
            for r in plain_units.itertuples(index=False)
        )
    orm_s = time.perf_counter() - started
    empty()
    started = time.perf_counter()
    with engine.begin() as conn:
        _copy(conn, "building", frame, srid)
        _copy(conn, "house_unit", units, srid)
    copy_s = time.perf_counter() - started
    empty()
    return {
        "buildings": buildings,
        "rows": rows,
        "orm_add_all_s": round(orm_s, 1),
        "orm_rows_per_s": round(rows / orm_s),
        "copy_s": round(copy_s, 1),
        "copy_rows_per_s": round(rows / copy_s),
        "speedup": round(orm_s / copy_s, 1),
    }


def _generate_only(buildings: int) -> dict:
    from sample_models.city.generate import generate_city

    with PeakRSS() as rss:
        started = time.perf_counter()
        city = generate_city(buildings, 7)
        seconds = time.perf_counter() - started
    rows = sum(len(f) for f in city.tables.values())
    return {
        "buildings": buildings,
        "generate_s": round(seconds, 1),
        "rows": rows,
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(rss.peak / 2**20),
    }


def _markdown(result: dict) -> str:
    full, peer = result["full"], result["peer"]
    lines = [
        "# Sample city: generate and load",
        "",
        f"Machine: {result['machine']}; load average at start {result['load_average']} (shared with other work).",
        "",
        "## Method",
        "`bench/city/run.py` in a database of its own on the project's cluster (fsync off, as `cim db up` sets it).",
        "Full load = `sample_models.load.load_sample_city(N, seed=7)` end to end: generate (numpy/shapely,",
        "vectorised), empty the city tables, set aside foreign keys and plain indexes, `COPY ... FORMAT csv`",
        "(geometry as EWKB hex) table by table in one transaction, put keys and indexes back, demo users,",
        "GeoTIFF DEM + `gis.dem.import_dem`, ANALYZE. Peak RSS by psutil every 50 ms.",
        "Peer: the buildings and house units of a smaller city written by SQLAlchemy ORM `session.add_all`",
        "(GeoAlchemy2 `from_shape`) vs the loader's COPY, both into emptied tables with keys and indexes in place.",
        "",
        "## Results",
        "| what | figure |",
        "|---|---|",
        f"| buildings | {full['buildings']:,} |",
        f"| rows written (all tables) | {full['rows']:,} |",
        f"| generate only | {full['generate_s']} s, peak RSS {full['generate_peak_rss_mb']} MB |",
        f"| generate + load, end to end | {full['load_total_s']} s, peak RSS {full['load_peak_rss_mb']} MB |",
        f"| rows/s end to end | {full['rows_per_s']:,} |",
        f"| buildings/s end to end | {full['buildings_per_s']:,} |",
        f"| peer ({peer['buildings']:,} buildings, {peer['rows']:,} rows): ORM add_all | "
        f"{peer['orm_add_all_s']} s ({peer['orm_rows_per_s']:,} rows/s) |",
        f"| peer: COPY of the same rows | {peer['copy_s']} s ({peer['copy_rows_per_s']:,} rows/s) |",
        f"| COPY vs ORM | {peer['speedup']}x faster |",
    ]
    if result.get("generate_only"):
        g = result["generate_only"]
        lines.append(
            f"| generate only, {g['buildings']:,} buildings | {g['generate_s']} s, {g['rows']:,} rows, "
            f"peak RSS {g['peak_rss_mb']} MB |"
        )
    lines += ["", "Rows per table (full load):", "", "```", json.dumps(full["counts"], indent=1), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000, help="0: only --generate-only, added to results")
    parser.add_argument("--peer", type=int, default=10_000)
    parser.add_argument("--generate-only", type=int, default=0, help="also generate (not load) this many")
    args = parser.parse_args()
    results_path = HERE / "results.json"
    if args.buildings == 0:  # add a generate-only figure to the last run's results
        result = json.loads(results_path.read_text())
        result["generate_only"] = _generate_only(args.generate_only)
        results_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        (HERE / "RESULTS.md").write_text(_markdown(result))
        return
    server = _server_url()
    name = f"cim_bench_city_{uuid.uuid4().hex[:8]}"
    os.environ["DATABASE_URL"] = create_database(server, name)
    os.environ["CIM_DATA_DIR"] = tempfile.mkdtemp(prefix="cim-bench-city-")
    configure(None)  # the environment just set, read again
    memory_gb = round(psutil.virtual_memory().total / 2**30)
    result = {
        "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, {memory_gb} GB",
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }
    try:
        from core import migrate
        from core.db import get_engine

        migrate.upgrade()
        result["full"] = _full_load(args.buildings)
        print(json.dumps(result["full"]), flush=True)
        result["peer"] = _peer(args.peer)
        print(json.dumps(result["peer"]), flush=True)
        get_engine().dispose()
    finally:
        drop_database(server, name)
    if args.generate_only:
        result["generate_only"] = _generate_only(args.generate_only)
        print(json.dumps(result["generate_only"]), flush=True)
    results_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    (HERE / "RESULTS.md").write_text(_markdown(result))


if __name__ == "__main__":
    main()
