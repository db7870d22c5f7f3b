"""A private Mosquitto broker under ``.data/mosquitto`` for the demo and tests.

``cim sensors broker up`` writes its configuration (listener on 127.0.0.1 and a free port,
password authentication, persistence), creates the ``cim`` user with a random password kept in
``.data/mosquitto/credentials`` (mode 0600), and starts it as a daemon. As root it runs as the
``mosquitto`` user, in a folder that user can reach (like ``core.cluster`` does for PostgreSQL).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.cluster import free_port
from core.errors import UserError
from core.settings import get_settings
from live.settings import get_live_settings

MQTT_USER = "cim"
BROKER_USER = "mosquitto"


class BrokerError(UserError):
    """A problem with the local broker, phrased as what to do about it."""


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    port: int | None
    data_dir: Path
    pid: int | None


def _as_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", BROKER_USER, "--", *args] if os.geteuid() == 0 else args


def _data_dir() -> Path:
    """``.data/mosquitto``, or (root, and the broker's user cannot reach it) a folder under /var/lib/cim."""
    preferred = (get_settings().data_dir / "mosquitto").resolve()
    if os.geteuid() != 0:
        return preferred
    preferred.parent.mkdir(parents=True, exist_ok=True)
    if subprocess.run(_as_owner(["test", "-x", str(preferred.parent)])).returncode == 0:
        return preferred
    return Path("/var/lib/cim") / hashlib.sha1(str(preferred).encode()).hexdigest()[:12] / "mosquitto"


def _binary(name: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None)
    if path is None:
        raise BrokerError(
            "Mosquitto is not installed: run `bash scripts/install_system.sh` "
            "(or `apt-get install -y --no-install-recommends mosquitto`), or set CIM_MQTT_URL"
        )
    return path


def _pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "mosquitto.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None
    return pid


def status() -> BrokerStatus:
    """Whether the local broker runs, and where."""
    data_dir = _data_dir()
    port_file = data_dir / "port"
    port = int(port_file.read_text()) if port_file.exists() else None
    pid = _pid(data_dir)
    return BrokerStatus(pid is not None, port, data_dir, pid)


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _write_config(data_dir: Path, port: int) -> None:
    (data_dir / "db").mkdir(parents=True, exist_ok=True)
    (data_dir / "mosquitto.conf").write_text(
        "\n".join(
            [
                f"listener {port} 127.0.0.1",
                "allow_anonymous false",
                f"password_file {data_dir / 'passwd'}",
                "persistence true",
                f"persistence_location {data_dir / 'db'}/",
                "autosave_interval 30",
                f"pid_file {data_dir / 'mosquitto.pid'}",
                f"log_dest file {data_dir / 'mosquitto.log'}",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "max_queued_messages 1000000",
                "max_inflight_messages 20000",  # the listener takes its batches from what is in flight
                "",
            ]
        )
    )
    credentials = data_dir / "credentials"
    if not credentials.exists():
        credentials.touch(mode=0o600)
        credentials.write_text(f"{MQTT_USER}:{secrets.token_urlsafe(18)}\n")
    os.chmod(credentials, 0o600)
    user, password = credentials.read_text().strip().split(":", 1)
    passwd = data_dir / "passwd"
    passwd.unlink(missing_ok=True)
    proc = subprocess.run([_binary("mosquitto_passwd"), "-c", "-b", str(passwd), user, password], capture_output=True)
    if proc.returncode != 0:
        raise BrokerError(f"mosquitto_passwd failed: {proc.stderr.decode().strip()}")
    os.chmod(passwd, 0o600)
    if os.geteuid() == 0:
        owner = pwd.getpwnam(BROKER_USER)
        for path in (data_dir, data_dir / "db", passwd, *(data_dir / "db").iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)


def up(port: int | None = None) -> BrokerStatus:
    """Configure (password refreshed each start) and start the broker; return its status. Idempotent."""
    current = status()
    if current.running:
        return current
    data_dir = current.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or current.port or free_port()
    if _accepts(port):
        port = free_port()
    _write_config(data_dir, port)
    (data_dir / "port").write_text(str(port))
    proc = subprocess.run(
        _as_owner([_binary("mosquitto"), "-c", str(data_dir / "mosquitto.conf"), "-d"]), capture_output=True
    )
    if proc.returncode != 0:
        raise BrokerError(f"starting Mosquitto failed: {proc.stderr.decode().strip() or proc.returncode}")
    deadline = time.monotonic() + 15
    while not _accepts(port):
        if time.monotonic() > deadline:
            log = data_dir / "mosquitto.log"
            raise BrokerError(f"Mosquitto did not open port {port}: {log.read_text()[-400:] if log.exists() else ''}")
        time.sleep(0.05)
    return status()


def down() -> BrokerStatus:
    """Stop the broker if it runs (it saves its persistent sessions first)."""
    current = status()
    if current.pid is not None:
        os.kill(current.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _pid(current.data_dir) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if current.port is not None:
            while _accepts(current.port) and time.monotonic() < deadline:
                time.sleep(0.05)
    return status()


def address() -> BrokerAddress:
    """Where clients connect: ``CIM_MQTT_URL`` when set, else the local broker (which must run)."""
    url = get_live_settings().mqtt_url
    if url:
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise BrokerError(f"CIM_MQTT_URL is not mqtt://user:password@host:port: {url!r}")
        return BrokerAddress(parts.hostname, parts.port or 1883, parts.username, parts.password)
    current = status()
    if not current.running or current.port is None:
        raise BrokerError("no MQTT broker: run `cim sensors broker up` (or set CIM_MQTT_URL)")
    user, password = (current.data_dir / "credentials").read_text().strip().split(":", 1)
    return BrokerAddress("127.0.0.1", current.port, user, password)


def configured() -> bool:
    """Whether a broker is there to listen to (an external URL, or the local one running)."""
    return bool(get_live_settings().mqtt_url) or status().running
