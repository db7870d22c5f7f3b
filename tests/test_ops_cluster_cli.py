"""`cim cluster up --ha` on this machine (127.0.0.1, free ports, a data folder of the test's own):
the monitor reports a primary and a standby, the write URL leads to the primary and the read URL to
the standby, and the API's /metrics reports the standby's replication lag; `cim cluster down`
stops it all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from tests.conftest import ROOT

pytestmark = [
    pytest.mark.ha,
    pytest.mark.skipif(shutil.which("pg_autoctl") is None, reason="pg_auto_failover: bash scripts/install_system.sh"),
]


def cim(data_dir: Path, *args: str) -> dict:
    env = {**os.environ, "CIM_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "spatial_api.cli", *args, "--json"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cluster_up_ha_gives_a_primary_a_standby_and_their_lag(client):
    from core import migrate
    from core.settings import configured, get_settings

    data = Path(tempfile.mkdtemp(prefix="cim-ha-cli-", dir="/var/tmp"))
    data.chmod(0o755)
    try:
        up = cim(data, "cluster", "up", "--ha")
        assert up["running"] is True and up["states"] == {"node1": "primary", "node2": "secondary"}
        recovery = []
        for url in (up["write_url"], up["read_url"]):
            engine = create_engine(url)
            with engine.connect() as conn:
                recovery.append(conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one())
            engine.dispose()
        assert recovery == [False, True]
        ha = get_settings().model_copy(update={"database_url": up["write_url"], "database_read_url": up["read_url"]})
        with configured(ha):
            migrate.upgrade()
            exposition = client.get("/metrics").text
            ready = client.get("/api/v1/ready").json()
        assert ready["ready"] is True
        lag = {
            s.labels["standby"]: s.value
            for family in text_string_to_metric_families(exposition)
            for s in family.samples
            if s.name == "cim_replication_lag_bytes"
        }
        assert list(lag) == ["pgautofailover_standby_2"] and lag["pgautofailover_standby_2"] >= 0
        assert cim(data, "cluster", "status")["states"] == up["states"]
    finally:
        down = cim(data, "cluster", "down")
        shutil.rmtree(data, ignore_errors=True)
    assert down["running"] is False
