"""nginx in front of two API processes (real uvicorns over the test database): TLS with the
project's certificate, gzip, cached static files with cache headers, and requests that keep
succeeding when one API process is killed."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from spatial_api.local_server import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx: bash scripts/install_system.sh")


def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.2)


@pytest.fixture
def apis(database: Engine) -> Iterator[list[tuple[subprocess.Popen, int]]]:
    """Two API processes on free ports."""
    env = {**os.environ, "DATABASE_URL": database.url.render_as_string(hide_password=False), "PYTHONPATH": str(ROOT)}
    started = []
    try:
        for _ in range(2):
            port = free_port()
            args = [sys.executable, "-m", "uvicorn", "spatial_api.app:create_app", "--factory", "--port", str(port)]
            started.append(
                (subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port)
            )

        def up(port: int) -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v1/ready", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        until(lambda: all(up(port) for _, port in started), 120, "both API processes ready")
        yield started
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def test_nginx_serves_over_tls_compresses_caches_and_routes_around_a_dead_api(apis):
    from ops import nginx

    root = Path(tempfile.mkdtemp(prefix="cim-nginx-", dir="/var/tmp"))
    root.chmod(0o755)
    front = nginx.Front(root, free_port(), tuple(f"127.0.0.1:{port}" for _, port in apis))
    try:
        written = subprocess.run(
            [
                sys.executable,
                "-m",
                "spatial_api.cli",
                "ops",
                "nginx",
                "--root",
                str(root),
                "--port",
                str(front.port),
                *[arg for _, port in apis for arg in ("--upstream", f"127.0.0.1:{port}")],
                "--start",
                "--json",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
        )
        assert written.returncode == 0, written.stderr
        base = f"https://127.0.0.1:{front.port}"
        trust = ssl.create_default_context(cafile=str(front.certificate))
        with httpx.Client(verify=trust, timeout=10) as client:  # the project's certificate
            until(lambda: client.get(f"{base}/api/v1/health").status_code == 200, 30, "nginx answering")
            script = client.get(f"{base}/js/api.js", headers={"Accept-Encoding": "gzip"})
            raw = httpx.get(f"{base}/js/api.js", verify=trust, headers={"Accept-Encoding": "identity"})
            assert script.status_code == 200 and script.headers["content-encoding"] == "gzip"
            assert script.text == (ROOT / "viewer" / "js" / "api.js").read_text()  # httpx inflated it
            assert len(gzip.compress(raw.content)) < len(raw.content)
            assert "max-age=600" in script.headers["cache-control"]
            statuses = [client.get(f"{base}/js/brdf.js").headers["x-cache-status"] for _ in range(2)]
            assert statuses[1] == "HIT"
            assert client.get(f"{base}/metrics").status_code == 200  # from 127.0.0.1 only

            apis[0][0].send_signal(signal.SIGKILL)
            apis[0][0].wait(timeout=10)
            answers = [client.get(f"{base}/api/v1/layers").status_code for _ in range(30)]
            assert answers == [200] * 30
            assert client.get(f"{base}/api/v1/ready").json()["ready"] is True
        with pytest.raises(httpx.ConnectError):  # a certificate nobody vouches for is refused
            httpx.get(f"{base}/api/v1/health", verify=True)
    finally:
        nginx.stop(front)
        until(lambda: not (root / "nginx.pid").exists(), 20, "nginx stopping")
        shutil.rmtree(root, ignore_errors=True)
