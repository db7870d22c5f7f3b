"""`cim tiles ...` commands."""

import typer

app = typer.Typer(help="3D Tiles: build a layer's tileset.", no_args_is_help=True)
