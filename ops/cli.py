"""`cim backup now|list|verify|schedule` and `cim restore --to TIME`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import typer

from core.console import emit
from ops import backup
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
    to: str = typer.Option(..., "--to", help="ISO time with its zone: the state just before it is restored."),
    into: Path | None = typer.Option(None, "--into", help="Empty folder for the scratch cluster."),
    repo: int = typer.Option(1, "--repo", help="Repository to restore from."),
    plan_only: bool = typer.Option(False, "--plan", help="Print the plan and stop."),
    as_json: bool = JsonOption,
) -> None:
    """Restore the bundled cluster as it was at TIME into a scratch cluster (printing the plan first)."""
    try:
        target = datetime.fromisoformat(to)
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
