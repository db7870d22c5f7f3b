"""`cim bim ...` commands."""

import typer

app = typer.Typer(help="BIM models: ingest IFC into PostGIS and tiles.", no_args_is_help=True)
