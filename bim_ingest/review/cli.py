"""`cim review FILE --project CODE [--ids FILE.ids] [--crs EPSG:n --origin E,N,H --rotation DEG] [--json]`."""

from __future__ import annotations

import typer

from core.console import emit, percent_progress


def review(
    file: str = typer.Argument(..., help="IFC file (.ifc or .ifczip)."),
    project: str = typer.Option(..., "--project", help="Project code the model is submitted for."),
    ids: str | None = typer.Option(None, "--ids", help="IDS file to check against (default: the city's standard)."),
    crs: str | None = typer.Option(None, help="Override: CRS of --origin, e.g. EPSG:4549."),
    origin: str | None = typer.Option(None, help="Override: E,N,H of the model's origin (H orthometric)."),
    rotation: float = typer.Option(0.0, help="Override: rotation of the model's x axis from east, degrees."),
    full: bool = typer.Option(False, "--full", help="Print the whole review document, issues included."),
    all_warnings: bool = typer.Option(
        False, "--all-warnings", help="With --full: every warning line, not only the summary per kind."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Review an IFC model for a project: IDS, planning, clash and diff checks; the model stays unpublished."""
    from bim_ingest.review.jobs import summary
    from bim_ingest.review.service import parse_override, review_document, run_review

    placement = parse_override(crs, origin, rotation)
    with percent_progress("reviewing") as report:
        document = run_review(file, project, ids_path=ids, override=placement, progress=report)
    if full and all_warnings:
        document = review_document(document["id"], all_warnings=True)
    emit(document if full else summary(document), as_json)
