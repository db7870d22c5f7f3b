"""Benchmark: import records files (enterprises, people, projects) beside a bare COPY of the same rows.

    .venv/bin/python bench/records/run.py [--enterprises 100000] [--people 500000] [--projects 200000]

Runs in a database of its own on the project's cluster (or DATABASE_URL's server), dropped afterwards.
Writes UTF-8 CSV files with the 四库一平台 headers (valid USCCs and ID numbers made here), then per
kind: the first import (validation, hashing and encryption of personal data, reference checks, COPY
of the new keys into the table; each row its record's current version), the same file again (a no-op) and, as
the peer, a bare COPY of the rows as they are stored into an empty copy of the table with the same
indexes (the rows are read out first, untimed). Peak RSS sampled every 50 ms. Writes
``bench/records/results.json`` and the top of ``bench/records/RESULTS.md`` (its sections after the
first table are kept).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.city.run import PeakRSS  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402
from tests.fixtures_records import id_for, uscc_for  # noqa: E402

HERE = Path(__file__).resolve().parent
TYPES = ("施工总承包", "监理", "设计", "房地产开发", "勘察")
KINDS = ("执业", "从业", "职业技能", "工人")
STAGES = ("立项用地规划", "工程准备", "施工", "验收", "交付及管理")


def _write(path: Path, header: list[str], rows) -> int:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        n = 0
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


ENTERPRISE_HEADER = ["统一社会信用代码", "企业名称", "企业类型", "法定代表人", "注册地址", "成立日期", "信用等级"]
PEOPLE_HEADER = ["身份证号", "姓名", "人员类别", "注册单位统一社会信用代码", "联系电话", "注册专业", "注册有效期"]
PROJECT_HEADER = ["项目编号", "项目名称", "项目类别", "项目阶段", "施工单位统一社会信用代码",
                  "建设单位统一社会信用代码", "总投资（元）", "建筑面积（平方米）", "计划开工日期"]  # fmt: skip


def _files(folder: Path, enterprises: int, people: int, projects: int) -> dict[str, Path]:
    usccs = [uscc_for(f"91320400{i:09d}") for i in range(enterprises)]
    paths = {k: folder / f"{k}.csv" for k in ("enterprises", "people", "projects")}
    _write(
        paths["enterprises"],
        ENTERPRISE_HEADER,
        (
            [u, f"常州市基准建设工程{i}有限公司", TYPES[i % 5], f"法人{i % 997}", f"常州市天宁区基准路{i}号",
             f"20{i % 20:02d}-{i % 12 + 1:02d}-{i % 28 + 1:02d}", "ABCD"[i % 4]]
            for i, u in enumerate(usccs)
        ),
    )  # fmt: skip
    days = 365 * 40
    _write(
        paths["people"],
        PEOPLE_HEADER,
        (
            [id_for(f"320402{_birth(i % days)}{i // days % 1000:03d}"), f"人员{i}", KINDS[i % 4],
             usccs[i % enterprises], f"139{i:08d}", "建筑工程", "2027-12-31"]
            for i in range(people)
        ),
    )  # fmt: skip
    _write(
        paths["projects"],
        PROJECT_HEADER,
        (
            [f"3204022025{i:08d}", f"基准项目{i}", "房建", STAGES[i % 5], usccs[i % enterprises],
             usccs[(i * 7) % enterprises], f"{(i % 9000 + 1000) * 10000}.00", 1000 + i % 50000, "2025-03-01"]
            for i in range(projects)
        ),
    )  # fmt: skip
    return paths


def _birth(day: int) -> str:
    from datetime import date, timedelta

    return (date(1960, 1, 1) + timedelta(days=day)).strftime("%Y%m%d")


def _copy_peer(table: str) -> dict:
    """COPY the table's rows (read out first, untimed) into an empty copy of it with the same indexes:
    a regular table (WAL-logged and committed, as the import's tables are) and, as the earlier runs
    measured it, a temporary one (no WAL)."""
    from core.db import get_engine

    buffer = io.BytesIO()
    with get_engine().connect() as conn:
        # how much of a stored row says which version it is (since when, by whom, why): the peer copies it too
        sizes = conn.exec_driver_sql(
            f"SELECT avg(pg_column_size(t.*)), avg(coalesce(pg_column_size(t.version_from), 0)"
            f" + coalesce(pg_column_size(t.version_by), 0) + coalesce(pg_column_size(t.version_reason), 0))"
            f" FROM {table} t"
        ).one()
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table} TO STDOUT") as copy:
            for chunk in copy:
                buffer.write(chunk)
    out = {"row_bytes": round(sizes[0]), "version_bytes": round(sizes[1])}
    for name, create in (("copy_s", "CREATE TABLE"), ("copy_temp_s", "CREATE TEMP TABLE")):
        scratch = f"bench_{table}"
        with get_engine().connect() as conn:
            cursor = conn.connection.driver_connection.cursor()
            cursor.execute(f"{create} {scratch} (LIKE {table} INCLUDING ALL)")
            conn.connection.driver_connection.commit()
            started = time.perf_counter()
            with cursor.copy(f"COPY {scratch} FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            conn.connection.driver_connection.commit()
            out[name] = round(time.perf_counter() - started, 2)
            cursor.execute(f"DROP TABLE {scratch}")
            conn.connection.driver_connection.commit()
    return out


def _kind(path: Path, kind: str, table: str) -> dict:
    from records.importer import import_file

    with PeakRSS() as first_rss:
        started = time.perf_counter()
        first = import_file(path, kind)
        first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = import_file(path, kind)
    again_s = time.perf_counter() - started
    rows = first["rows"]
    peer = _copy_peer(table)
    assert first["inserted"] == rows and again["unchanged"] == rows, (first, again)
    return {
        "rows": rows,
        "import_s": round(first_s, 2),
        "import_rows_per_s": round(rows / first_s),
        "reimport_s": round(again_s, 2),
        "reimport_rows_per_s": round(rows / again_s),
        "peak_rss_mb": round(first_rss.peak / 2**20),
        **peer,
        "copy_rows_per_s": round(rows / peer["copy_s"]),
        "import_vs_copy": round(first_s / peer["copy_s"], 1),
        "import_vs_copy_temp": round(first_s / peer["copy_temp_s"], 1),
    }


def _markdown(result: dict) -> str:
    lines = [
        "# Records import benchmark",
        "",
        "Method: `bench/records/run.py` (see its docstring). UTF-8 CSV files with the 四库一平台 headers are",
        "imported through `records.importer.import_file` (parse and validate every value, USCC and ID-number",
        "check characters, keyed hash and encryption of personal data, reference checks; a chunk of new keys COPYed",
        "straight into the table, any other through a scratch table: UPDATE ... WHERE IS DISTINCT FROM after keeping",
        "the versions it ends, INSERT; one transaction); the",
        "same file again must change nothing. The peer is a bare `COPY` of the same rows, as stored, into an",
        "empty copy of the table with the same indexes, in the same run: into a regular table, WAL-logged and",
        "committed as the import's tables are (`COPY s`, the ratio's denominator), and into a temporary table",
        "(no WAL; what earlier runs of this page compared with).",
        "",
        f"Machine: {result['machine']}; load average at start {result['load_average']}, at the end"
        f" {result['load_average_end']} (the machine is shared).",
        f"Size: {result['size']}.",
        "",
        "| kind | rows | import s | rows/s | re-import (no-op) rows/s | COPY s | COPY rows/s | import / COPY "
        "| COPY (temp) s | import / COPY (temp) | peak RSS MB | row bytes (of which version) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, r in result["kinds"].items():
        lines.append(
            f"| {kind} | {r['rows']:,} | {r['import_s']} | {r['import_rows_per_s']:,} | {r['reimport_rows_per_s']:,} | "
            f"{r['copy_s']} | {r['copy_rows_per_s']:,} | {r['import_vs_copy']}x | {r['copy_temp_s']} | "
            f"{r['import_vs_copy_temp']}x | {r['peak_rss_mb']} | {r['row_bytes']} ({r['version_bytes']}) |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=500_000)
    parser.add_argument("--projects", type=int, default=200_000)
    args = parser.parse_args()
    memory_gb = round(psutil.virtual_memory().total / 2**30)
    result = {
        "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, {memory_gb} GB",
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "size": f"{args.enterprises:,} enterprises, {args.people:,} people, {args.projects:,} projects",
        "kinds": {},
    }
    with scratch_database("records"), tempfile.TemporaryDirectory(prefix="cim-bench-records-files-") as folder:
        paths = _files(Path(folder), args.enterprises, args.people, args.projects)
        for kind, table in (("enterprises", "enterprise"), ("people", "person"), ("projects", "project")):
            result["kinds"][kind] = _kind(paths[kind], kind, table)
            print(kind, json.dumps(result["kinds"][kind]), flush=True)
    result["load_average_end"] = [round(x, 1) for x in os.getloadavg()]
    (HERE / "results.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    page = HERE / "RESULTS.md"
    kept = page.read_text().partition("\n## ")[1:] if page.exists() else ("", "")
    page.write_text(_markdown(result) + "".join(kept))


if __name__ == "__main__":
    main()
