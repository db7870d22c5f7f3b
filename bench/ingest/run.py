"""Benchmark the IFC ingest on every shared IFC file, in one run.

For each file, each measurement in its own process (so peak RSS is that step's alone):
- ``bare``: IfcOpenShell's iterator with the ingest's settings (kernel, threads, exclusions), nothing else;
- ``ingest``: ``ingest_file(publish=False)``: read, georeference, triangulate, transform, COPY into PostGIS;
- ``ingest+tiles``: the same with the version's 3D Tiles built;
- ``py3dtiles``: ``py3dtiles convert FILE --out DIR``.
Ingests go into a throw-away database on the project's cluster. Writes bench/ingest/RESULTS.json
and prints a Markdown table.

    .venv/bin/python bench/ingest/run.py [--datasets ../shared/datasets/ifc]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# geographic-referencing has no geometry IfcOpenShell 0.9 can triangulate; IfcOpenHouse has no georeferencing
OVERRIDE = {"IfcOpenHouse_IFC4.ifc": ("EPSG:4549", (497_600.0, 3_520_100.0, 9.0), 0.0)}


def _child(step: str, path: str) -> dict:
    """Run one step in this (child) process; return its figures."""
    from bim_ingest.geometry import iterator
    from bim_ingest.georef import Override
    from bim_ingest.ingest import ingest_file
    from bim_ingest.source import open_ifc

    started = time.perf_counter()
    if step == "bare":
        with open_ifc(Path(path)) as opened:
            it = iterator(opened.file)
            n = 0
            if it.initialize():
                n = 1
                while it.next():
                    n += 1
        result = {"elements": n}
    else:
        override = OVERRIDE.get(Path(path).name)
        summary = ingest_file(
            path,
            override=Override(*override) if override else None,
            publish=step == "ingest+tiles",
            model_name=f"bench {uuid.uuid4().hex[:8]}",
        )
        result = {"elements": summary["elements"], "tileset": summary["tileset"]}
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _run(step: str, path: Path, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", step, str(path)], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _py3dtiles(path: Path) -> dict:
    exe = Path(sys.executable).with_name("py3dtiles")
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        out = subprocess.run(
            [str(exe), "convert", str(path), "--out", f"{tmp}/out", "--overwrite", "--jobs", "1"],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:160], "seconds": seconds}
    return {"seconds": seconds, "peak_rss_mb": max(rss, before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets" / "ifc"))
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return

    from tests.conftest import _server_url, create_database, drop_database

    server = _server_url()
    name = f"cim_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    data_dir = tempfile.mkdtemp(prefix="cim-bench-")
    env = os.environ | {"DATABASE_URL": url, "CIM_DATA_DIR": data_dir}
    subprocess.run([sys.executable, "-c", "from spatial_api import migrate; migrate.upgrade()"], env=env, check=True)
    rows = []
    try:
        for path in sorted(Path(args.datasets).glob("*.ifc*")):
            row = {"file": path.name, "mb": path.stat().st_size / 1e6}
            for step in ("bare", "ingest", "ingest+tiles"):
                row[step] = _run(step, path, env)
            row["py3dtiles"] = _py3dtiles(path)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        drop_database(server, name)
        shutil.rmtree(data_dir, ignore_errors=True)
    (Path(__file__).parent / "RESULTS.json").write_text(json.dumps(rows, indent=1))
    print(
        "| file | MB | elements | bare s | ingest s | ingest/bare | +tiles s | el/s (ingest) "
        "| peak RSS MB (ingest) | RSS/file | py3dtiles s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b, i, t, p = r["bare"], r["ingest"], r["ingest+tiles"], r["py3dtiles"]
        if "error" in i:
            print(f"| {r['file']} | {r['mb']:.2f} | error: {i['error']} |")
            continue
        py = f"{p['seconds']:.2f}" + (f" ({p['error']})" if "error" in p else "")
        print(
            f"| {r['file']} | {r['mb']:.2f} | {i['elements']} | {b['seconds']:.2f} | {i['seconds']:.2f} | "
            f"{i['seconds'] / b['seconds']:.2f} | {t.get('seconds', float('nan')):.2f} | "
            f"{i['elements'] / i['seconds']:.0f} | {i['peak_rss_mb']:.0f} | {i['peak_rss_mb'] / r['mb']:.0f}x | {py} |"
        )


if __name__ == "__main__":
    main()
