"""Benchmark of the viewer's load with the panel built from GET /api/v1/layers: the working tree
against a base revision (default: the merge base with main), alternately, on one sample city.

Loads the sample city (``--buildings``, seed 7) into a throw-away database, checks the base revision
out into a temporary git worktree, builds each side's tilesets with its own code into its own data
dir, serves each with its own `cim serve`, and loads the two pages alternately (``--runs`` each,
bench/viewer/measure.mjs: headless Chromium, SwiftShader, a fresh context per load), reading the
page's own ``window.cim.metrics.firstAllLoadedMs``. Prints one JSON object.

    .venv/bin/python bench/registry/run.py [--buildings 400] [--runs 4] [--base REV]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_database  # noqa: E402
from spatial_api.local_server import free_port, stop  # noqa: E402
from tests.fixtures_viewer import start_server  # noqa: E402

BUILD = """import json, sys
from tiles.build import build_layer
print(json.dumps({layer: build_layer(layer)["features"] for layer in sys.argv[1:]}))"""
# The tilesets each side's viewer shows (the base named the nodes and compartments otherwise).
BASE_LAYERS = ["buildings", "pipelines", "nodes", "tunnels"]
HEAD_LAYERS = ["buildings", "pipelines", "pipe_nodes", "tunnel_compartments"]


def _measure(url: str) -> dict:
    done = subprocess.run(
        ["node", str(ROOT / "bench" / "viewer" / "measure.mjs"), url, "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout)["runs"][0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=400)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--base", default=None, help="git revision to compare with (default: merge base with main)")
    args = parser.parse_args()
    base_rev = args.base or subprocess.check_output(["git", "merge-base", "main", "HEAD"], cwd=ROOT, text=True).strip()
    work = Path(tempfile.mkdtemp(prefix="cim-bench-registry-"))
    base_code = work / "base"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(base_code), base_rev], cwd=ROOT, check=True)
    (base_code / "node_modules").symlink_to(ROOT / "node_modules")
    servers = []
    try:
        with scratch_database("registry") as (url, _):
            from sample_models.load import load_sample_city

            load_sample_city(args.buildings, 7)
            sides = {"base": (base_code, BASE_LAYERS), "head": (ROOT, HEAD_LAYERS)}
            urls = {}
            for name, (code, layers) in sides.items():
                env = os.environ | {"DATABASE_URL": url, "CIM_DATA_DIR": str(work / f"data-{name}")}
                subprocess.run(
                    [sys.executable, "-c", BUILD, *layers], cwd=code, env=env | {"PYTHONPATH": str(code)}, check=True
                )
                port = free_port()
                servers.append(start_server(port, work / f"serve-{name}.log", code, env))
                urls[name] = f"http://127.0.0.1:{port}/"
            load_before = os.getloadavg()
            runs: dict[str, list[dict]] = {"base": [], "head": []}
            for k in range(args.runs):
                for name in ("base", "head") if k % 2 == 0 else ("head", "base"):
                    runs[name].append(_measure(urls[name]))
            figures = {name: [r["first_all_loaded_ms"] for r in rs] for name, rs in runs.items()}
            medians = {name: statistics.median(f) for name, f in figures.items()}
            print(
                json.dumps(
                    {
                        "base_revision": base_rev,
                        "buildings": args.buildings,
                        "first_all_loaded_ms": figures,
                        "median_ms": medians,
                        "head_over_base": round(medians["head"] / medians["base"], 2),
                        "requests_per_load": {name: [r["requests"] for r in rs] for name, rs in runs.items()},
                        "load_average_before_after": [
                            [round(x, 1) for x in load_before],
                            [round(x, 1) for x in os.getloadavg()],
                        ],
                    }
                )
            )
    finally:
        for process in servers:
            stop(process)
        subprocess.run(["git", "worktree", "remove", "--force", str(base_code)], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
