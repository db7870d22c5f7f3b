"""A private PostgreSQL + PostGIS cluster under ``.data/pg`` for demo and tests.

``cim db up`` initialises it (as the ``postgres`` user when run as root, since PostgreSQL
refuses to run as root), starts it on 127.0.0.1 and a free port, and creates the ``cim``
database. The port is kept in ``.data/pg.port``: every command, and every later start (after a
crash too), uses the same one.

Safe by default: fsync, synchronous commit and full-page writes stay on (a throw-away cluster may
turn them off when ``CIM_DB_UNSAFE_FAST=1`` says so); connections need a password (scram-sha-256,
TCP on 127.0.0.1 only); the passwords are random, kept 0600 under ``.data/secrets``. Two roles, neither
a superuser: the owner ``cim_owner`` owns the database and its schema and runs the migrations and the
bulk loads; the application role ``cim`` may only read and write rows (SELECT, INSERT, UPDATE, DELETE:
no CREATE, ALTER, DROP or TRUNCATE, and on the audit log only SELECT and INSERT), granted by
:mod:`core.roles` after every migration. PostGIS and pgaudit (not trusted extensions) are installed
by the superuser into ``template1`` and ``cim``, so databases made later have them. pgaudit (Debian's
``postgresql-15-pgaudit``, preloaded when installed) writes to the server log every statement of
every role but the application's, whose DDL and role changes only. A cluster made before (trust,
superuser ``cim``, or ``cim`` owning the schema) is brought to this state by ``cim db up``.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from core import secrets
from core.errors import UserError
from core.settings import get_settings

DB_NAME = "cim"
DB_USER = "cim"
OWNER_USER = "cim_owner"
ADMIN_USER = "postgres"
# Extensions only a superuser may create; made in template1 so every new database has them.
SUPERUSER_EXTENSIONS = ("postgis", "postgis_raster")
PGAUDIT = "pgaudit"
# pgaudit's classes: everything for every role (a DBA's session, the superuser, the owner's migrations),
# the application role's own reads and writes left to the application's audit log.
PGAUDIT_ALL = "all"
PGAUDIT_APPLICATION = "ddl, role"
UNSAFE_FAST = "CIM_DB_UNSAFE_FAST"
SOCKET_DIR_MAX = 90  # a Unix socket's path ("<dir>/.s.PGSQL.<port>") must stay under 108 bytes
HBA = """# Written by `cim db up`: password (scram-sha-256) connections over TCP on 127.0.0.1 only; the
# postgres OS user (backups: pgBackRest) over the socket in the data directory, which only it can open.
local all postgres peer
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
"""


class ClusterError(UserError):
    """A problem with the local cluster, phrased as what to do about it."""


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    port: int | None
    data_dir: Path
    url: str | None
    # The superuser's URL (to create and drop databases), for tests and maintenance only.
    admin_url: str | None = None
    # The owner's URL: migrations and bulk loads.
    owner_url: str | None = None


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


def password(role: str) -> str:
    """The role's random password (made once, kept 0600 under the data directory)."""
    return secrets.read_file(secrets.generated(get_settings().data_dir, f"pg_{role}"), f"the {role} password")


def _run(args: list[str], what: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(_as_owner(args), capture_output=True, text=True, env=env)
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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_url(port: int, user: str = DB_USER, database: str = DB_NAME) -> str:
    return f"postgresql+psycopg://{user}:{password(user)}@127.0.0.1:{port}/{database}"


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


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in the data directory's lock file, when it names a live postmaster. A postmaster killed
    under a parent that does not reap (a container's init) stays a zombie, which ``pg_ctl`` (and a new
    postmaster) would take for a running server; a reused pid runs some other program."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError, IndexError):
        return None
    command, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]
    return pid if command == "postgres" and state not in "ZX" else None


def _is_running(data_dir: Path) -> bool:
    return postmaster_pid(data_dir) is not None


