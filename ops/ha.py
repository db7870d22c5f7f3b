"""A highly available cluster with pg_auto_failover: a monitor and two data nodes (a primary and
a hot standby, promoted automatically when the primary is lost), each run by its ``pg_autoctl``
keeper. Locally (``cim cluster up --ha``) every node listens on 127.0.0.1 on a port of its own under
``.data/ha``; the failover test puts each on a host of its own (a network namespace).

The application connects with a multi-host URL: ``target_session_attrs=read-write`` finds the
primary for writes, ``prefer-standby`` sends read-only work to the standby while there is one.
Inside the topology the nodes trust each other's replication and health checks (``--auth trust``
on their own network); the application role ``cim`` logs in with its password (scram-sha-256)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from core import cluster, secrets
from core.settings import get_settings
from ops import backup
from ops.postgres import OpsError, give_to_owner

DATABASE = "cim"
APP_ROLE = "cim"
# Debian's socket directory (the nodes' ports differ, so their sockets do too, even across namespaces).
SOCKETS = "/var/run/postgresql"
# The monitor's checks, tighter than pg_auto_failover's defaults (5 s period, 20 s before a node
# is unhealthy) so that a lost primary is replaced well within 30 s.
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "4000",
    # Before promoting, the monitor waits this long for a primary it cannot reach to demote itself;
    # a primary cut off from monitor and standby does so after NETWORK_PARTITION_S (below it).
    "pgautofailover.primary_demote_timeout": "6000",
}
NETWORK_PARTITION_S = 3


@dataclass(frozen=True)
class Host:
    """Where a node runs: its address, and the network namespace that is its host (None: this one)."""

    name: str
    address: str = "127.0.0.1"
    netns: str | None = None

    def command(self, args: Sequence[str], as_owner: bool = True) -> list[str]:
        inner = cluster.as_owner(list(args)) if as_owner else list(args)
        return ["ip", "netns", "exec", self.netns, *inner] if self.netns else inner


@dataclass(frozen=True)
class Node:
    name: str
    host: Host
    port: int
    pgdata: Path

    @property
    def postmaster_pid(self) -> int | None:
        """The pid of the node's running postmaster (None when its lock file is missing, or stale:
        its host was killed and the number may now be another process's)."""
        return cluster.postmaster_pid(self.pgdata)


@dataclass
class Topology:
    root: Path
    monitor: Node
    nodes: list[Node]
    network: str = "127.0.0.1/32"  # where the application connects from
    keepers: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def monitor_uri(self) -> str:
        host = self.monitor.host.address
        return f"postgres://autoctl_node@{host}:{self.monitor.port}/pg_auto_failover?sslmode=disable"

    def url(self, read_only: bool = False, driver: str = "postgresql") -> str:
        """The application's multi-host URL: the primary for writes, a standby preferred for reads."""
        attrs = "prefer-standby" if read_only else "read-write"
        hosts = ",".join(f"{n.host.address}:{n.port}" for n in self.nodes)
        password = quote(app_password(self.root), safe="")
        return f"{driver}://{APP_ROLE}:{password}@{hosts}/{DATABASE}?target_session_attrs={attrs}&connect_timeout=2"

    def sqlalchemy_url(self, read_only: bool = False) -> str:
        """The same for ``DATABASE_URL``: hosts and ports as comma lists, a form both SQLAlchemy and
        libpq (the job queue's connector) read."""
        attrs = "prefer-standby" if read_only else "read-write"
        hosts = ",".join(n.host.address for n in self.nodes)
        ports = ",".join(str(n.port) for n in self.nodes)
        password = quote(app_password(self.root), safe="")
        query = f"host={hosts}&port={ports}&target_session_attrs={attrs}&connect_timeout=2"
        return f"postgresql+psycopg://{APP_ROLE}:{password}@/{DATABASE}?{query}"


def app_password(root: Path) -> str:
    return secrets.read_file(secrets.generated(root, "pg_cim"), "the HA application password")


def _environment(node: Node) -> dict[str, str]:
    """pg_autoctl keeps its configuration and state under XDG folders: the node's own."""
    place = node.pgdata.parent
    return {
        **os.environ,
        "PGHOST": SOCKETS,
        "XDG_CONFIG_HOME": str(place / "config"),
        "XDG_DATA_HOME": str(place / "state"),
    }


