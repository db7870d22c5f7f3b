"""Benchmark the drawing review on generated models at real size (sample_models.large_models).

For a tower of ``--storeys`` storeys (30 × 13 × 13 rooms ≈ 100k elements), each step in its own
process (peak RSS is that step's alone), imports before the timer:
- ``bare``: IfcOpenShell's iterator with the ingest's settings over the model, counting shapes
  (the peer: what triangulating alone costs);
- ``review``: ``run_review`` (ingest unpublished + placement, IDS, planning, city and model clashes,
  diff, viewpoints) into a throw-away database with a parcel and project around the model;
- ``ids``: every default rule set's IDS pass (building, fire, civil defence, lightning) on the
  parsed model, seconds each, to show the pass is linear (compare ``--storeys`` runs).
Writes bench/review/RESULTS.json and prints a Markdown table. The machine is shared: the 1-minute
load average is recorded.

    .venv/bin/python bench/review/run.py [--storeys 30] [--rooms 13] [--fittings 13] [--before DIR]

``--before DIR`` (a copy of the old tree, e.g. ``git archive``) also runs the old code's review in
the same run (``review_before``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
PROJECT = "BENCH-REVIEW"

from bench.ingest.run import _usage  # noqa: E402 - the same CPU and RSS accounting as the ingest benchmark


def _child(step: str, path: str) -> dict:
    import bim_ingest.ingest  # noqa: F401
    import bim_ingest.review.service  # noqa: F401
    from bim_ingest.source import open_ifc

    baseline = _usage()["rss_mb"]
    before, started = _usage()["cpu"], time.perf_counter()
    result: dict = {}
    if step == "bare":
        from bim_ingest.geometry import iterator

        with open_ifc(Path(path)) as opened:
            it = iterator(opened.file)
            n = int(it.initialize())
            while n and it.next():
                n += 1
        result["shapes"] = n
    elif step == "review":
        from bim_ingest.review.service import run_review

        document = run_review(path, PROJECT)
        report = document["report"]
        result |= {"checks_s": report["seconds"], "issues": report["counts"]["issues"], "passed": report["passed"]}
    else:
        from bim_ingest.review import rule_sets
        from bim_ingest.review.information import check_information, load_ids

        with open_ifc(Path(path)) as opened:
            result["elements"] = len(opened.file.by_type("IfcElement"))
            result["ids_s"] = {}
            for name, rule_set in rule_sets.rule_sets().items():
                if rule_set.ids_path is not None:
                    t0 = time.perf_counter()
                    issues, _ = check_information(opened.file, load_ids(rule_set.ids_path))
                    result["ids_s"][name] = round(time.perf_counter() - t0, 2)
                    result.setdefault("ids_issues", {})[name] = len(issues)
    usage = _usage()
    return result | {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu": round(usage["cpu"] - before, 2),
        "peak_rss_mb": round(usage["rss_mb"]),
        "child_rss_mb": round(usage["child_rss_mb"]),
        "baseline_rss_mb": round(baseline),
        "load": os.getloadavg()[0],
    }


def _run(step: str, path: Path, env: dict, tree: Path = ROOT) -> dict:
    """One step in a fresh process, with the code of ``tree`` (this one, or the old one)."""
    out = subprocess.run(
        [sys.executable, tree / "bench" / "review" / "run.py", "--child", step, str(path)],
        capture_output=True,
        text=True,
        env=env | {"PYTHONPATH": str(tree)},
        check=False,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _prepare(env: dict) -> None:
    """Schema, and a parcel and project around the generated model's place."""
    code = f"""
from sqlalchemy import text
from core import migrate
from core.db import get_engine
from sample_models.ifc_models import DEFAULT_EASTINGS as E, DEFAULT_NORTHINGS as N
migrate.upgrade()
with get_engine().begin() as conn:
    conn.execute(text("INSERT INTO parcel (code, land_use, geom) VALUES ('BENCH-P', 'residential', "
                      "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4549))"),
                 {{"x0": E - 100, "y0": N - 100, "x1": E + 500, "y1": N + 500}})
    conn.execute(text("INSERT INTO project (code, name, type, stage, parcel_code, hazardous_works, progress_pct) "
                      "VALUES ('{PROJECT}', 'bench', 'building', 'approval', 'BENCH-P', false, 0)"))
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storeys", type=int, default=30)
    parser.add_argument("--rooms", type=int, default=13)
    parser.add_argument("--fittings", type=int, default=13)
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--before", type=Path, help="a copy of the old tree to compare with")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return

    from sample_models.large_models import tower
    from tests.conftest import _server_url, create_database, drop_database

    folder = ROOT / ".data" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tower-{args.storeys}x{args.rooms}x{args.fittings}.ifc"
    generated = None
    if not path.exists():
        t0 = time.perf_counter()
        tower(path, args.storeys, args.rooms, args.fittings)
        generated = round(time.perf_counter() - t0, 1)
    row = {"file": path.name, "mb": round(path.stat().st_size / 1e6, 1), "generate_s": generated}
    steps = [("ids", ROOT), ("bare", ROOT), ("review", ROOT)]
    steps += [("review_before", args.before)] if args.before else []
    for step, tree in steps:
        # a database of its own per step: each review ingests a first version (no diff against another run's)
        server = _server_url()
        name = f"cim_bench_{uuid.uuid4().hex[:8]}"
        url = create_database(server, name)
        data_dir = tempfile.mkdtemp(prefix="cim-bench-")
        env = os.environ | {"DATABASE_URL": url, "CIM_DATA_DIR": data_dir, "PYTHONPATH": str(ROOT)}
        try:
            _prepare(env)
            row[step] = _run(step.removesuffix("_before"), path, env, tree)
            print(json.dumps({step: row[step]}), file=sys.stderr)
        finally:
            drop_database(server, name)
            shutil.rmtree(data_dir, ignore_errors=True)
    results = Path(__file__).parent / "RESULTS.json"
    rows = json.loads(results.read_text()) if results.exists() else []
    rows = [r for r in rows if r["file"] != row["file"]] + [row]
    results.write_text(json.dumps(rows, indent=1))
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
