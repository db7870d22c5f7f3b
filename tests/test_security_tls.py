"""TLS: a self-signed certificate made with cryptography (kept, remade when it no longer fits), and
`cim serve --tls` answering HTTPS that verifies against it, with HSTS only under TLS and the viewer's
CSP, nosniff and frame-ancestors headers on both."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from core import tls
from spatial_api.local_server import answers, await_ready, free_port, stop
from tests.conftest import ROOT


def _names(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return {str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value}


def test_self_signed_pair_is_made_once_and_remade_for_another_host(tmp_path):
    cert, key = tls.self_signed(tmp_path, "127.0.0.1")
    assert _names(cert) == {"localhost", "127.0.0.1", "::1"}
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = cert.read_bytes()
    assert tls.self_signed(tmp_path, "localhost")[0].read_bytes() == first  # covered already: kept
    tls.self_signed(tmp_path, "cim.example.org")
    assert cert.read_bytes() != first and "cim.example.org" in _names(cert)


def _trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture(scope="module")
def tls_server(database, sample_city, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """`cim serve --tls` on a free port over the test database; (base URL, its certificate)."""
    data = tmp_path_factory.mktemp("tls-data")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database.url.render_as_string(hide_password=False), "CIM_DATA_DIR": str(data)}
    process = subprocess.Popen(
        [sys.executable, "-m", "spatial_api.cli", "serve", "--tls", "--no-listen", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base, cert = f"https://127.0.0.1:{port}", data / "tls" / "cert.pem"
    try:
        ready = lambda: cert.exists() and answers(f"{base}/api/v1/health", verify=_trusting(cert))()  # noqa: E731
        await_ready(process, ready, 120, lambda: process.communicate(timeout=20)[1].decode())
        yield base, cert
    finally:
        stop(process)


def test_https_with_hsts_and_the_viewer_headers(tls_server):
    base, cert = tls_server
    viewer = httpx.get(f"{base}/", verify=_trusting(cert), timeout=60)
    api = httpx.get(f"{base}/api/v1/conformance", verify=_trusting(cert), timeout=60)
    for answer in (viewer, api):
        assert answer.status_code == 200
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in viewer.headers["content-security-policy"]
    with pytest.raises(httpx.ConnectError):  # a certificate nobody vouches for is refused by default
        httpx.get(f"{base}/api/v1/health")
    with pytest.raises(httpx.TransportError):  # no plain HTTP on the TLS port
        httpx.get(base.replace("https", "http") + "/api/v1/health", timeout=5)


def test_no_hsts_over_plain_http(client):
    answer = client.get("/")
    assert "strict-transport-security" not in answer.headers
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
