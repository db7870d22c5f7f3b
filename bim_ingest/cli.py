"""`cim bim ...` commands."""

from __future__ import annotations

from pathlib import Path

import typer

from core.console import emit, percent_progress
from core.errors import UserError

app = typer.Typer(help="BIM models: ingest IFC into PostGIS and tiles.", no_args_is_help=True)


def parse_override(crs: str | None, origin: str | None, rotation: float | None):
    """An Override from the command line or upload form; None when no CRS and origin are given."""
    from bim_ingest.georef import Override

    if crs is None and origin is None:
        if rotation is not None:
            raise UserError("--rotation needs --crs and --origin")
        return None
    if crs is None or origin is None:
        raise UserError("give both --crs EPSG:n and --origin E,N,H")
    try:
        values = [float(v) for v in origin.split(",")]
    except ValueError as exc:
        raise UserError(f"--origin {origin!r} is not E,N,H numbers") from exc
    if len(values) not in (2, 3):
        raise UserError(f"--origin {origin!r} must be E,N or E,N,H")
    return Override(crs, (values[0], values[1], values[2] if len(values) == 3 else 0.0), rotation or 0.0)


@app.command("ingest")
def ingest(
    file: Path = typer.Argument(..., help=".ifc or .ifczip file"),
    project: str | None = typer.Option(None, "--project", help="Project code the model belongs to."),
    crs: str | None = typer.Option(None, "--crs", help="Map CRS of --origin, e.g. EPSG:4549."),
    origin: str | None = typer.Option(None, "--origin", help="E,N,H of the local origin in the map CRS."),
    rotation: float | None = typer.Option(None, "--rotation", help="Local x axis from grid east, degrees CCW."),
    name: str | None = typer.Option(None, "--name", help="Model name (default: the file name)."),
    no_publish: bool = typer.Option(False, "--no-publish", help="Store only; build no tiles."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Ingest an IFC model as a new version: georeference, triangulate, store, tile."""
    from bim_ingest.ingest import ingest_file

    override = parse_override(crs, origin, rotation)
    with percent_progress(f"ingest {file.name}", enabled=not as_json) as report:
        result = ingest_file(file, project, override, report, not no_publish, model_name=name)
    emit(result, as_json)


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
