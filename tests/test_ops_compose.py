"""The `ha` profile of docker-compose.yml (a monitor, two data nodes, two API containers, a worker,
nginx) as docker-compose resolves it. The machine has the docker-compose CLI but no compose plugin
for `docker` and no engine: the file is checked, nothing is started."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

HA = {"pg-monitor", "pg-node1", "pg-node2", "api-1", "api-2", "worker", "nginx"}


def test_the_ha_profile_resolves_to_the_whole_topology() -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (scripts/install_system.sh installs it)")
    values = {
        name: secrets.token_hex(24) for name in ("CIM_DB_PASSWORD", "CIM_JWT_SECRET", "CIM_FIELD_KEY", "CIM_PII_KEY")
    }
    env = {k: v for k, v in os.environ.items() if k not in values}
    args = [compose, "-f", str(ROOT / "docker-compose.yml"), "--profile", "ha", "config"]
    refused = subprocess.run(args, capture_output=True, text=True, env=env)
    assert refused.returncode != 0 and "CIM_DB_PASSWORD" in refused.stderr
    proc = subprocess.run(args, capture_output=True, text=True, env=env | values)
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    assert set(services) >= HA
    assert all(services[name]["profiles"] == ["ha"] for name in HA)
    password = values["CIM_DB_PASSWORD"]
    for name in ("api-1", "api-2", "worker", "nginx"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"] == (
            f"postgresql://cim:{password}@/cim?host=pg-node1,pg-node2&port=5432,5432"
            "&target_session_attrs=read-write&connect_timeout=2"
        )
        assert "target_session_attrs=prefer-standby" in environment["DATABASE_READ_URL"]
    assert set(services["nginx"]["depends_on"]) == {"api-1", "api-2"}
    assert "--upstream api-1:8000 --upstream api-2:8000" in " ".join(services["nginx"]["command"])
    assert services["pg-monitor"]["command"] == ["monitor"]
    assert [services[n]["command"] for n in ("pg-node1", "pg-node2")] == [["postgres"], ["postgres"]]
    assert "cim worker" in " ".join(services["worker"]["command"])
    assert services["pg-node1"]["build"]["dockerfile"].endswith("pg-ha.Dockerfile")
    assert (ROOT / "docker" / "pg-ha.Dockerfile").read_text().count("postgresql-15-auto-failover") == 1
