"""A real uvicorn serving the app on a free loopback port, for the tests and the benchmarks: started
with a given environment, waited for until ``/api/v1/health`` answers, stopped afterwards. Its output
goes to a file (a pipe nobody reads would fill and stall the server). ``await_ready`` and ``stop`` serve
any such local process (the viewer's `cim serve`, the test OIDC provider, the demo)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from core.cluster import free_port

ROOT = Path(__file__).resolve().parent.parent


def answers(url: str, **httpx_options: object) -> Callable[[], bool]:
    """A readiness probe: ``url`` answers 200."""
    return lambda: httpx.get(url, timeout=2, **httpx_options).status_code == 200  # type: ignore[arg-type]


def await_ready(
    process: subprocess.Popen, ready: Callable[[], bool], timeout_s: float, output: Callable[[], str]
) -> None:
    """Poll ``ready`` (a refused connection counts as not yet) until it holds; if the process exits or
    ``timeout_s`` passes first, stop it and raise a RuntimeError ending with its ``output``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"not ready (exit code {process.returncode}): {output()[-3000:]}")
        time.sleep(0.3)


def stop(process: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """Terminate ``process``; kill it if it has not ended within ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


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
        await_ready(process, answers(f"{base}/api/v1/health"), timeout_s, log_path.read_text)
        yield base
    finally:
        stop(process)
        if not keep:
            log_path.unlink(missing_ok=True)
