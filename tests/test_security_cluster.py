"""The bundled cluster as a safe default, on a cluster of its own (a fresh data directory): password
authentication only, an application role that is no superuser, durability on; `kill -9` of the
postmaster after acknowledged writes loses none of them, `cim db up` brings it back on the same
port, and a running API serves again without being restarted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text as sqltext
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from core.secrets import generated
from spatial_api.local_server import free_port
from tests.conftest import ROOT


def _run_cim(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spatial_api.cli", *args, "--json"], capture_output=True, text=True, env=env, timeout=180
    )


def _cim(env: dict[str, str], *args: str) -> dict:
    proc = _run_cim(env, *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _cim_once(env: dict[str, str], *args: str) -> dict | None:
    """One ``cim`` call: its JSON answer, or None when it failed."""
    proc = _run_cim(env, *args)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met in {timeout} s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A new cluster (initdb, roles, PostGIS, migrations) in its own data directory; removed after."""
    data = tmp_path_factory.mktemp("own-cluster")
    session_db = ("DATABASE_URL", "CIM_DATABASE_URL", "CIM_OWNER_DATABASE_URL", "CIM_DB_UNSAFE_FAST")
    env = {k: v for k, v in os.environ.items() if k not in session_db}
    env["CIM_DATA_DIR"] = str(data)
    env["CIM_JWT_SECRET_FILE"] = str(generated(data, "jwt_secret"))
    state = _cim(env, "db", "up")
    try:
        yield {"env": env, "data": data, **state}
    finally:
        subprocess.run([sys.executable, "-m", "spatial_api.cli", "db", "down"], env=env, capture_output=True)
        shutil.rmtree(state["data_dir"], ignore_errors=True)


def _connect(url: str, **overrides) -> psycopg.Connection:
    parsed = make_url(url).set(**overrides) if overrides else make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
        connect_timeout=5,
    )


def test_passwords_no_superuser_and_durability(own_cluster):
    url = own_cluster["url"]
    with _connect(url) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("fsync", "synchronous_commit", "full_page_writes", "password_encryption")
        }
        role = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert owner.fetchone()[0] == "cim_owner"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("COPY (SELECT 1) TO PROGRAM 'true'")  # OS commands need a superuser
    assert settings == {
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
        "password_encryption": "scram-sha-256",
    }
    assert role == (False, False, False)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(url, password="wrong")
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        _connect(url, username="postgres", password="")  # no trust: the superuser needs its password too
    for name in ("pg_cim", "pg_postgres"):
        assert stat.S_IMODE((own_cluster["data"] / "secrets" / name).stat().st_mode) == 0o600
    hba = (Path(own_cluster["data_dir"]) / "pg_hba.conf").read_text()
    assert "trust" not in hba and "scram-sha-256" in hba


