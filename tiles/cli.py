"""`cim tiles ...` commands."""

from __future__ import annotations

import typer

from core.console import emit, percent_progress
from tiles.sources import VERSION_PREFIX, names

app = typer.Typer(help="3D Tiles: build a layer's tileset.", no_args_is_help=True)


@app.command("build")
def build(
    layer: str = typer.Argument(..., help=f"{', '.join(names())} or {VERSION_PREFIX}<version id>"),
    output_format: str = typer.Option(
        "glb",
        "--format",
        help="glb: 3D Tiles 1.1 (tileset.json); b3dm: 3D Tiles 1.0 for legacy clients (tileset-b3dm.json); both.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Build (or update: only changed tiles are rewritten) a layer's 3D Tiles 1.1 tileset, or its
    3D Tiles 1.0 (b3dm) sibling for legacy clients."""
    from tiles.build import build_layer

    with percent_progress(f"tiles {layer}", enabled=not as_json) as report:
        result = build_layer(layer, report, formats=output_format)
    emit(result, as_json)
