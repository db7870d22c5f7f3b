"""CPU per search query, this checkout's statement beside another checkout's (e.g. the main branch),
on the same connection in turn: the database backend's CPU (from /proc, so the database must run on
this machine) and this process's. Unlike latencies, CPU time hardly moves with the machine's load.

    .venv/bin/python bench/search/cpu.py --url URL --data-dir DIR --baseline CHECKOUT [--requests 200]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.search.run import workload  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User and system CPU seconds of a process on this machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def module_of(checkout: Path) -> ModuleType:
    """``search.query`` as ``checkout`` has it (its other imports are this checkout's)."""
    spec = importlib.util.spec_from_file_location("baseline_search_query", checkout / "search" / "query.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="the data dir (its keys) of the kept city")
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for key in ("jwt_secret", "field_key", "pii_key"):
        os.environ[f"CIM_{key.upper()}_FILE"] = str(args.data_dir / "secrets" / key)
    os.environ["DATABASE_URL"] = args.url
    from search import query as this

    queries = workload(args.url, args.requests)["queries"]
    versions = {"this": this, "before": module_of(args.baseline)}
    out: dict[str, list[dict]] = {name: [] for name in versions}
    answers: list[list] = []
    with create_engine(args.url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("SET jit = off"))
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.execute(text("SELECT feature_location(footprint) FROM building LIMIT 1"))  # PROJ set up
        for _ in range(args.rounds):
            for name, module in versions.items():
                answered = []
                db, own, wall = process_cpu(backend), time.process_time(), time.perf_counter()
                for q in queries:
                    answered.append(module.run(conn, module.Query(q, ()), id_lookup=False))
                n = len(queries)
                out[name].append({
                    "db_cpu_ms": round((process_cpu(backend) - db) * 1000 / n, 2),
                    "client_cpu_ms": round((time.process_time() - own) * 1000 / n, 2),
                    "wall_ms": round((time.perf_counter() - wall) * 1000 / n, 2),
                    "load": round(os.getloadavg()[0], 1),
                })  # fmt: skip
                answers.append(answered)
    report = {"requests": len(queries), "same_answers": all(a == answers[0] for a in answers), **out}
    (Path(__file__).parent / "cpu.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