def test_kill_9_loses_no_acknowledged_write_and_the_api_recovers(own_cluster):
    env, url = own_cluster["env"], own_cluster["url"]
    port = free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "spatial_api.app:create_app", "--factory", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v1"

    def status(path: str = "/health") -> int:
        try:
            return httpx.get(base + path, timeout=5).status_code
        except httpx.TransportError:
            return 0

    try:
        _until(lambda: status() == 200, what="the API to start")
        # Failed logins: each answer comes after its audit row is committed (acknowledged writes).
        writes = 15
        for i in range(writes):
            answer = httpx.post(f"{base}/auth/token", data={"username": f"nobody-{i}", "password": "x"}, timeout=10)
            assert answer.status_code in (401, 429)
        postmaster = int((Path(own_cluster["data_dir"]) / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        _until(lambda: status() == 503, what="the API to notice the database is gone")
        # After a kill -9 the killed postmaster's backends exit on their own time; `cim db up` starts
        # the cluster once they have (on a loaded machine that can take a few attempts).
        started: list[dict] = []
        _until(lambda: started.append(_cim_once(env, "db", "up")) or started[-1] is not None, 120, "the restart")
        again = started[-1]
        assert again["port"] == own_cluster["port"] and again["url"] == url
        with _connect(url) as conn:
            logged = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'login' AND object LIKE 'nobody-%'")
            assert logged.fetchone()[0] == writes
        # The same API process answers again, without a restart.
        _until(lambda: status() == 200 and status("/collections/buildings/items?limit=1") == 200, what="recovery")
    finally:
        api.terminate()
        api.wait(timeout=20)


def _owner_url(own_cluster: dict) -> str:
    secret = (own_cluster["data"] / "secrets" / "pg_cim_owner").read_text().strip()
    return make_url(own_cluster["url"]).set(username="cim_owner", password=secret).render_as_string(False)


def test_the_application_role_only_reads_and_writes_rows(own_cluster):
    """Migrations ran as the owner (it owns every table but PostGIS's own); the application role may not CREATE, ALTER,
    DROP or TRUNCATE, nor UPDATE or DELETE an audit row, yet reads and writes ordinary rows."""
    refused = [
        "CREATE TABLE intruder (a int)",
        "CREATE SCHEMA intruder",
        "ALTER TABLE building ADD COLUMN intruder int",
        "DROP TABLE building",
        "TRUNCATE building",
        "CREATE INDEX intruder ON building (code)",
        "UPDATE audit_log SET result = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
    ]
    with _connect(own_cluster["url"]) as conn:
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="denied|must be owner"):
                conn.execute(statement)
        with conn.transaction(force_rollback=True):
            conn.execute("INSERT INTO login_throttle (key, failures) VALUES ('probe', 1)")
            conn.execute("UPDATE login_throttle SET failures = 2 WHERE key = 'probe'")
            assert conn.execute("SELECT failures FROM login_throttle WHERE key = 'probe'").fetchone() == (2,)
            assert conn.execute("DELETE FROM login_throttle WHERE key = 'probe'").rowcount == 1
            conn.execute("INSERT INTO audit_log (action, result) VALUES ('probe', 'ok')")
        owners = dict(
            conn.execute(
                """SELECT pg_get_userbyid(c.relowner), count(*) FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname IN ('public', 'sensor_partitions') AND c.relkind IN ('r', 'p', 'v', 'S')
                      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
                    GROUP BY 1"""
            ).fetchall()
        )
    assert set(owners) == {"cim_owner"} and owners["cim_owner"] > 50, owners


def test_pgaudit_logs_statements_outside_the_application(own_cluster):
    """pgaudit writes the owner's statements (and DDL) to the server log, not the application's rows."""
    log = Path(own_cluster["data_dir"]) / "server.log"
    marks = {role: f"pgaudit-probe-{role}-{time.monotonic_ns()}" for role in ("cim", "cim_owner")}
    with _connect(own_cluster["url"]) as conn:
        conn.execute(f"SELECT '{marks['cim']}'")
    with _connect(_owner_url(own_cluster)) as conn:
        conn.execute(f"SELECT '{marks['cim_owner']}'")
        conn.execute(f'CREATE TABLE "{marks["cim_owner"]}_t" (a int)')
        conn.execute(f'DROP TABLE "{marks["cim_owner"]}_t"')

    def audited() -> list[str]:
        return [line for line in log.read_text(errors="replace").splitlines() if "AUDIT: SESSION" in line]

    _until(lambda: sum(marks["cim_owner"] in line for line in audited()) == 3, 30, "the owner's statements logged")
    lines = [line for line in audited() if marks["cim_owner"] in line]
    expected = [["READ", "SELECT"], ["DDL", "CREATE TABLE"], ["DDL", "DROP TABLE"]]
    assert [line.split(",")[3:5] for line in lines] == expected
    assert not any(marks["cim"] in line for line in audited()), "the application's reads stay out of pgaudit's log"


def test_the_test_session_runs_as_production(database, server_url):
    """The session's database (tests/conftest.py) is the owner's, migrated by it; the app and the tests
    use the DML-only application role, so anything the app does that needs more fails in the suite."""
    from core import cluster

    if make_url(server_url).username != cluster.ADMIN_USER:  # the session is on DATABASE_URL's server
        pytest.skip("DATABASE_URL names one role for everything; the local cluster has the two")
    with database.connect() as conn:
        user, owner = conn.execute(
            sqltext("SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        ).one()
        tables = conn.execute(
            sqltext(
                """SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')"""
            )
        ).scalars()
    assert (user, owner, set(tables)) == (cluster.DB_USER, cluster.OWNER_USER, {cluster.OWNER_USER})
    with pytest.raises(ProgrammingError, match="must be owner"), database.begin() as conn:
        conn.execute(sqltext("ALTER TABLE building ADD COLUMN intruder int"))


def test_an_owner_url_of_another_database_is_not_used(database):
    """A process pointed at another database by DATABASE_URL alone (an inherited CIM_OWNER_DATABASE_URL
    beside it) runs owner work on its own database, never on the inherited one."""
    from core.db import owner_url
    from core.settings import configured, get_settings

    mine = make_url(database.url).set(database="elsewhere")
    inherited = mine.set(username="cim_owner", database="the_session")
    update = {"database_url": mine.render_as_string(False), "owner_database_url": inherited.render_as_string(False)}
    with configured(get_settings().model_copy(update=update)):
        assert make_url(owner_url()) == mine.set(drivername="postgresql+psycopg")
    update["owner_database_url"] = inherited.set(database="elsewhere").render_as_string(False)
    with configured(get_settings().model_copy(update=update)):
        assert make_url(owner_url()).username == "cim_owner"
