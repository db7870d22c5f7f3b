"""Benchmark of the viewer: time from navigation to the first frame with all visible tiles loaded.

Loads the sample city (``--buildings`` buildings, seed 7) into a throw-away database, builds the
tilesets the viewer shows, starts `cim serve` on a free port, then opens the page ``--runs`` times
in Debian's headless Chromium (SwiftShader WebGL, a fresh browser context each run) and reads the
page's own figure (``window.cim.metrics.firstAllLoadedMs``). Beside it, in the same browser and
alternately, the peer: stock CesiumJS with the same data and view (bench/viewer/peer.html; leave it
out with ``--no-peer``). After each load of the viewer, a search: the tallest building's address typed,
its suggestion picked, until the camera has flown there and its card is open. Prints one JSON object
and writes bench/viewer/last_run-<buildings>.json.

With ``--baseline REF`` the viewer of git REF (extracted into a temporary directory, served by a
second `cim serve` of that code on the same database) loads alternately too: before and after a
change in one run.

    .venv/bin/python bench/viewer/run.py [--buildings 400] [--runs 5] [--no-peer] [--baseline main]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_database  # noqa: E402
from spatial_api.local_server import free_port, stop  # noqa: E402
from tests.fixtures_viewer import TILE_LAYERS, start_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="only the viewer, not stock CesiumJS beside it")
    parser.add_argument("--baseline", help="a git ref whose viewer loads alternately (before/after)")
    args = parser.parse_args()

    process = baseline = None
    with scratch_database("viewer") as (url, data_dir), tempfile.TemporaryDirectory() as old:
        try:
            from sample_models.load import load_sample_city
            from tiles.build import build_layer

            started = time.perf_counter()
            counts = load_sample_city(args.buildings, 7)
            load_s = time.perf_counter() - started
            started = time.perf_counter()
            tiles = {layer: build_layer(layer)["features"] for layer in TILE_LAYERS}
            tiles_s = time.perf_counter() - started

            port = free_port()
            process = start_server(port, data_dir / "serve.log")
            if args.baseline:
                baseline_port = free_port()
                code = _checkout(args.baseline, Path(old))
                baseline = start_server(baseline_port, data_dir / "baseline.log", code=code)
            load_before = os.getloadavg()
            done = subprocess.run(
                [
                    "node",
                    str(ROOT / "bench" / "viewer" / "measure.mjs"),
                    f"http://127.0.0.1:{port}/",
                    str(args.runs),
                    "-" if args.no_peer else str(ROOT / "bench" / "viewer" / "peer.html"),
                    f"http://127.0.0.1:{baseline_port}/" if args.baseline else "-",
                    json.dumps(_search_target(), ensure_ascii=False),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600 + 300 * args.runs,
            )
            if done.returncode:
                raise RuntimeError(done.stderr[-3000:])
            measured = json.loads(done.stdout)
            figures = [r["first_all_loaded_ms"] for r in measured["runs"]]
            results = {
                "buildings": counts["building"],
                "pipelines": counts["pipeline"],
                "pipe_nodes": counts["pipe_node"],
                "load_seconds": round(load_s, 1),
                "tiles_seconds": round(tiles_s, 1),
                "features_tiled": tiles,
                "first_all_loaded_ms": {
                    "runs": figures,
                    "median": statistics.median(figures),
                    "min": min(figures),
                    "max": max(figures),
                },
                "dom_content_loaded_ms": [r["dom_content_loaded_ms"] for r in measured["runs"]],
                "search": _search(measured["search_runs"]),
                "peer_first_all_loaded_ms": _peer(measured, figures),
                "baseline": _baseline(args.baseline, measured, figures),
                "requests_per_load": [r["requests"] for r in measured["runs"]],
                "outside_requests": measured["outside"],
                "banner": sorted({r["banner"] for r in measured["runs"]}),
                "load_average_before_after": [
                    [round(x, 1) for x in load_before],
                    [round(x, 1) for x in os.getloadavg()],
                ],
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            }
            print(json.dumps(results, ensure_ascii=False))
            out = Path(__file__).parent / f"last_run-{args.buildings}.json"
            out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
        finally:
            for server in (process, baseline):
                if server is not None:
                    stop(server)


def _search_target() -> dict[str, str]:
    """The tallest building with an address, searched by its address without the city's name."""
    from sqlalchemy import text

    from core.db import get_engine

    with get_engine().connect() as conn:
        code, address = conn.execute(
            text("SELECT code, address FROM building WHERE address IS NOT NULL ORDER BY height_m DESC, code LIMIT 1")
        ).one()
    return {"q": address.removeprefix("常州市"), "kind": "building", "id": code}


def _search(runs: list[dict[str, int]]) -> dict[str, object]:
    """Each run's search times and their medians (ms)."""
    keys = ("suggest_ms", "pick_to_card_ms", "total_ms")
    return {"runs": runs, **{f"median_{k}": statistics.median(r[k] for r in runs) for k in keys}}


def _checkout(ref: str, into: Path) -> Path:
    """The tree of git ``ref`` extracted into ``into`` (its node_modules: this one's) with its viewer's
    bundles built by its own `make ui`."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "node_modules").symlink_to(ROOT / "node_modules")
    subprocess.run(["make", "-s", "ui"], cwd=into, capture_output=True, check=True)
    return into


def _baseline(ref: str | None, measured: dict, figures: list[int]) -> dict | None:
    """The baseline viewer's runs and searches, and the median ratios of this viewer over it."""
    if not ref:
        return None
    runs = [r["first_all_loaded_ms"] for r in measured["baseline_runs"]]
    median = statistics.median(runs)
    searched = _search(measured["baseline_search_runs"])
    ours = statistics.median(r["total_ms"] for r in measured["search_runs"])
    return {
        "ref": ref,
        "runs": runs,
        "median": median,
        "ratio": round(statistics.median(figures) / median, 3),
        "search": searched,
        "search_ratio": round(ours / searched["median_total_ms"], 3),
    }


def _peer(measured: dict, figures: list[int]) -> dict | None:
    """The peer's runs (stock CesiumJS, bench/viewer/peer.html) and its median over the viewer's."""
    peer = [r["first_all_loaded_ms"] for r in measured["peer_runs"]]
    if not peer:
        return None
    median = statistics.median(peer)
    return {"runs": peer, "median": median, "ratio_to_viewer": round(median / statistics.median(figures), 2)}


if __name__ == "__main__":
    main()
