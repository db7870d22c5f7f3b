"""The audit log flat (migration 0020) against partitioned by month (0021), side by side in one run.

Two scratch databases on the same server, one at each revision, get the same chained rows: ``--rows``
spread evenly over 24 months, written as the application writes them (one INSERT committed per row, the
chain trigger on each), the two databases taking turns every 500 rows so both see the same machine
noise. Then, on each, the API's audit search (``spatial_api.routers.admin.audit_search_sql``): a
one-month window and the newest page without a window, each at 40 random months, median of the
per-query times; the full chain verification (``core.audit_chain.verify``); and the in-place
conversion of the flat database to 0021 with all its rows. Writes bench/partitioning/RESULTS.md.

    .venv/bin/python bench/partitioning/audit.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.partitioning.results import write_section  # noqa: E402

MONTHS = 24
BATCH = 500
START = datetime(2024, 1, 1, tzinfo=UTC)
HEADING = "# Audit log: flat against partitioned by month"


def _month(k: int) -> datetime:
    return datetime(START.year + k // 12, k % 12 + 1, 1, tzinfo=UTC)


def _insert(engine: Engine, first: int, count: int, step: timedelta) -> float:
    """``count`` rows, each committed on its own as the API's audit.record() does; seconds taken."""
    sql = text(
        """INSERT INTO audit_log (at, username, action, object, address, result)
           VALUES (:at, :u, 'feature.read', :o, '127.0.0.1', 'ok')"""
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        began = time.perf_counter()
        for i in range(first, first + count):
            conn.execute(sql, {"at": START + i * step, "u": f"user{i % 50}", "o": f"building/B{i}"})
        return time.perf_counter() - began


def _search_ms(engine: Engine, windowed: bool, months: list[int]) -> float:
    from spatial_api.routers.admin import audit_search_sql

    times = []
    with engine.connect() as conn:
        for k in months:
            since, until = (_month(k), _month(k + 1)) if windowed else (None, None)
            sql, params = audit_search_sql(None, None, since, until, 100, 0)
            began = time.perf_counter()
            conn.execute(text(sql), params).all()
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def _verify_s(engine: Engine) -> tuple[float, int]:
    from core import audit_chain

    began = time.perf_counter()
    with engine.connect() as conn:
        verdict = audit_chain.verify(conn)
    assert verdict.ok
    return time.perf_counter() - began, verdict.rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    from core import migrate
    from tests.conftest import _server_url, create_database, drop_database

    server = _server_url()
    names = {kind: f"cim_bench_audit_{kind}_{uuid.uuid4().hex[:6]}" for kind in ("flat", "part")}
    engines = {kind: create_engine(create_database(server, name)) for kind, name in names.items()}
    try:
        migrate.upgrade(engines["flat"], "0020")
        migrate.upgrade(engines["part"], "0021")
        with engines["part"].begin() as conn:  # the months ahead, as the daily job makes them
            for k in range(MONTHS):
                conn.execute(text("SELECT audit_log_partition(:m)"), {"m": _month(k)})
        step = (_month(MONTHS) - START) / args.rows
        spent = {"flat": 0.0, "part": 0.0}
        for first in range(0, args.rows, BATCH):
            for kind in ("flat", "part") if first // BATCH % 2 == 0 else ("part", "flat"):
                spent[kind] += _insert(engines[kind], first, min(BATCH, args.rows - first), step)
        rng = random.Random(7)
        months = [rng.randrange(MONTHS) for _ in range(40)]
        result = {}
        for kind, engine in engines.items():
            with engine.begin() as conn:
                conn.execute(text("ANALYZE audit_log"))
            verify_s, rows = _verify_s(engine)
            result[kind] = {
                "insert_rows_per_s": args.rows / spent[kind],
                "window_ms": _search_ms(engine, True, months),
                "newest_ms": _search_ms(engine, False, months),
                "verify_s": verify_s,
                "rows": rows,
            }
        began = time.perf_counter()
        migrate.upgrade(engines["flat"], "0021")
        convert_s = time.perf_counter() - began
        with engines["flat"].connect() as conn:
            converted = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        assert converted == args.rows
    finally:
        for engine in engines.values():
            engine.dispose()
        for name in names.values():
            drop_database(server, name)
    flat, part = result["flat"], result["part"]
    lines = [
        HEADING,
        "",
        f"Method: the docstring of `bench/partitioning/audit.py`; {args.rows:,} rows over {MONTHS} months, "
        f"run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on the shared 2-core machine (other work running).",
        "",
        "| measure | flat (0020) | partitioned (0021) | partitioned / flat |",
        "|---|---:|---:|---:|",
        f"| chained insert (a transaction each), rows/s | {flat['insert_rows_per_s']:,.0f} "
        f"| {part['insert_rows_per_s']:,.0f} "
        f"| {part['insert_rows_per_s'] / flat['insert_rows_per_s']:.2f} |",
        f"| search, one month, newest 100, ms | {flat['window_ms']:.2f} | {part['window_ms']:.2f} "
        f"| {part['window_ms'] / flat['window_ms']:.2f} |",
        f"| search, no window, newest 100, ms | {flat['newest_ms']:.2f} | {part['newest_ms']:.2f} "
        f"| {part['newest_ms'] / flat['newest_ms']:.2f} |",
        f"| chain verification, s | {flat['verify_s']:.2f} | {part['verify_s']:.2f} "
        f"| {part['verify_s'] / flat['verify_s']:.2f} |",
        "",
        f"Conversion in place (0020 → 0021) of the flat database's {args.rows:,} rows: {convert_s:.1f} s.",
        "",
    ]
    write_section(Path(__file__).parent / "RESULTS.md", HEADING, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
