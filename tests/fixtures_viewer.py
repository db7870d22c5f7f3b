"""Test fixtures for the viewer tests (loaded by tests/conftest.py): a real `cim serve` on a free
port against the session's test database, and a runner for the playwright-core scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spatial_api.local_server import answers, await_ready, free_port, stop

ROOT = Path(__file__).resolve().parent.parent
E2E = ROOT / "tests" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")


def start_server(
    port: int, log: Path, code: Path = ROOT, env: dict | None = None, timeout_s: float = 180.0
) -> subprocess.Popen:
    """`cim serve` of the code in ``code`` with this session's DATABASE_URL and data dir (or ``env``);
    waits (up to ``timeout_s``) until /api/v1/health answers."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from spatial_api.cli import main; main()", "serve", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        cwd=code,
        env=(env or os.environ) | {"PYTHONPATH": str(code)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    await_ready(process, answers(f"http://127.0.0.1:{port}/api/v1/health"), timeout_s, log.read_text)
    return process


@pytest.fixture(scope="session")
def ui_bundle() -> None:
    """The viewer's bundles (its CesiumJS in viewer/ui/dist-cesium, the UI kit in viewer/ui/dist) built
    from the committed sources (`make ui`: nothing to do when up to date)."""
    done = subprocess.run(["make", "-s", "ui"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="session")
def e2e_tools(ui_bundle: None) -> None:
    """Node, playwright-core and Debian's Chromium (or a skip saying what is missing), the viewer's bundles built."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium")
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        pytest.skip("playwright-core is not installed: run `make npm`")


@pytest.fixture(scope="session")
def run_e2e(e2e_tools: None, artifacts: Path) -> Callable[..., dict]:
    """Run a driver under tests/e2e (viewer.mjs unless ``script`` says) with a spec; returns its JSON report."""

    def run(
        url: str, steps: list[str] | None = None, timeout_s: float = 300, script: str = "viewer.mjs", **spec: object
    ) -> dict:
        spec = {"url": url, "artifacts": str(artifacts), **spec} | ({"steps": steps} if steps is not None else {})
        done = subprocess.run(
            ["node", str(E2E / script), json.dumps(spec)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


TILE_LAYERS = ("buildings", "pipelines", "pipe_nodes", "tunnel_compartments")


@pytest.fixture(scope="session")
def viewer_city(sample_city: dict) -> dict:
    """The sample city with the tilesets the viewer shows built into the session's tiles dir."""
    from tiles.build import build_layer

    return {layer: build_layer(layer) for layer in TILE_LAYERS}


@pytest.fixture(scope="session")
def city_server(viewer_city: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of `cim serve` on the test database once the sample city and its tiles are in it."""
    port = free_port()
    process = start_server(port, tmp_path_factory.mktemp("viewer-city") / "serve.log")
    yield f"http://127.0.0.1:{port}/"
    stop(process)
