"""Backups and point-in-time recovery of the bundled cluster with pgBackRest.

WAL is archived continuously (``archive_command`` pushes every segment to both repositories, and
``archive_timeout`` closes a quiet segment after 60 s, which bounds what a lost machine loses);
``repo1`` is the local repository, ``repo2`` stands in for the remote disaster-recovery site.
Retention counts full backups (each with its incrementals): two weeks locally, four remotely.
Schedule (a weekly full, daily incrementals) is :data:`SCHEDULE`, installed as a cron table
(``cim backup schedule``). A restore never touches the running cluster: it makes a scratch
cluster from the repository, replayed to the time asked, on a port of its own.

The highly available pair (:mod:`ops.ha`) archives the same way into a repository both data nodes
reach (:func:`ops.ha.backups`): each node has the same settings, so whichever is primary archives and a
failover carries archiving over to the promoted standby; its timeline's history file goes to the
repository too, so a restore follows the failover."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from core import cluster
from ops.postgres import OpsError, give_to_owner, psql, run, start, stop, wait_until

STANZA = "cim"
ARCHIVE_TIMEOUT_S = 60
RETENTION_FULL = {1: 2, 2: 4}  # full backups kept per repository (weekly fulls: 2 and 4 weeks)
# cron line → `cim backup now` arguments: a full on Sunday, an incremental every other day, at 01:30.
# A restore's limits may not be below those the WAL was written with (pg_controldata's names).
HOT_STANDBY_LIMITS = {
    "max_connections": "max_connections setting",
    "max_worker_processes": "max_worker_processes setting",
    "max_wal_senders": "max_wal_senders setting",
    "max_prepared_transactions": "max_prepared_xacts setting",
    "max_locks_per_transaction": "max_locks_per_xact setting",
}
SCHEDULE = {"30 1 * * 0": "--type full", "30 1 * * 1-6": "--type incr"}


@dataclass(frozen=True)
class Layout:
    """Where the bundled cluster and its backups live."""

    data_dir: Path
    port: int
    root: Path  # beside the cluster's data directory, where its owner may write
    socket: Path | None = None  # the server's socket directory (None: its data directory)

    @property
    def config(self) -> Path:
        return self.root / "pgbackrest.conf"

    def repo(self, number: int) -> Path:
        return self.root / ("repo1" if number == 1 else "repo2-remote")


def layout(running: bool = True) -> Layout:
    """The bundled cluster's layout; an OpsError when it does not run and ``running`` asks it to
    (a restore does not: the machine it ran on may be lost)."""
    state = cluster.status()
    if state.port is None or (running and not state.running):
        raise OpsError("the bundled cluster is not running: `cim db up` first (backups cover the bundled cluster)")
    return Layout(state.data_dir, state.port, state.data_dir.parent / "backup")


def _config_text(place: Layout) -> str:
    lines = ["[global]"]
    for number, keep in RETENTION_FULL.items():
        lines += [
            f"repo{number}-path={place.repo(number)}",
            f"repo{number}-retention-full-type=count",
            f"repo{number}-retention-full={keep}",
        ]
    lines += [
        f"log-path={place.root / 'log'}",
        f"lock-path={place.root / 'lock'}",
        "log-level-console=warn",
        "log-level-file=info",
        "compress-type=lz4",
        "start-fast=y",
        "process-max=2",
        f"[{STANZA}]",
        f"pg1-path={place.data_dir}",
        f"pg1-port={place.port}",
        f"pg1-socket-path={place.socket or place.data_dir}",
        f"pg1-user={cluster.ADMIN_USER}",
    ]
    return "\n".join(lines) + "\n"


def _pgbackrest(place: Layout, *args: str, what: str) -> str:
    return run(["pgbackrest", f"--config={place.config}", f"--stanza={STANZA}", *args], what)


def archive_settings(place: Layout) -> dict[str, str]:
    """The server settings that archive every WAL segment into ``place``'s repositories. The data
    directory is the server's working directory, so the same command serves every node of a pair."""
    command = f'pgbackrest --config={place.config} --stanza={STANZA} --pg1-path="$(pwd)" archive-push %p'
    return {"archive_mode": "on", "archive_command": command, "archive_timeout": f"{ARCHIVE_TIMEOUT_S}s"}