def _clear_stale_lock(data_dir: Path) -> None:
    """After a crash the lock files (the data directory's and its socket's) name no live postmaster:
    remove them so the cluster can start again (PostgreSQL itself still refuses while a backend of the
    dead server holds its shared memory)."""
    if not (data_dir / "postmaster.pid").exists() or _is_running(data_dir):
        return
    for lock in [*data_dir.glob(".s.PGSQL.*.lock"), data_dir / "postmaster.pid"]:
        lock.unlink(missing_ok=True)


def status() -> ClusterStatus:
    """Whether the local cluster runs, and where."""
    data_dir = _data_dir()
    port_file = _port_file()
    port = int(port_file.read_text()) if port_file.exists() else None
    running = data_dir.exists() and _is_running(data_dir)
    if not (port and running):
        return ClusterStatus(running, port, data_dir, None)
    return ClusterStatus(
        running, port, data_dir, local_url(port), local_url(port, ADMIN_USER, "postgres"), local_url(port, OWNER_USER)
    )


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
        if current.port is not None:
            _ensure_database(bindir, current.port, data_dir)  # made before passwords or the owner: secure it now
        return status()
    if shutil.which("runuser") is None and os.geteuid() == 0:
        raise ClusterError("runuser is missing: install util-linux")
    kept = current.port
    if port is None and kept is not None and (data_dir / "PG_VERSION").exists():
        port = kept  # the same port as before, after a restart or a crash
        if _port_in_use(port):
            raise ClusterError(
                f"the cluster's port {port} on 127.0.0.1 is taken by another program: free it, or move the "
                "cluster with `cim db up --port N` (clients then need the new URL)"
            )
    if port is not None and port != kept and _port_in_use(port):
        raise ClusterError(f"port {port} on 127.0.0.1 is in use: choose another with `cim db up --port N`")
    port = port or free_port()
    if not (data_dir / "PG_VERSION").exists():
        _prepare_data_dir(data_dir)
        _initdb(bindir, data_dir)
    _clear_stale_lock(data_dir)
    log = data_dir / "server.log"
    durability = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off " if _unsafe_fast() else ""
    # The socket in the data directory (for pgBackRest) when its path fits a socket address.
    sockets = str(data_dir) if len(str(data_dir)) <= SOCKET_DIR_MAX else ""
    audit = f"-c shared_preload_libraries={PGAUDIT} -c pgaudit.log_catalog=off " if _has_pgaudit(bindir) else ""
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='{sockets}' "
        f"-c unix_socket_permissions=0700 {durability}{audit}"
        "-c password_encryption=scram-sha-256 "
        "-c shared_buffers=512MB -c work_mem=32MB -c maintenance_work_mem=256MB -c max_connections=200"
    )
    _run(
        [str(bindir / "pg_ctl"), "start", "-D", str(data_dir), "-l", str(log), "-w", "-t", "60", "-o", options],
        "starting PostgreSQL",
    )
    _port_file().parent.mkdir(parents=True, exist_ok=True)
    _port_file().write_text(str(port))
    _ensure_database(bindir, port, data_dir)
    return status()


def _hba(data_dir: Path) -> str | None:
    path = data_dir / "pg_hba.conf"
    return path.read_text() if path.exists() else None


def _has_pgaudit(bindir: Path) -> bool:
    """Whether Debian's postgresql-15-pgaudit is installed for this server."""
    return (bindir.parent / "lib" / f"{PGAUDIT}.so").exists()


def _unsafe_fast() -> bool:
    """Durability off: only for a throw-away cluster, and only when the environment says so by name."""
    return os.environ.get(UNSAFE_FAST) == "1"


def _initdb(bindir: Path, data_dir: Path) -> None:
    """initdb with password authentication from the start (the superuser's password in a file only
    the cluster's owner can read, removed right after)."""
    fd, pwfile = tempfile.mkstemp(prefix="cim-pw-")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(password(ADMIN_USER))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        args = [str(bindir / "initdb"), "-D", str(data_dir), "-U", ADMIN_USER, "--auth=scram-sha-256"]
        _run([*args, f"--pwfile={pwfile}", "-E", "UTF8", "--no-locale"], "initdb")
    finally:
        os.unlink(pwfile)


