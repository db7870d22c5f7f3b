"""The deployment files are well formed."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tomllib

import pytest

from tests.conftest import ROOT


def test_compose_file_is_valid() -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (scripts/install_system.sh installs it)")
    path = ROOT / "docker-compose.yml"
    required = set(re.findall(r"\$\{(\w+):\?", path.read_text()))
    assert "CIM_DB_PASSWORD" in required  # the deployment never falls back to a default password
    unset = {k: v for k, v in os.environ.items() if k not in required}
    values = {name: secrets.token_hex(24) for name in required}

    def config(env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run([compose, "-f", str(path), "config"], capture_output=True, text=True, env=env)

    refused = config(unset)
    assert refused.returncode != 0 and "CIM_DB_PASSWORD" in refused.stderr
    proc = config(unset | values)
    assert proc.returncode == 0, proc.stderr
    assert "postgis/postgis" in proc.stdout
    assert f"DATABASE_URL: postgresql://cim:{values['CIM_DB_PASSWORD']}@db:5432/cim" in proc.stdout


def test_every_top_level_package_is_installed() -> None:
    """An installed ``cim`` (the image, an editable venv) imports every package the code holds."""
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    listed = {pattern.removesuffix("*") for pattern in include["include"]}
    packages = {path.parent.name for path in ROOT.glob("*/*.py")} - {"tests", "bench"}
    assert packages <= listed, f"add {sorted(packages - listed)} to [tool.setuptools.packages.find] include"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert ci.strip().splitlines()[-1] == "make test"
