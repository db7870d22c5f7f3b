"""`cim db` on bad ground: one clear line of what to do, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def cim(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spatial_api.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no database URL and an empty data folder (so no cluster yet)."""
    urls = ("DATABASE_URL", "CIM_DATABASE_URL", "CIM_OWNER_DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in urls}
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    env["CIM_DATA_DIR"] = str(data)
    return env


def assert_one_clear_line(proc: subprocess.CompletedProcess[str], *phrases: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for phrase in phrases:
        assert phrase in lines[0]
    return lines[0]


def test_port_in_use(clean_env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = cim("db", "up", "--port", str(port), env=clean_env)
    assert_one_clear_line(proc, f"port {port}", "in use", "--port")
    assert not (Path(clean_env["CIM_DATA_DIR"]) / "pg" / "PG_VERSION").exists()


def test_missing_postgis(clean_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "lib" / "15" / "bin").mkdir(parents=True)
    (tmp_path / "lib" / "15" / "bin" / "postgres").touch()  # a server without the PostGIS extension
    env = clean_env | {"CIM_PG_LIB_DIR": str(tmp_path / "lib"), "CIM_PG_SHARE_DIR": str(tmp_path / "share")}
    assert_one_clear_line(cim("db", "up", env=env), "PostGIS is not installed", "postgresql-15-postgis-3")


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("postgresql://cim@127.0.0.1:1/cim", "cannot reach the database"),
        ("not a url", "DATABASE_URL is not a database URL"),
    ],
)
def test_wrong_database_url(clean_env: dict[str, str], url: str, phrase: str) -> None:
    env = clean_env | {"DATABASE_URL": url}
    assert_one_clear_line(cim("db", "up", env=env), phrase, "DATABASE_URL")


def test_status_reports_postgis(server_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CIM_DATA_DIR",)}
    proc = cim("db", "status", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert '"postgis": "3.' in proc.stdout
