"""Failover on hosts of the test's own: network namespaces (one each for the monitor, the two
data nodes and the API host, joined by a bridge in a fifth), pg_auto_failover on them. Under a
write load from the API host through the multi-host URL, the primary's postmaster is killed with
SIGKILL (and its host with it); the standby is promoted within 30 s, every acknowledged write is
there afterwards, writes go on, and the old primary rejoins as the standby."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [
    pytest.mark.ha,
    pytest.mark.skipif(shutil.which("pg_autoctl") is None, reason="pg_auto_failover: bash scripts/install_system.sh"),
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]
SUBNET = "10.219.0"
HOSTS = ("monitor", "node1", "node2", "api")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def kill_namespace(netns: str) -> None:
    """Every process of the namespace, SIGKILLed (a host that dies)."""
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


@pytest.fixture
def hosts() -> Iterator[dict[str, str]]:
    """The namespaces (host name → namespace), each with an address on the bridge; all removed after."""
    prefix = f"cha{uuid.uuid4().hex[:5]}"
    switch = f"{prefix}sw"
    made = [switch]
    try:
        ip("netns", "add", switch)
        ip("-n", switch, "link", "add", "br0", "type", "bridge")
        ip("-n", switch, "link", "set", "br0", "up")
        for index, name in enumerate(HOSTS):
            netns = f"{prefix}{name}"
            ip("netns", "add", netns)
            made.append(netns)
            inside, outside = f"{prefix}{index}h", f"{prefix}{index}s"
            ip("link", "add", inside, "type", "veth", "peer", "name", outside)
            ip("link", "set", inside, "netns", netns)
            ip("link", "set", outside, "netns", switch)
            ip("-n", switch, "link", "set", outside, "master", "br0", "up")
            ip("-n", netns, "addr", "add", f"{SUBNET}.{index + 2}/24", "dev", inside)
            ip("-n", netns, "link", "set", inside, "up")
            ip("-n", netns, "link", "set", "lo", "up")
        yield {name: f"{prefix}{name}" for name in HOSTS}
    finally:
        for netns in made:
            kill_namespace(netns)
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def test_the_standby_takes_over_with_no_acknowledged_write_lost(hosts):
    from ops import ha

    root = Path(tempfile.mkdtemp(prefix="cim-ha-", dir="/var/tmp"))
    root.chmod(0o755)
    place = {name: ha.Host(name, f"{SUBNET}.{i + 2}", hosts[name]) for i, name in enumerate(HOSTS)}
    monitor = ha.Node("monitor", place["monitor"], 5431, root / "monitor" / "pgdata")
    nodes = [ha.Node(name, place[name], 5432 + i, root / name / "pgdata") for i, name in enumerate(("node1", "node2"))]
    topology = ha.Topology(root, monitor, nodes, network=f"{SUBNET}.0/24")
    load = None
    try:
        started = time.monotonic()
        ha.create(topology)
        built_s = time.monotonic() - started
        url = topology.url()
        acked, stop_file = root / "acked.txt", root / "stop"
        api = ["ip", "netns", "exec", hosts["api"], sys.executable, str(ROOT / "tests" / "ha_load.py")]
        load = subprocess.Popen([*api, "load", url, str(acked), str(stop_file), "120"], stderr=subprocess.PIPE)

        def acked_ids() -> list[tuple[int, float]]:
            lines = acked.read_text().split("\n") if acked.exists() else []
            return [(int(a), float(b)) for a, b in (line.split() for line in lines if line.count(" ") == 1)]

        ha._wait(lambda: len(acked_ids()) >= 100, 60, "100 acknowledged writes")
        primary = nodes[0]
        postmaster = primary.postmaster_pid
        assert postmaster is not None
        killed_at = time.time()
        os.kill(postmaster, signal.SIGKILL)
        kill_namespace(hosts["node1"])  # its keeper too: the host is gone
        topology.keepers.pop("node1", None)
        before_kill = [i for i, at in acked_ids() if at <= killed_at]
        ha._wait(lambda: any(at > killed_at for _, at in acked_ids()), 60, "a write after the kill")
        failover_s = min(at for _, at in acked_ids() if at > killed_at) - killed_at
        ha._wait(lambda: ha.states(topology).get("node2") in ("wait_primary", "primary"), 30, "node2 promoted")
        written_after = len([1 for _, at in acked_ids() if at > killed_at])
        ha._wait(lambda: len([1 for _, at in acked_ids() if at > killed_at]) >= written_after + 50, 30, "more writes")

        rejoin_started = time.monotonic()
        ha.restart_keeper(topology, primary)
        ha._wait(lambda: ha.states(topology) == {"node1": "secondary", "node2": "primary"}, 120, "node1 rejoining")
        rejoin_s = time.monotonic() - rejoin_started
        stop_file.touch()
        load.wait(timeout=30)
        present = json.loads(subprocess.run([*api, "count", url], capture_output=True, text=True, check=True).stdout)
        reads = [
            subprocess.run([*api, "standby", u], capture_output=True, text=True, check=True).stdout
            for u in (topology.url(read_only=True), url)
        ]
        assert [json.loads(r) for r in reads] == [True, False], "reads go to the standby, writes to the primary"
        acknowledged = {i for i, _ in acked_ids()}
        lost = acknowledged - set(present)
        figures = {
            "built_s": round(built_s, 1),
            "failover_s": round(failover_s, 2),
            "rejoin_s": round(rejoin_s, 1),
            "acknowledged_before_kill": len(before_kill),
            "acknowledged_total": len(acknowledged),
            "lost": len(lost),
        }
        print("HA figures:", json.dumps(figures))
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        (ROOT / "test-artifacts" / "ha_failover.json").write_text(json.dumps(figures))
        assert lost == set(), f"acknowledged writes lost: {sorted(lost)[:20]}"
        assert failover_s <= 30
        assert len(acknowledged) > len(before_kill) + 50
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        ha.stop(topology)
        shutil.rmtree(root, ignore_errors=True)