def _ensure_database(bindir: Path, port: int, data_dir: Path) -> None:
    """The owner and application roles (no superusers, their passwords), the database owned by the
    owner, PostGIS and pgaudit in template1 and it, pgaudit's classes per role."""
    env = {**os.environ, "PGPASSWORD": password(ADMIN_USER)}

    def psql(sql: str, what: str, database: str = "postgres") -> str:
        args = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", ADMIN_USER, "-d", database]
        return _run([*args, "-v", "ON_ERROR_STOP=1", "-tAc", sql], what, env).strip()

    # A cluster made before passwords: set the superuser's now (trust still lets us in until the reload).
    psql(f"ALTER ROLE {ADMIN_USER} PASSWORD '{password(ADMIN_USER)}'", "setting the superuser password")
    limits = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    for role in (DB_USER, OWNER_USER):
        exists = psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'", "checking role") == "1"
        verb = "ALTER" if exists else "CREATE"
        psql(f"{verb} ROLE {role} {limits} PASSWORD '{password(role)}'", f"setting the role {role}")
    extensions = SUPERUSER_EXTENSIONS + ((PGAUDIT,) if _has_pgaudit(bindir) and _preloaded(psql) else ())
    owner = psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{DB_NAME}'", "checking db")
    if not owner:
        for extension in extensions:
            psql(f"CREATE EXTENSION IF NOT EXISTS {extension}", f"adding {extension}", "template1")
        psql(f"CREATE DATABASE {DB_NAME} OWNER {OWNER_USER}", "creating database")
    elif owner != OWNER_USER:
        _hand_to_owner(psql, owner)
    for database in ("template1", DB_NAME):
        for extension in extensions:
            psql(f"CREATE EXTENSION IF NOT EXISTS {extension}", f"adding {extension}", database)
    psql(f"GRANT CONNECT, TEMPORARY ON DATABASE {DB_NAME} TO {DB_USER}", "letting the application connect")
    if PGAUDIT in extensions:
        psql(f"ALTER SYSTEM SET pgaudit.log = '{PGAUDIT_ALL}'", "auditing every role")
        psql(f"ALTER ROLE {DB_USER} SET pgaudit.log = '{PGAUDIT_APPLICATION}'", "auditing the application's DDL")
    (data_dir / "pg_hba.conf").write_text(HBA)
    psql("SELECT pg_reload_conf()", "reloading the configuration")


def _preloaded(psql) -> bool:
    return PGAUDIT in psql("SHOW shared_preload_libraries", "checking preloaded libraries")


def _hand_to_owner(psql, previous: str) -> None:
    """A database made before the owner role: everything the application role owned in it goes to the
    owner (other databases that role owns, the tests' throw-away ones, stay its own)."""
    others = psql(
        f"SELECT string_agg(quote_ident(datname), ' ') FROM pg_database WHERE datname <> '{DB_NAME}' "
        f"AND pg_get_userbyid(datdba) = '{previous}'",
        "listing databases",
    ).split()
    psql(f"REASSIGN OWNED BY {previous} TO {OWNER_USER}", "handing the schema to its owner", DB_NAME)
    for name in others:
        psql(f"ALTER DATABASE {name} OWNER TO {previous}", "keeping other databases' owner")
    psql(f"ALTER DATABASE {DB_NAME} OWNER TO {OWNER_USER}", "handing the database to its owner")
    from core import roles  # the grants need the schema's tables, which the owner now has

    psql(roles.grants_sql(DB_USER, OWNER_USER), "granting the application its rows", DB_NAME)


def down() -> ClusterStatus:
    """Stop the cluster if it runs."""
    data_dir = _data_dir()
    if data_dir.exists() and _is_running(data_dir):
        _run([str(_bindir() / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w"], "stopping")
    for _ in range(20):
        if not _is_running(data_dir):
            break
        time.sleep(0.25)
    _clear_stale_lock(data_dir)
    return status()


def server_bindir() -> Path:
    """The PostgreSQL server's binaries (``pg_ctl``, ``psql``, ...) this cluster runs with."""
    return _bindir()


def as_owner(args: list[str]) -> list[str]:
    """``args`` run as the clusters' owner (``postgres`` when we are root)."""
    return _as_owner(args)
