"""Running PostgreSQL's and its tools' commands as the clusters' owner, and starting a data
directory on a port (a restored scratch cluster, an HA node's)."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from core import cluster
from core.errors import UserError


class OpsError(UserError):
    """An operation that could not be done, phrased as what to do about it."""


def run(args: Sequence[str], what: str, *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """``args`` as the clusters' owner; its stdout, or an OpsError with the tool's last words."""
    proc = subprocess.run(
        cluster.as_owner(list(args)), capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).strip().splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR" in line] or lines
        raise OpsError(f"{what} failed: {errors[-1] if errors else f'exit status {proc.returncode}'}")
    return proc.stdout


def give_to_owner(path: Path) -> Path:
    """Make ``path`` (a folder) and hand it to the ``postgres`` user when we are root."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return path


def start(data_dir: Path, port: int, *extra: str) -> None:
    """Start the cluster in ``data_dir`` on 127.0.0.1:``port`` (its socket in the data directory),
    with ``extra`` server settings (``-c name=value``)."""
    options = " ".join(
        [
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='{data_dir}'",
            "-c unix_socket_permissions=0700",
            *extra,
        ]
    )
    pg_ctl = str(cluster.server_bindir() / "pg_ctl")
    run(
        [pg_ctl, "start", "-D", str(data_dir), "-l", str(data_dir / "server.log"), "-w", "-t", "300", "-o", options],
        "starting PostgreSQL",
    )


def stop(data_dir: Path, mode: str = "fast") -> None:
    """Stop the cluster in ``data_dir`` if it runs."""
    if (data_dir / "postmaster.pid").exists():
        pg_ctl = str(cluster.server_bindir() / "pg_ctl")
        subprocess.run(
            cluster.as_owner([pg_ctl, "stop", "-D", str(data_dir), "-m", mode, "-w"]), capture_output=True, check=False
        )


def psql(data_dir: Path, port: int, sql: str, database: str = "postgres") -> str:
    """``sql`` as the superuser over the data directory's socket; its rows as text (``|`` between columns)."""
    args = [str(cluster.server_bindir() / "psql"), "-h", str(data_dir), "-p", str(port), "-U", cluster.ADMIN_USER]
    return run([*args, "-d", database, "-v", "ON_ERROR_STOP=1", "-tAc", sql], "psql").strip()


def wait_until(condition, timeout: float, what: str, pause: float = 0.2) -> float:
    """Poll ``condition()`` until it is true; the seconds it took, or an OpsError after ``timeout``."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except (OpsError, OSError):
            pass
        if time.monotonic() - started > timeout:
            raise OpsError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(pause)
