"""A private PostgreSQL + PostGIS cluster under ``.data/pg`` for demo and tests.

``cim db up`` initialises it (as the ``postgres`` user when run as root, since PostgreSQL
refuses to run as root), starts it on 127.0.0.1 and a free port, and creates the ``cim``
database. The port is kept in ``.data/pg.port`` so every command finds the same cluster.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.settings import get_settings

DB_NAME = "cim"
DB_USER = "cim"


class ClusterError(UserError):
    """A problem with the local cluster, phrased as what to do about it."""


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    port: int | None
    data_dir: Path
    url: str | None


def _bindir() -> Path:
    """Directory of the newest installed PostgreSQL server that has PostGIS available."""
    settings = get_settings()
    for version_dir in sorted(settings.pg_lib_dir.glob("*"), reverse=True):
        control = settings.pg_share_dir / version_dir.name / "extension" / "postgis.control"
        if (version_dir / "bin/postgres").exists() and control.exists():
            return version_dir / "bin"
    raise ClusterError(
        "PostGIS is not installed: run `bash scripts/install_system.sh` (or "
        "`apt-get install -y --no-install-recommends postgresql-15-postgis-3`), "
        "or set DATABASE_URL to an existing PostGIS"
    )


def _port_file() -> Path:
    return get_settings().data_dir / "pg.port"


def _as_owner(args: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root; PostgreSQL will not run as root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def _run(args: list[str], what: str) -> str:
    proc = subprocess.run(_as_owner(args), capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ClusterError(f"{what} failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_url(port: int) -> str:
    return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"


def _data_dir() -> Path:
    """``.data/pg``; when we are root and the ``postgres`` user cannot reach it (a clone under
    /root, say), a folder of its own under /var/lib/cim named after the project's path."""
    preferred = get_settings().cluster_dir.resolve()
    if os.geteuid() != 0:
        return preferred
    preferred.parent.mkdir(parents=True, exist_ok=True)
    if subprocess.run(_as_owner(["test", "-x", str(preferred.parent)])).returncode == 0:
        return preferred
    return Path("/var/lib/cim") / hashlib.sha1(str(preferred).encode()).hexdigest()[:12] / "pg"


def _is_running(data_dir: Path) -> bool:
    if not (data_dir / "postmaster.pid").exists():
        return False
    proc = subprocess.run(_as_owner([str(_bindir() / "pg_ctl"), "status", "-D", str(data_dir)]), capture_output=True)
    return proc.returncode == 0


def status() -> ClusterStatus:
    """Whether the local cluster runs, and where."""
    data_dir = _data_dir()
    port_file = _port_file()
    port = int(port_file.read_text()) if port_file.exists() else None
    running = data_dir.exists() and _is_running(data_dir)
    return ClusterStatus(running, port, data_dir, local_url(port) if port and running else None)


def _prepare_data_dir(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ClusterError(
            "there is no postgres user: reinstall postgresql-15 (`apt-get install --reinstall postgresql-15`)"
        ) from exc
    os.chown(data_dir, owner.pw_uid, owner.pw_gid)
    os.chmod(data_dir, 0o700)


def up(port: int | None = None) -> ClusterStatus:
    """Initialise (once) and start the cluster; return its status. Idempotent."""
    bindir = _bindir()
    data_dir = _data_dir()
    current = status()
    if current.running:
        if port is not None and port != current.port:
            raise ClusterError(f"the cluster already runs on port {current.port}: `cim db down` first to move it")
        return current
    if shutil.which("runuser") is None and os.geteuid() == 0:
        raise ClusterError("runuser is missing: install util-linux")
    if port is not None and _port_in_use(port):
        raise ClusterError(f"port {port} on 127.0.0.1 is in use: choose another with `cim db up --port N`")
    port = port or _free_port()
    if not (data_dir / "PG_VERSION").exists():
        _prepare_data_dir(data_dir)
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            "initdb",
        )
    log = data_dir / "server.log"
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c shared_buffers=512MB -c work_mem=32MB -c maintenance_work_mem=256MB -c max_connections=200"
    )
    _run(
        [str(bindir / "pg_ctl"), "start", "-D", str(data_dir), "-l", str(log), "-w", "-t", "60", "-o", options],
        "starting PostgreSQL",
    )
    _port_file().parent.mkdir(parents=True, exist_ok=True)
    _port_file().write_text(str(port))
    _ensure_database(bindir, port)
    return status()


def _ensure_database(bindir: Path, port: int) -> None:
    psql = [
        str(bindir / "psql"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-tAc",
    ]
    if _run([*psql, f"SELECT 1 FROM pg_roles WHERE rolname = '{DB_USER}'"], "checking role").strip() != "1":
        _run([*psql, f"CREATE ROLE {DB_USER} LOGIN SUPERUSER"], "creating role")
    if _run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"], "checking db").strip() != "1":
        _run([*psql, f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}"], "creating database")


def down() -> ClusterStatus:
    """Stop the cluster if it runs."""
    data_dir = _data_dir()
    if data_dir.exists() and _is_running(data_dir):
        _run([str(_bindir() / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w"], "stopping")
    for _ in range(20):
        if not _is_running(data_dir):
            break
        time.sleep(0.25)
    return status()
