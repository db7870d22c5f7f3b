"""Benchmark the IFC ingest on every shared IFC file, in one run.

For each file, each measurement in its own process (so peak RSS is that step's alone):
- ``bare``: IfcOpenShell's iterator with the ingest's settings (kernel, threads, exclusions), nothing else;
- ``ingest``: ``ingest_and_publish(publish=False)`` in a fresh process (cold: pyproj's transformers, the
  database connection and the first use of every library are paid): read, georeference,
  triangulate (in a forked kernel process), transform every vertex, COPY into PostGIS;
- ``warm``: one process ingests the file once untimed, then alternates bare iterator and ingest
  ``--repeat`` times, as a server worker that has ingested before;
- ``ingest+tiles``: the cold ingest with the version's 3D Tiles built;
- ``py3dtiles``: ``py3dtiles convert FILE --out DIR --jobs 1``.
``bare`` and cold ``ingest`` alternate ``--repeat`` times; medians are reported. Wall seconds and CPU
seconds (user + system of the process, its threads and its waited-for children, i.e. the kernel
and description processes) are both recorded: the machine is shared, and CPU time is less
disturbed by other load; so is the 1-minute load average per file. Peak RSS is reported as it is
and above the interpreter's own with every library imported (measured before the timer).
Ingests go into a throw-away database on the project's cluster. Writes bench/ingest/RESULTS.json
and prints Markdown tables.

    .venv/bin/python bench/ingest/run.py [--datasets ../shared/datasets/ifc] [--repeat 3]

``--quick`` runs only ``bare`` and the cold ``ingest``; ``--before DIR`` (a copy of the old tree,
e.g. ``git archive``) also runs the old code's cold ingest, alternating with the new one, for a
before/after in the same run (printed as a second table).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# IfcOpenHouse has no georeferencing
OVERRIDE = {"IfcOpenHouse_IFC4.ifc": ("EPSG:4549", (497_600.0, 3_520_100.0, 9.0), 0.0)}


def _usage() -> dict:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        "rss_mb": own.ru_maxrss / 1024,
        "child_rss_mb": children.ru_maxrss / 1024,
    }


def _bare(path: str) -> int:
    from bim_ingest.geometry import iterator
    from bim_ingest.source import open_ifc

    with open_ifc(Path(path)) as opened:
        it = iterator(opened.file)
        n = 0
        if it.initialize():
            n = 1
            while it.next():
                n += 1
    return n


def _ingest(path: str, publish: bool) -> dict:
    from bim_ingest.georef import Override
    from spatial_api.pipelines import ingest_and_publish

    override = OVERRIDE.get(Path(path).name)
    return ingest_and_publish(
        path,
        override=Override(*override) if override else None,
        publish=publish,
        model_name=f"bench {uuid.uuid4().hex[:8]}",
    )


def _timed(fn, *args) -> tuple[float, float, object]:
    before = _usage()["cpu"]
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, _usage()["cpu"] - before, result


def _child(step: str, path: str, repeat: int) -> dict:
    """Run one step in this (child) process; return its figures. Imports happen before the timer."""
    import bim_ingest.source  # noqa: F401
    import spatial_api.pipelines  # noqa: F401

    baseline_mb = _usage()["rss_mb"]  # the interpreter with every library imported, before any model
    if step == "bare":
        seconds, cpu, n = _timed(_bare, path)
        result = {"elements": n, "seconds": seconds, "cpu": cpu}
    elif step in ("ingest", "ingest+tiles"):
        seconds, cpu, summary = _timed(_ingest, path, step == "ingest+tiles")
        result = {
            "elements": summary["elements"],
            "tileset": summary["tileset"],
            "seconds": seconds,
            "cpu": cpu,
            "timings_s": summary["timings_s"],
        }
    else:  # warm
        _ingest(path, False)
        runs = []
        for _ in range(repeat):
            bare_s, bare_cpu, _ = _timed(_bare, path)
            seconds, cpu, summary = _timed(_ingest, path, False)
            runs.append({"bare": bare_s, "bare_cpu": bare_cpu, "seconds": seconds, "cpu": cpu} | summary["timings_s"])
        result = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        result["ratio"] = statistics.median(r["seconds"] / r["bare"] for r in runs)
        result["elements"] = summary["elements"]
    usage = _usage()
    result["peak_rss_mb"], result["kernel_rss_mb"] = usage["rss_mb"], usage["child_rss_mb"]
    result["baseline_rss_mb"] = baseline_mb
    return result


def _run(step: str, path: Path, env: dict, repeat: int, tree: Path = ROOT) -> dict:
    """One step in a fresh process, with the code of ``tree`` (this one, or the old one)."""
    out = subprocess.run(
        [sys.executable, tree / "bench" / "ingest" / "run.py", "--child", step, str(path), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        env=env | {"PYTHONPATH": str(tree)},
        check=False,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _py3dtiles(path: Path) -> dict:
    exe = Path(sys.executable).with_name("py3dtiles")
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        out = subprocess.run(
            [str(exe), "convert", str(path), "--out", f"{tmp}/out", "--overwrite", "--jobs", "1"],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:160], "seconds": seconds, "cpu": cpu}
    return {"seconds": seconds, "cpu": cpu}


def _median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets" / "ifc"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--quick", action="store_true", help="bare and cold ingest only")
    parser.add_argument("--before", type=Path, help="a copy of the old tree to compare with")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child, args.repeat)))
        return

    from tests.conftest import _server_url, create_database, drop_database

    server = _server_url()
    name = f"cim_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    data_dir = tempfile.mkdtemp(prefix="cim-bench-")
    env = os.environ | {"DATABASE_URL": url, "CIM_DATA_DIR": data_dir}
    subprocess.run([sys.executable, "-c", "from core import migrate; migrate.upgrade()"], env=env, check=True)
    rows = []
    try:
        for path in sorted(Path(args.datasets).glob("*.ifc*")):
            row = {"file": path.name, "mb": path.stat().st_size / 1e6, "bare": [], "ingest": []}
            for _ in range(args.repeat):
                row["bare"].append(_run("bare", path, env, 1))
                row["ingest"].append(_run("ingest", path, env, 1))
                if args.before:
                    row.setdefault("before", []).append(_run("ingest", path, env, 1, args.before))
            if not args.quick:
                row["warm"] = _run("warm", path, env, args.repeat)
                row["ingest+tiles"] = _run("ingest+tiles", path, env, 1)
                row["py3dtiles"] = _py3dtiles(path)
            row["load"] = os.getloadavg()[0]  # the machine is shared: the 1-minute load when the file was done
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        drop_database(server, name)
        shutil.rmtree(data_dir, ignore_errors=True)
    (Path(__file__).parent / ("RESULTS-quick.json" if args.quick else "RESULTS.json")).write_text(
        json.dumps(rows, indent=1)
    )
    if not args.quick:
        _print(rows)
    if args.quick or args.before:
        _print_before_after(rows)


def _print_before_after(rows: list[dict]) -> None:
    """Cold ingest against the bare iterator of the same run, new code and (if run) old code: medians."""
    print(
        "| file | MB | elements | bare s / CPU s | ingest s / CPU s | wall / bare | CPU / bare "
        "| above baseline MB (/file) | before: ingest s / CPU s | before: wall / bare | before: CPU / bare "
        "| before: above baseline MB (/file) | load |"
    )
    print("|---" * 13 + "|")
    for r in rows:
        bare = r["bare"]
        b, b_cpu = _median_of(bare, "seconds"), _median_of(bare, "cpu")
        cells = [f"{r['file']}", f"{r['mb']:.2f}", f"{r['ingest'][0].get('elements')}", f"{b:.1f} / {b_cpu:.2f}"]
        for runs in (r["ingest"], r.get("before")):
            if not runs or any("error" in x for x in runs):
                cells += ["n/a"] * 4
                continue
            s, cpu = _median_of(runs, "seconds"), _median_of(runs, "cpu")
            model = max(x["peak_rss_mb"] - x["baseline_rss_mb"] for x in runs)
            rss = f"{model:.0f} ({model / r['mb']:.1f}x)"
            cells += [f"{s:.1f} / {cpu:.2f}", f"{s / b:.2f}", f"{cpu / b_cpu:.2f}", rss]
        print("| " + " | ".join(cells) + f" | {r.get('load', float('nan')):.1f} |")


def _print(rows: list[dict]) -> None:
    print(
        "| file | MB | elements | bare s | ingest s (cold) | cold/bare | warm bare s | warm ingest s | warm/bare "
        "| CPU s bare / cold / warm | setup s cold / warm | +tiles s | el/s warm | peak RSS MB (main + largest child) "
        "| RSS/file | above baseline MB (/file) | py3dtiles s | vs py3dtiles | load |"
    )
    print("|---" * 19 + "|")
    for r in rows:
        bare, cold, w, t, p = r["bare"], r["ingest"], r["warm"], r["ingest+tiles"], r["py3dtiles"]
        errors = [x["error"] for x in [*bare, *cold, w] if "error" in x]
        if errors:
            print(f"| {r['file']} | {r['mb']:.2f} | error: {errors[0]} |")
            continue
        b, c = _median_of(bare, "seconds"), _median_of(cold, "seconds")
        rss = max(x["peak_rss_mb"] for x in cold)
        kernel = max(x["kernel_rss_mb"] for x in cold)
        model = max(x["peak_rss_mb"] - x["baseline_rss_mb"] for x in cold)
        py = f"{p['seconds']:.2f}" + (f" ({p['error'][:60]})" if "error" in p else "")
        vs = "n/a" if "error" in p else f"{p['seconds'] / t.get('seconds', float('nan')):.1f}x"
        setup = statistics.median(x["timings_s"]["setup"] for x in cold)
        print(
            f"| {r['file']} | {r['mb']:.2f} | {cold[0]['elements']} | {b:.2f} | {c:.2f} | {c / b:.2f} "
            f"| {w['bare']:.3f} | {w['seconds']:.3f} | {w['ratio']:.2f} "
            f"| {_median_of(bare, 'cpu'):.2f} / {_median_of(cold, 'cpu'):.2f} / {w['cpu']:.2f} "
            f"| {setup:.2f} / {w['setup']:.2f} | {t.get('seconds', float('nan')):.2f} "
            f"| {w['elements'] / w['seconds']:.0f} | {rss:.0f} + {kernel:.0f} | {rss / r['mb']:.0f}x "
            f"| {model:.0f} ({model / r['mb']:.1f}x) | {py} | {vs} | {r.get('load', float('nan')):.1f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--print":
        _print(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