def prepare(place: Layout) -> None:
    """The repositories' folders and the configuration (readable by the servers' owner)."""
    if shutil.which("pgbackrest") is None:
        raise OpsError("pgbackrest is not installed: run `bash scripts/install_system.sh`")
    for folder in (place.root, place.repo(1), place.repo(2), place.root / "log", place.root / "lock"):
        give_to_owner(folder)
    place.config.write_text(_config_text(place))
    place.config.chmod(0o644)


def setup() -> Layout:
    """Configure archiving on the bundled cluster (restarting it once if archiving was off) and
    create the stanza in both repositories. Idempotent."""
    place = layout()
    prepare(place)
    for name, value in archive_settings(place).items():
        psql(place.data_dir, place.port, f"ALTER SYSTEM SET {name} = '{value.replace(chr(39), chr(39) * 2)}'")
    psql(place.data_dir, place.port, "SELECT pg_reload_conf()")
    if psql(place.data_dir, place.port, "SHOW archive_mode") != "on":
        cluster.down()
        cluster.up(place.port)
    create_stanza(place)
    return place


def create_stanza(place: Layout) -> None:
    """The stanza in both repositories, for ``place``'s server (idempotent)."""
    _pgbackrest(place, "stanza-create", what="creating the backup stanza")


def take(place: Layout, kind: str, repos: tuple[int, ...]) -> list[BackupSet]:
    """A ``full``, ``diff`` or ``incr`` backup of ``place``'s server into each repository; the sets made."""
    if kind not in ("full", "diff", "incr"):
        raise OpsError(f"backup type {kind!r} is not one of full, diff, incr")
    before = {(b.repo, b.label) for b in listing(place)}
    for repo in repos:
        _pgbackrest(place, "backup", f"--type={kind}", f"--repo={repo}", what=f"backing up into repository {repo}")
    return [b for b in listing(place) if (b.repo, b.label) not in before]


@dataclass(frozen=True)
class BackupSet:
    label: str
    type: str
    repo: int
    started: str
    stopped: str
    size_bytes: int
    repo_bytes: int


def now(kind: str = "incr", repos: tuple[int, ...] = (1, 2)) -> list[BackupSet]:
    """Take a ``full``, ``diff`` or ``incr`` backup of the bundled cluster into each repository (an
    incremental with no full before it becomes a full); the sets made."""
    if kind not in ("full", "diff", "incr"):
        raise OpsError(f"backup type {kind!r} is not one of full, diff, incr")
    return take(setup(), kind, repos)


def _stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def listing(place: Layout | None = None) -> list[BackupSet]:
    """The backup sets in both repositories, oldest first."""
    place = place or layout(running=False)
    if not place.config.exists():
        return []
    info = json.loads(_pgbackrest(place, "info", "--output=json", what="reading the repositories"))
    sets = [
        BackupSet(
            label=b["label"],
            type=b["type"],
            repo=b["database"]["repo-key"],
            started=_stamp(b["timestamp"]["start"]),
            stopped=_stamp(b["timestamp"]["stop"]),
            size_bytes=b["info"]["size"],
            repo_bytes=b["info"]["repository"]["delta"],
        )
        for stanza in info
        for b in stanza.get("backup", [])
    ]
    return sorted(sets, key=lambda b: (b.stopped, b.repo))


def verify() -> dict[str, object]:
    """Check that archiving works (a WAL switch reaches the repositories) and that every backup
    and archived segment in them reads back whole."""
    place = layout()
    if not place.config.exists():
        raise OpsError("no backups are configured yet: `cim backup now --type full` first")
    _pgbackrest(place, "check", what="checking WAL archiving")
    for repo in RETENTION_FULL:
        _pgbackrest(place, "verify", f"--repo={repo}", what=f"verifying repository {repo}")
    return {"ok": True, "backups": len(listing(place)), "repositories": [str(place.repo(r)) for r in RETENTION_FULL]}


