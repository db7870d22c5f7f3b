"""`cim credit ...` commands: rulesets, scoring runs, alert scans, the month's plan, the model."""

from __future__ import annotations

import getpass
from dataclasses import asdict
from datetime import date
from pathlib import Path

import typer

from core.console import emit
from core.db import session_scope
from core.errors import UserError

app = typer.Typer(help="Credit grading, early warning and supervision by grade.", no_args_is_help=True)
ruleset_app = typer.Typer(help="Rulesets as data: load, check, approve, activate, export.", no_args_is_help=True)
model_app = typer.Typer(help="The risk model beside the rules.", no_args_is_help=True)
app.add_typer(ruleset_app, name="ruleset")
app.add_typer(model_app, name="model")

JsonOption = typer.Option(False, "--json", help="Print one JSON object.")
ByOption = typer.Option(None, "--by", help="Who does this (default: the login name).")


def _who(by: str | None) -> str:
    return by or getpass.getuser()


@ruleset_app.command("load")
def ruleset_load(
    file: Path = typer.Argument(..., help="Ruleset as YAML or JSON (see credit/rulesets/default_construction.yaml)."),
    by: str | None = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """Load a ruleset as a draft and check it (weights, thresholds, sources)."""
    from credit import rulesets

    doc = rulesets.read_file(file)
    with session_scope() as session:
        rulesets.store(session, doc, _who(by))
    with session_scope() as session:
        row = rulesets.check(session, doc.version)
        emit({"version": row.version, "status": row.status, "indicators": len(doc.indicators)}, as_json)


@ruleset_app.command("approve")
def ruleset_approve(version: str, by: str | None = ByOption, as_json: bool = JsonOption) -> None:
    """Approve a checked ruleset (a second person: not its proposer)."""
    from credit import rulesets

    with session_scope() as session:
        row = rulesets.approve(session, version, _who(by))
        emit({"version": row.version, "status": row.status, "approved_by": row.approved_by}, as_json)


@ruleset_app.command("activate")
def ruleset_activate(version: str, as_json: bool = JsonOption) -> None:
    """Make an approved ruleset the active one for its enterprise types."""
    from credit import rulesets

    with session_scope() as session:
        row = rulesets.activate(session, version)
        emit({"version": row.version, "status": row.status}, as_json)


@ruleset_app.command("export")
def ruleset_export(
    version: str,
    fmt: str = typer.Option("yaml", "--format", help="yaml or json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
) -> None:
    """Write a stored ruleset as the document it was loaded from."""
    from credit import rulesets

    if fmt not in ("yaml", "json"):
        raise UserError(f"--format must be yaml or json, not {fmt!r}")
    with session_scope() as session:
        out = rulesets.dump(rulesets.document(session, version), fmt)  # type: ignore[arg-type]
    if output is None:
        typer.echo(out)
    else:
        output.write_text(out, encoding="utf-8")


@ruleset_app.command("list")
def ruleset_list(as_json: bool = JsonOption) -> None:
    """Every ruleset version with its status."""
    from sqlalchemy import select

    from core.models import CreditRuleset

    with session_scope() as session:
        rows = session.scalars(select(CreditRuleset).order_by(CreditRuleset.id))
        emit({r.version: r.status for r in rows}, as_json)


@app.command("score")
def score(
    all_: bool = typer.Option(False, "--all", help="Every enterprise of the active rulesets (the monthly run)."),
    daily: bool = typer.Option(False, "--daily", help="C/D enterprises and those with new events."),
    enterprise: list[str] = typer.Option([], "--enterprise", help="USCC to score (repeatable)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Score as of this date (YYYY-MM-DD)."),
    as_json: bool = JsonOption,
) -> None:
    """Score enterprises (set-based), update their grades, raise alerts and scan the city."""
    from credit import service

    chosen = [bool(all_), bool(daily), bool(enterprise)]
    if sum(chosen) != 1:
        raise UserError("give exactly one of --all, --daily or --enterprise USCC")
    day = date.fromisoformat(as_of) if as_of else None
    scope = "all" if all_ else "daily" if daily else "enterprise"
    with session_scope() as session:
        result = service.run(session, scope=scope, as_of=day, enterprises=enterprise or None, username=_who(None))
    emit(result, as_json)


@app.command("plan")
def plan(
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    as_json: bool = JsonOption,
) -> None:
    """The month's inspection list (enterprises and their active sites) from grades and measures."""
    from credit import plans

    with session_scope() as session:
        items = plans.month_plan(session, month)
    emit({"month": month, "enterprises": len(items), "items": items}, as_json)


@model_app.command("train")
def model_train(
    version: str | None = typer.Option(None, "--version", help="Name of the model (default: a timestamp)."),
    activate: bool = typer.Option(False, "--activate", help="Activate it if the held-out AUC passes the ruleset's."),
    as_json: bool = JsonOption,
) -> None:
    """Fit the risk model on the indicator history (time split) and report AUC and calibration."""
    from credit import model

    with session_scope() as session:
        report = model.train(session, version=version)
    if activate:
        with session_scope() as session:
            model.activate(session, report.version)
        report.active = True
    emit(asdict(report), as_json)


@app.command("districts")
def districts_load(
    file: Path = typer.Argument(..., help="District boundaries: GeoJSON with properties code and name."),
    srid: int = typer.Option(4326, help="The file's CRS as an EPSG code (GeoJSON: 4326)."),
    as_json: bool = JsonOption,
) -> None:
    """Load district boundaries (区县) for the regional risk map; a code loaded again is replaced."""
    import json

    from credit import stats

    try:
        collection = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {file} as GeoJSON: {exc}") from exc
    with session_scope() as session:
        emit({"districts": stats.load_districts(session, collection, srid)}, as_json)