def _run(node: Node, args: Sequence[str], what: str, timeout: float = 300) -> str:
    env = _environment(node)
    proc = subprocess.run(node.host.command(args), capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR" in line or "FATAL" in line] or lines
        raise OpsError(f"{what} failed: {errors[-1] if errors else proc.returncode}")
    return proc.stdout


def _autoctl() -> str:
    found = shutil.which("pg_autoctl") or str(cluster.server_bindir() / "pg_autoctl")
    if not Path(found).exists():
        raise OpsError("pg_auto_failover is not installed: run `bash scripts/install_system.sh`")
    return found


def _start_keeper(topology: Topology, node: Node, args: Sequence[str]) -> None:
    """``pg_autoctl`` in the background for ``node`` (its own process group, killed as one)."""
    log = open(node.pgdata.parent / f"{node.name}.log", "ab")  # noqa: SIM115 - the keeper's for its life
    env = _environment(node)
    topology.keepers[node.name] = subprocess.Popen(
        node.host.command(args), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    log.close()


def _psql(node: Node, sql: str, database: str = "postgres") -> str:
    psql = str(cluster.server_bindir() / "psql")
    args = [psql, "-h", SOCKETS, "-p", str(node.port), "-U", "postgres", "-d", database]
    return _run(node, [*args, "-v", "ON_ERROR_STOP=1", "-tAc", sql], "psql", timeout=60).strip()


def _wait(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except (OpsError, subprocess.SubprocessError, OSError):
            pass
        if time.monotonic() - started > timeout:
            raise OpsError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.25)


def states(topology: Topology) -> dict[str, str]:
    """Each data node's current state as the monitor sees it (``primary``, ``secondary``, ...)."""
    sql = "SELECT nodename, reportedstate FROM pgautofailover.node ORDER BY nodeid"
    rows = _psql(topology.monitor, sql, "pg_auto_failover").splitlines()
    return dict(row.split("|", 1) for row in rows if "|" in row)


def _prepare(node: Node) -> None:
    for folder in (node.pgdata.parent, node.pgdata.parent / "config", node.pgdata.parent / "state"):
        give_to_owner(folder)


def create(topology: Topology, settings: Mapping[str, str] | None = None) -> Topology:
    """Create and start the monitor, the primary, then the standby; the application role and
    database with PostGIS on the primary. ``settings``: server settings of both data nodes (e.g.
    :func:`ops.backup.archive_settings`), set on the primary before the standby copies its data
    directory. Waits until the standby is in sync."""
    autoctl = _autoctl()
    monitor = topology.monitor
    _prepare(monitor)
    common = ["--auth", "trust", "--no-ssl", "--pgctl", str(cluster.server_bindir() / "pg_ctl")]
    _start_keeper(
        topology,
        monitor,
        [
            autoctl,
            "create",
            "monitor",
            "--pgdata",
            str(monitor.pgdata),
            "--pgport",
            str(monitor.port),
            "--hostname",
            monitor.host.address,
            "--listen",
            monitor.host.address,
            *common,
            "--run",
        ],
    )
    _wait(lambda: _psql(monitor, "SELECT 1", "pg_auto_failover") == "1", 120, "the monitor starting")
    for name, value in MONITOR_SETTINGS.items():
        _psql(monitor, f"ALTER SYSTEM SET {name} = '{value}'")
    _psql(monitor, "SELECT pg_reload_conf()")
    for index, node in enumerate(topology.nodes):
        _prepare(node)
        _start_keeper(
            topology,
            node,
            [
                autoctl,
                "create",
                "postgres",
                "--pgdata",
                str(node.pgdata),
                "--pgport",
                str(node.port),
                "--hostname",
                node.host.address,
                "--listen",
                node.host.address,
                "--name",
                node.name,
                "--dbname",
                DATABASE,
                "--monitor",
                topology.monitor_uri,
                *common,
                "--run",
            ],
        )
        if index == 0:  # alone, the first node is "single" until a standby joins
            _wait(lambda node=node: states(topology).get(node.name) == "single", 180, f"{node.name} starting")
            _app_database(topology, node)
            _configure(node, settings or {})
    wanted = {node.name: "primary" if index == 0 else "secondary" for index, node in enumerate(topology.nodes)}
    primary = topology.nodes[0]

    def caught_up() -> bool:
        if states(topology) == wanted:
            return True
        # pg_basebackup waits for a spread checkpoint (minutes): ask for one now.
        _psql(primary, "CHECKPOINT")
        return False

    _wait(caught_up, 180, "the standby catching up")
    setting = ["timeout.network_partition_timeout", str(NETWORK_PARTITION_S)]
    for node in topology.nodes:
        _run(node, [autoctl, "config", "set", "--pgdata", str(node.pgdata), *setting], "setting the partition timeout")
    return topology


def _app_database(topology: Topology, primary: Node) -> None:
    """The application role (its password, no superuser), its database and PostGIS, and its
    password logins from the application's network (copied to the standby by its base backup)."""
    password = app_password(topology.root).replace("'", "''")
    _psql(primary, f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER PASSWORD '{password}' IN ROLE pg_monitor")
    _psql(primary, f"ALTER DATABASE {DATABASE} OWNER TO {APP_ROLE}")
    for extension in cluster.SUPERUSER_EXTENSIONS:
        _psql(primary, f"CREATE EXTENSION IF NOT EXISTS {extension}", DATABASE)
    _psql(primary, f"ALTER SCHEMA public OWNER TO {APP_ROLE}", DATABASE)
    hba = primary.pgdata / "pg_hba.conf"
    line = f"host {DATABASE} {APP_ROLE} {topology.network} scram-sha-256\n"
    subprocess.run(primary.host.command(["sh", "-c", f"echo '{line.strip()}' >> {hba}"]), check=True)
    _psql(primary, "SELECT pg_reload_conf()")


def _configure(node: Node, settings: Mapping[str, str]) -> None:
    """``settings`` on ``node`` (ALTER SYSTEM); when one needs a restart, Postgres is stopped and
    its keeper starts it again with them."""
    if not settings:
        return
    for name, value in settings.items():
        _psql(node, f"ALTER SYSTEM SET {name} = '{value.replace(chr(39), chr(39) * 2)}'")
    _psql(node, "SELECT pg_reload_conf()")
    if _psql(node, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0":
        return
    pg_ctl = str(cluster.server_bindir() / "pg_ctl")
    _run(node, [pg_ctl, "stop", "-D", str(node.pgdata), "-m", "fast", "-w"], f"restarting {node.name}", 120)
    _wait(lambda: _psql(node, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0", 120, "the restart")


def backups(topology: Topology, node: Node) -> backup.Layout:
    """The pair's pgBackRest repositories, under the topology's root (a folder both data nodes reach:
    the same filesystem here, a shared mount between hosts), configured for backups from ``node``
    (the current primary)."""
    return backup.Layout(node.pgdata, node.port, topology.root / "backup", Path(SOCKETS))


def kill_host(topology: Topology, node: Node) -> int | None:
    """The host of ``node`` dies: its postmaster is killed with SIGKILL, then its keeper (which
    would restart it). The postmaster's pid."""
    pid = node.postmaster_pid
    if pid:
        os.kill(pid, signal.SIGKILL)
    keeper = topology.keepers.pop(node.name, None)
    if keeper is not None:
        os.killpg(keeper.pid, signal.SIGKILL)
        keeper.wait(timeout=30)
    return pid


def restart_keeper(topology: Topology, node: Node) -> None:
    """The node's host is back: its keeper rejoins the formation (as a standby after a failover)."""
    _start_keeper(topology, node, [_autoctl(), "run", "--pgdata", str(node.pgdata)])


def stop(topology: Topology) -> None:
    """Stop every keeper (and so its Postgres), the data nodes first; then whatever still runs."""
    for node in [*topology.nodes, topology.monitor]:
        keeper = topology.keepers.pop(node.name, None)
        if keeper is None:  # started by another process (`cim cluster up --ha`)
            if (node.pgdata / "postmaster.pid").exists():
                with contextlib.suppress(OpsError):
                    _run(node, [_autoctl(), "stop", "--pgdata", str(node.pgdata)], f"stopping {node.name}", 120)
                    _wait(lambda node=node: not (node.pgdata / "postmaster.pid").exists(), 60, f"{node.name} stopping")
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(keeper.pid, signal.SIGTERM)
        try:
            keeper.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(keeper.pid, signal.SIGKILL)
    for node in [*topology.nodes, topology.monitor]:
        pid = node.postmaster_pid
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def running(topology: Topology) -> bool:
    """Whether the monitor's Postgres runs."""
    return topology.monitor.postmaster_pid is not None


def local(root: Path | None = None) -> Topology:
    """The development topology: every node on 127.0.0.1 and a free port, under ``.data/ha``."""
    root = (root or get_settings().data_dir / "ha").resolve()
    host = Host("local")
    ports_file = root / "ports.json"
    ports = json.loads(ports_file.read_text()) if ports_file.exists() else {}
    names = ("monitor", "node1", "node2")
    for name in names:
        ports.setdefault(name, cluster.free_port())
    root.mkdir(parents=True, exist_ok=True)
    ports_file.write_text(json.dumps(ports))
    monitor, *nodes = (Node(name, host, ports[name], root / name / "pgdata") for name in names)
    return Topology(root, monitor, nodes)
