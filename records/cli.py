"""`cim records ...` commands."""

from __future__ import annotations

from pathlib import Path

import typer

from core.console import emit, percent_progress

app = typer.Typer(help="The four databases: import records files.", no_args_is_help=True)


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="CSV (UTF-8 or GB18030), XLSX or JSON Lines."),
    kind: str = typer.Option(..., "--kind", help="enterprises, qualifications, people, projects, permits, ..."),
    mapping: str | None = typer.Option(None, "--mapping", help="Column mapping: siku (default) or a JSON file."),
    all_or_nothing: bool = typer.Option(False, "--all-or-nothing", help="Write nothing if any row is rejected."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Validate and upsert a records file in one transaction; rejected rows are listed with reasons."""
    from records.importer import import_file

    with percent_progress(f"importing {file.name}", enabled=not as_json) as report:
        summary = import_file(file, kind, mapping=mapping, all_or_nothing=all_or_nothing, progress=report)
    emit(summary, as_json)
    if not summary["written"]:
        raise typer.Exit(1)
