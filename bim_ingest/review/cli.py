"""`cim review FILE --project CODE`."""

import typer


def review(file: str = typer.Argument(..., help="IFC file")) -> None:
    """Review an IFC model for a project (not built yet)."""
    raise typer.Exit(1)
