"""The highly available site on this machine, for the failover tests: one network namespace per
host (the monitor, two database nodes, two API hosts, a worker, nginx and a client), each with an
address on a bridge in a namespace of its own, so that all traffic stays inside them.
pg_auto_failover on the database hosts; ``cim serve`` on the API hosts and ``cim worker`` on the
worker, all on the multi-host URLs; nginx (the project's configuration) in front of the two APIs.
Both database nodes archive their WAL into a pgBackRest repository under the site's folder (which
every namespace reaches), and a full backup is taken once the schema is there.
:func:`build` makes it, :meth:`Site.close` removes every process and namespace, even half built."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.secrets import generated
from ops import backup, ha, nginx

ROOT = Path(__file__).resolve().parent.parent
SUBNET = "10.219.0"
HOSTS = ("monitor", "node1", "node2", "api1", "api2", "worker", "nginx", "client")
API_PORT = 8000
FRONT_PORT = 8443
SENSOR = "HA-PROBE-1"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def until(condition, timeout: float, what: str, pause: float = 0.25) -> float:
    """Poll ``condition()`` until true; the seconds it took, or an AssertionError naming ``what``."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if condition():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(pause)


@dataclass
class Site:
    prefix: str
    root: Path
    namespaces: dict[str, str] = field(default_factory=dict)
    topology: ha.Topology | None = None
    front: nginx.Front | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    api_key: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def address(self, host: str) -> str:
        return f"{SUBNET}.{HOSTS.index(host) + 2}"

    def command(self, host: str, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[host], *args]

    def spawn(self, host: str, args: list[str]) -> subprocess.Popen:
        """``args`` in the background on ``host`` (its output in ``root/<host>.log``)."""
        with (self.root / f"{host}.log").open("ab") as log:
            process = subprocess.Popen(
                self.command(host, args), env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes[host] = process
        return process

    def kill_host(self, host: str) -> None:
        """The host dies: every process of its namespace SIGKILLed."""
        found = subprocess.run(["ip", "netns", "pids", self.namespaces[host]], capture_output=True, text=True)
        for pid in found.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        if self.topology is not None:
            self.topology.keepers.pop(host, None)

    def primary(self) -> ha.Node:
        assert self.topology is not None
        current = ha.states(self.topology)
        return next(n for n in self.topology.nodes if current.get(n.name) in ("primary", "wait_primary", "single"))

    def sql(self, statement: str) -> list[list[str]]:
        """``statement`` as the superuser on the current primary (over its socket, on its host)."""
        rows = ha._psql(self.primary(), statement, ha.DATABASE).splitlines()
        return [row.split("|") for row in rows if row]

    @property
    def client_config(self) -> Path:
        return self.root / "client.json"

    def client(self, *args: str) -> Any:
        """A request from the client host through nginx (tests/ha_load.py); its JSON answer."""
        script = [sys.executable, str(ROOT / "tests" / "ha_load.py"), args[0], str(self.client_config), *args[1:]]
        done = subprocess.run(self.command("client", script), capture_output=True, text=True, env=self.env, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)

    def close(self) -> None:
        """Stop everything and remove the namespaces (whatever was made)."""
        if self.topology is not None:
            with contextlib.suppress(Exception):
                ha.stop(self.topology)
        for host in self.namespaces:
            self.kill_host(host)
        for netns in [*self.namespaces.values(), f"{self.prefix}sw"]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _network(site: Site) -> None:
    switch = f"{site.prefix}sw"
    _ip("netns", "add", switch)
    _ip("-n", switch, "link", "add", "br0", "type", "bridge")
    _ip("-n", switch, "link", "set", "br0", "up")
    for index, name in enumerate(HOSTS):
        netns = f"{site.prefix}{name}"
        _ip("netns", "add", netns)
        site.namespaces[name] = netns
        inside, outside = f"{site.prefix}{index}h", f"{site.prefix}{index}s"
        _ip("link", "add", inside, "type", "veth", "peer", "name", outside)
        _ip("link", "set", inside, "netns", netns)
        _ip("link", "set", outside, "netns", switch)
        _ip("-n", switch, "link", "set", outside, "master", "br0", "up")
        _ip("-n", netns, "addr", "add", f"{site.address(name)}/24", "dev", inside)
        _ip("-n", netns, "link", "set", inside, "up")
        _ip("-n", netns, "link", "set", "lo", "up")


def _application(site: Site) -> None:
    """The schema (migrated from the first API host), a sensor and an API key for the load, then
    the API processes, the worker and nginx, waited for until nginx answers /ready."""
    assert site.topology is not None
    data = site.root / "data"
    data.mkdir()
    site.env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": site.topology.sqlalchemy_url(),
        "DATABASE_READ_URL": site.topology.sqlalchemy_url(read_only=True),
        "CIM_DATA_DIR": str(data),
        **{f"CIM_{key.upper()}_FILE": str(generated(data, key)) for key in ("jwt_secret", "field_key", "pii_key")},
    }
    site.env.pop("CIM_OWNER_DATABASE_URL", None)
    cli = [sys.executable, "-m", "spatial_api.cli"]
    migrated = subprocess.run(
        site.command("api1", [*cli, "db", "migrate"]), env=site.env, cwd=ROOT, capture_output=True
    )
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
    site.api_key = f"cim_{prefix}.{secret}"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    site.sql(
        f"""INSERT INTO api_key (prefix, secret_hash, name, role, scopes, created_by, active)
            VALUES ('{prefix}', '{digest}', 'ha load', 'admin', ARRAY['read', 'write'], 'ha test', true);
            INSERT INTO sensor (id, kind, unit, position) VALUES ('{SENSOR}', 'manhole_cover', 'state',
              ST_Transform(ST_SetSRID(ST_MakePoint(119.95, 31.78, 5), 4326),
                           Find_SRID('public', 'sensor', 'position')))"""
    )
    for host in ("api1", "api2"):
        site.spawn(host, [*cli, "serve", "--host", site.address(host), "--port", str(API_PORT), "--no-listen"])
    site.spawn("worker", [*cli, "worker"])
    upstreams = tuple(f"{site.address(h)}:{API_PORT}" for h in ("api1", "api2"))
    site.front = nginx.Front(
        site.root / "nginx", FRONT_PORT, upstreams, site.address("nginx"), site.namespaces["nginx"]
    )
    nginx.write(site.front)
    nginx.start(site.front)
    front = site.front
    site.client_config.write_text(
        json.dumps(
            {
                "url": f"https://{site.address('nginx')}:{FRONT_PORT}",
                "cafile": str(front.certificate),
                "key": site.api_key,
                "sensor": SENSOR,
                "out": str(site.root),
            }
        )
    )

    def both_ready() -> bool:
        return set(site.client("ready")) == {200} and all(p.poll() is None for p in site.processes.values())

    try:
        until(both_ready, 300, "both API hosts ready behind nginx", pause=1)
    except AssertionError as exc:
        tails = {h: (site.root / f"{h}.log").read_text(errors="replace")[-1500:] for h in ("api1", "api2", "worker")}
        raise AssertionError(f"{exc}: {tails}") from None


def build() -> Site:
    """The whole site, up and ready; on any failure, everything made so far is removed."""
    root = Path(tempfile.mkdtemp(prefix="cim-ha-", dir="/var/tmp"))
    root.chmod(0o755)
    site = Site(f"cha{uuid.uuid4().hex[:5]}", root)
    try:
        _network(site)
        place = {name: ha.Host(name, site.address(name), site.namespaces[name]) for name in HOSTS}
        monitor = ha.Node("monitor", place["monitor"], 5431, root / "monitor" / "pgdata")
        nodes = [ha.Node(n, place[n], 5432 + i, root / n / "pgdata") for i, n in enumerate(("node1", "node2"))]
        site.topology = ha.Topology(root, monitor, nodes, network=f"{SUBNET}.0/24")
        archive = ha.backups(site.topology, nodes[0])
        backup.prepare(archive)
        ha.create(site.topology, backup.archive_settings(archive))  # both nodes archive
        _application(site)
        backup.create_stanza(archive)
        backup.take(archive, "full", (1,))
    except BaseException:
        site.close()
        raise
    return site