@dataclass(frozen=True)
class RestorePlan:
    target_time: str
    backup: str
    backup_type: str
    repo: int
    into: str
    port: int
    steps: list[str]


def plan(target: datetime | None, into: Path | None = None, repo: int = 1, place: Layout | None = None) -> RestorePlan:
    """What a restore to ``target`` (None: all the WAL archived) will do: the newest backup finished
    before it, replayed with the archived WAL up to it, into a new folder, on a free port; the
    running cluster is left alone. ``place``: the repositories (None: the bundled cluster's)."""
    place = place or layout(running=False)
    if target is not None and target.tzinfo is None:
        raise OpsError("give the time with its zone, e.g. 2026-12-03T15:04:05+08:00")
    usable = [
        b for b in listing(place) if b.repo == repo and (target is None or datetime.fromisoformat(b.stopped) < target)
    ]
    when = target.isoformat() if target else "the end of the archive"
    if not usable:
        raise OpsError(f"no backup in repository {repo} finished before {when}: nothing to restore from")
    base = usable[-1]
    stamp = (target or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    folder = (into or place.root.parent / f"restore-{stamp}").resolve()
    if folder.exists() and any(folder.iterdir()):
        raise OpsError(f"{folder} is not empty: choose another folder with --into")
    port = cluster.free_port()
    steps = [
        f"copy backup {base.label} ({base.type}, {base.size_bytes / 1e6:.1f} MB) from repository {repo} into {folder}",
        f"replay archived WAL up to {when}" + (" (the last transaction committed before it is kept)" if target else ""),
        f"start the restored cluster on 127.0.0.1:{port}, archiving off, and wait until it takes writes",
        "leave the running cluster untouched: compare, copy what was lost, then stop the scratch one",
    ]
    return RestorePlan(
        target.isoformat() if target else "latest", base.label, base.type, repo, str(folder), port, steps
    )


def _limits(folder: Path) -> list[str]:
    """``-c`` settings equal to the restored cluster's recorded limits."""
    control = run([str(cluster.server_bindir() / "pg_controldata"), str(folder)], "reading the restored control file")
    recorded = dict(line.split(":", 1) for line in control.splitlines() if ":" in line)
    return [f"-c {name}={recorded[key].strip()}" for name, key in HOT_STANDBY_LIMITS.items() if key in recorded]


def restore(restore_plan: RestorePlan, place: Layout | None = None) -> dict[str, object]:
    """Carry out ``restore_plan`` from ``place``'s repositories (None: the bundled cluster's); the
    scratch cluster's place, port, URL and the seconds it took."""
    place = place or layout(running=False)
    folder = Path(restore_plan.into)
    started = time.monotonic()
    give_to_owner(folder)
    folder.chmod(0o700)
    if restore_plan.target_time == "latest":
        target = ["--type=default"]
    else:
        when = datetime.fromisoformat(restore_plan.target_time).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        target = ["--type=time", f"--target={when}", "--target-action=promote"]
    _pgbackrest(
        place,
        "restore",
        f"--repo={restore_plan.repo}",
        f"--set={restore_plan.backup}",
        f"--pg1-path={folder}",
        *target,
        what="restoring",
    )
    try:
        # no standby to wait for (an HA node's copy names one), nothing archived from the scratch copy
        alone = ("-c archive_mode=off", "-c synchronous_standby_names=''")
        start(folder, restore_plan.port, *alone, *_limits(folder))
        wait_until(
            lambda: psql(folder, restore_plan.port, "SELECT pg_is_in_recovery()") == "f", 600, "the end of recovery"
        )
    except OpsError as exc:
        stop(folder, "immediate")
        log = folder / "server.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-12:] if log.exists() else []
        raise OpsError(f"{exc}; the restored cluster's log ends: {' | '.join(tail)}") from exc
    return {
        "data_dir": str(folder),
        "port": restore_plan.port,
        "url": cluster.local_url(restore_plan.port),
        "seconds": round(time.monotonic() - started, 2),
        "stop_with": f"pg_ctl stop -D {folder}",
        "plan": asdict(restore_plan),
    }
