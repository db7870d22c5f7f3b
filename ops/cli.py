"""`cim backup now|list|verify|schedule` and `cim restore --to TIME`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import typer

from core.console import emit
from ops import backup, nginx
from ops import ha as ha_module
from ops.postgres import OpsError

JsonOption = typer.Option(False, "--json", help="Print one JSON object.")
backup_app = typer.Typer(help="Backups of the bundled cluster (pgBackRest, two repositories).", no_args_is_help=True)


@backup_app.command("now")
def backup_now(
    kind: str = typer.Option("incr", "--type", help="full, diff or incr (an incr with no full becomes a full)."),
    repo: list[int] = typer.Option([1, 2], "--repo", help="Repository: 1 local, 2 the remote site's stand-in."),
    as_json: bool = JsonOption,
) -> None:
    """Take a backup now (archiving is configured on first use)."""
    made = backup.now(kind, tuple(repo))
    emit({"made": [asdict(b) for b in made]}, as_json)


@backup_app.command("list")
def backup_list(as_json: bool = JsonOption) -> None:
    """The backup sets in both repositories, oldest first."""
    emit({"backups": [asdict(b) for b in backup.listing()]}, as_json)


@backup_app.command("verify")
def backup_verify(as_json: bool = JsonOption) -> None:
    """Archiving works and every backup and WAL segment reads back whole."""
    emit(backup.verify(), as_json)


@backup_app.command("schedule")
def backup_schedule(as_json: bool = JsonOption) -> None:
    """The cron table of the weekly full and daily incremental backups (install with `crontab`)."""
    lines = [f"{when} cd {Path.cwd()} && .venv/bin/cim backup now {args}" for when, args in backup.SCHEDULE.items()]
    if as_json:
        emit({"crontab": lines}, True)
    else:
        typer.echo("\n".join(lines))


def restore(
    to: str = typer.Option(
        ..., "--to", help="ISO time with its zone (the state just before it), or `latest` (all WAL archived)."
    ),
    into: Path | None = typer.Option(None, "--into", help="Empty folder for the scratch cluster."),
    repo: int = typer.Option(1, "--repo", help="Repository to restore from."),
    plan_only: bool = typer.Option(False, "--plan", help="Print the plan and stop."),
    as_json: bool = JsonOption,
) -> None:
    """Restore the bundled cluster as it was at TIME into a scratch cluster (printing the plan first)."""
    try:
        target = None if to == "latest" else datetime.fromisoformat(to)
    except ValueError as exc:
        raise OpsError(f"--to {to!r} is not an ISO time (e.g. 2026-12-03T15:04:05+08:00)") from exc
    the_plan = backup.plan(target, into, repo)
    typer.echo(f"restore plan (to {the_plan.target_time}):")
    for number, step in enumerate(the_plan.steps, 1):
        typer.echo(f"  {number}. {step}")
    if plan_only:
        emit({"plan": asdict(the_plan)}, as_json)
        return
    emit(backup.restore(the_plan), as_json)


cluster_app = typer.Typer(help="The highly available cluster (pg_auto_failover).", no_args_is_help=True)


@cluster_app.command("up")
def cluster_up(
    ha: bool = typer.Option(False, "--ha", help="A monitor and two data nodes on 127.0.0.1 under .data/ha."),
    as_json: bool = JsonOption,
) -> None:
    """Bring up the local topology and print the application's connection strings."""
    if not ha:
        raise OpsError("only the HA topology is made here: `cim cluster up --ha` (the single cluster is `cim db up`)")
    topology = ha_module.local()
    if ha_module.running(topology):
        emit(_described(topology), as_json)
        return
    ha_module.create(topology)
    for keeper in topology.keepers.values():
        keeper.returncode = 0  # they run on after this command, in their own sessions
    emit(_described(topology), as_json)


@cluster_app.command("status")
def cluster_status(as_json: bool = JsonOption) -> None:
    """The nodes' states as the monitor reports them."""
    emit(_described(ha_module.local()), as_json)


@cluster_app.command("down")
def cluster_down(as_json: bool = JsonOption) -> None:
    """Stop the keepers and their Postgres servers (the data stays under .data/ha)."""
    topology = ha_module.local()
    ha_module.stop(topology)
    emit({"running": ha_module.running(topology)}, as_json)


def _described(topology: ha_module.Topology) -> dict[str, object]:
    running = ha_module.running(topology)
    return {
        "running": running,
        "states": ha_module.states(topology) if running else {},
        "monitor": f"{topology.monitor.host.address}:{topology.monitor.port}",
        "write_url": topology.sqlalchemy_url(),
        "read_url": topology.sqlalchemy_url(read_only=True),
        "root": str(topology.root),
    }


ops_app = typer.Typer(help="The front of the API processes.", no_args_is_help=True)


@ops_app.command("nginx")
def ops_nginx(
    upstream: list[str] = typer.Option(..., "--upstream", help="An API process, host:port (give two or more)."),
    port: int = typer.Option(8443, help="HTTPS port."),
    listen: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 in a container)."),
    root: Path | None = typer.Option(None, help="nginx's folder (default .data/nginx)."),
    start: bool = typer.Option(
        False, "--start", help="Start nginx with it (stop with `nginx -s stop -p ROOT -c ROOT/nginx.conf`)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Write nginx's configuration and certificate (TLS, gzip, cache, upstream failover), check it, and start it."""
    from core.settings import get_settings

    front = nginx.Front((root or get_settings().data_dir / "nginx").resolve(), port, tuple(upstream), listen)
    config = nginx.write(front)
    if start:
        nginx.start(front)
    emit(
        {
            "config": str(config),
            "certificate": str(front.certificate),
            "url": f"https://127.0.0.1:{port}/",
            "started": start,
        },
        as_json,
    )
