"""A real uvicorn serving the app on a free loopback port, for the tests and the benchmarks: started
with a given environment, waited for until ``/api/v1/health`` answers, stopped afterwards. Its output
goes to a file (a pipe nobody reads would fill and stall the server)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from core.cluster import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def uvicorn_server(env: Mapping[str, str], timeout_s: float = 120.0, log_path: Path | None = None) -> Iterator[str]:
    """Serve ``spatial_api.app:create_app`` with ``env`` (its DATABASE_URL...); yield the base URL. Its
    output (access log included) goes to ``log_path`` when given, kept; else to a temporary file."""
    port = free_port()
    if log_path is None:
        with tempfile.NamedTemporaryFile(prefix="cim-uvicorn-", suffix=".log", delete=False) as scratch:
            log_path = Path(scratch.name)
        keep = False
    else:
        keep = True
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "spatial_api.app:create_app", "--factory", "--port", str(port)],
            cwd=ROOT,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if not keep:
            log_path.unlink(missing_ok=True)
