"""`cim gis ...` commands."""

from __future__ import annotations

from pathlib import Path

import typer

from core import vocab
from core.console import emit, progress
from core.registry import registry

app = typer.Typer(help="GIS layers: import vector layers, the DEM and imagery.", no_args_is_help=True)

JsonOption = typer.Option(False, "--json", help="Print one JSON object.")
CrsOption = typer.Option(None, "--crs", help="Source CRS as EPSG:n (overrides the file's).")


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="GeoJSON, GeoPackage or Shapefile."),
    layer: str = typer.Option(..., "--layer", help=f"One of: {', '.join(la.name for la in registry().importable())}."),
    utility: str | None = typer.Option(
        None, "--utility", help=f"Utility of rows that do not say: {', '.join(vocab.codes('utilities'))}."
    ),
    kind: str | None = typer.Option(
        None, "--kind", help=f"Node kind of rows that do not say (pipe_nodes): {', '.join(vocab.codes('node_kinds'))}."
    ),
    crs: str | None = CrsOption,
    mapping: str | None = typer.Option(None, "--mapping", help="Attribute mapping: default, census, wntr or a file."),
    snap_tolerance: float = typer.Option(0.5, "--snap-tolerance", help="Pipe ends closer than this (m) join."),
    dem: Path | None = typer.Option(None, "--dem", help="Import this DEM first (its own transaction)."),
    as_json: bool = JsonOption,
) -> None:
    """Import a vector layer into PostGIS in one transaction, reporting rejected rows with reasons."""
    from gis.dem import import_dem
    from gis.importers import import_layer

    result = {}
    if dem is not None:
        result["dem"] = import_dem(dem)
    with progress(f"importing {file.name}", enabled=not as_json) as advance:
        result |= import_layer(
            file,
            layer,
            utility=utility,
            kind=kind,
            crs=crs,
            mapping=mapping,
            snap_tolerance=snap_tolerance,
            progress=advance,
        )
    emit(result, as_json)


@app.command("import-dem")
def import_dem_command(
    file: Path = typer.Argument(..., help="GeoTIFF of ground heights."),
    crs: str | None = CrsOption,
    z_unit: str | None = typer.Option(None, "--z-unit", help="Height unit when the file does not say: m, ft, us-ft."),
    as_json: bool = JsonOption,
) -> None:
    """Import a DEM as the city's ground surface (replaces the previous one)."""
    from gis.dem import import_dem

    with progress(f"importing {file.name}", enabled=not as_json) as advance:
        emit(import_dem(file, crs, z_unit=z_unit, progress=advance), as_json)


@app.command("import-imagery")
def import_imagery_command(
    file: Path = typer.Argument(..., help="GeoTIFF (1, 3 or 4 bands) with a CRS."),
    name: str | None = typer.Option(None, "--name", help="Layer name (default: the file's stem)."),
    as_json: bool = JsonOption,
) -> None:
    """Import imagery (warped to a Web Mercator COG under the data folder), served as XYZ PNG tiles."""
    from gis.imagery import import_imagery

    with progress(f"importing {file.name}", enabled=not as_json):
        emit(import_imagery(file, name), as_json)


divisions_app = typer.Typer(help="Administrative divisions: division codes of buildings, pipes, projects...")


@divisions_app.command("assign")
def assign_divisions(
    table: list[str] = typer.Option(None, "--table", help="Only these tables (repeatable); default all coded tables."),
    every: bool = typer.Option(False, "--all", help="Reassign every row, not only those without a code."),
    as_json: bool = JsonOption,
) -> None:
    """Give rows their division code from their geometry (the deepest division they lie in)."""
    from core import divisions
    from core.db import owner_engine

    with owner_engine().begin() as conn:
        counts = divisions.assign(conn, table or None, every=every)
    emit({"assigned": counts}, as_json)
