"""`cim bim ...` commands of this package (``cim bim ingest``, which also tiles, is the CLI's own)."""

from __future__ import annotations

from pathlib import Path

import typer

from core.console import emit

app = typer.Typer(help="BIM models: ingest IFC into PostGIS and tiles.", no_args_is_help=True)


@app.command("georef")
def georef(
    file: Path = typer.Argument(..., help=".ifc or .ifczip file"), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Print the georeferencing report of a model without storing it."""
    from bim_ingest.georef import georeference
    from bim_ingest.source import open_ifc

    with open_ifc(file) as opened:
        report = georeference(opened.file).report
        report["warnings"] = opened.warnings + report["warnings"]
    emit(report, as_json)
