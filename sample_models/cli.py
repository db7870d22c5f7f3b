"""`cim demo`."""

import typer


def demo() -> None:
    """Load the sample city, build tiles and serve (not built yet)."""
    raise typer.Exit(1)
