"""`cim gis ...` commands."""

import typer

app = typer.Typer(help="GIS layers: import vector layers and the DEM.", no_args_is_help=True)
