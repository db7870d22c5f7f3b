"""The deployment files are well formed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT


def test_compose_file_is_valid() -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (scripts/install_system.sh installs it)")
    proc = subprocess.run([compose, "-f", str(ROOT / "docker-compose.yml"), "config"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "postgis/postgis" in proc.stdout
    assert "DATABASE_URL: postgresql://cim:" in proc.stdout


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert ci.strip().splitlines()[-1] == "make test"
