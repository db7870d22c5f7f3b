"""The `cim` commands that compose packages: `cim bim ingest` (ingest, tile, publish), `cim review`
and `cim demo` (load the sample city, publish its models, build its tiles, serve)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import typer

from core.console import emit, percent_progress, progress
from core.errors import UserError
from core.settings import configure
from sample_models.cli import BuildingsOption, SeedOption


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
    from bim_ingest.georef import parse_override
    from spatial_api.pipelines import ingest_and_publish

    override = parse_override(crs, origin, rotation)
    with percent_progress(f"ingest {file.name}", enabled=not as_json) as report:
        result = ingest_and_publish(file, project, override, report, not no_publish, model_name=name)
    emit(result, as_json)


def review(
    file: str = typer.Argument(..., help="IFC file (.ifc or .ifczip)."),
    project: str = typer.Option(..., "--project", help="Project code the model is submitted for."),
    ids: str | None = typer.Option(None, "--ids", help="IDS file to check against (default: the city's standard)."),
    crs: str | None = typer.Option(None, help="Override: CRS of --origin, e.g. EPSG:4549."),
    origin: str | None = typer.Option(None, help="Override: E,N,H of the model's origin (H orthometric)."),
    rotation: float | None = typer.Option(None, help="Override: rotation of the model's x axis from east, degrees."),
    full: bool = typer.Option(False, "--full", help="Print the whole review document, issues included."),
    all_warnings: bool = typer.Option(
        False, "--all-warnings", help="With --full: every warning line, not only the summary per kind."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Review an IFC model for a project: IDS, planning, clash and diff checks; the model stays unpublished."""
    from bim_ingest.georef import parse_override
    from bim_ingest.review.service import review_document, run_review
    from spatial_api.pipelines import review_result

    placement = parse_override(crs, origin, rotation)
    with percent_progress("reviewing") as report:
        document = run_review(file, project, ids_path=ids, override=placement, progress=report)
    if full and all_warnings:
        document = review_document(document["id"], all_warnings=True)
    emit(document if full else review_result(document), as_json)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _publish_models() -> list[dict[str, object]]:
    from sample_models.demo_models import DESIGNS
    from spatial_api.pipelines import publish_demo_models

    with progress("sample BIM models", total=len(DESIGNS)) as advance:
        return publish_demo_models(progress=advance)


def _import_hillshade() -> dict:
    """The demo's imagery: a hillshade of the sample city's DEM (a bureau imports its own photographs)."""
    from core.settings import get_settings
    from gis.imagery import hillshade, import_imagery
    from sample_models.load import dem_path

    return import_imagery(hillshade(dem_path(), get_settings().data_dir / "sample" / "hillshade.tif"), "hillshade")


def _build_tiles() -> dict[str, dict[str, object]]:
    from tiles.build import build_layer
    from tiles.sources import names as tile_layers

    built = {}
    for layer in tile_layers():
        with percent_progress(f"tiles {layer}") as report:
            built[layer] = build_layer(layer, report)
    return built


def demo(
    buildings: int = BuildingsOption,
    seed: int = SeedOption,
    port: int = typer.Option(8000, "--port", help="Port on 127.0.0.1 to serve at."),
    tls: bool = typer.Option(False, "--tls", help="HTTPS with a self-signed certificate made for the demo."),
) -> None:
    """Load the sample city, build its 3D Tiles and serve the viewer and the API."""
    from sample_models.cli import load, prepare_database
    from spatial_api.app import serve

    if not _port_free(port):
        raise UserError(f"port {port} on 127.0.0.1 is in use: choose another with `cim demo --port N`")
    # Demo mode: the server makes its own keys under the data directory (kept across runs).
    os.environ["CIM_DEMO"] = "1"
    configure(None)
    prepare_database()
    loaded = load(buildings, seed, show=True)
    typer.echo(f"sample city: {buildings} buildings (seed {seed}) loaded in {loaded['seconds']} s")
    for model in _publish_models():
        typer.echo(
            f"BIM model {model['model_id']} ({model['schema']}, {model['elements']} elements) on {model['parcel']}"
        )
    for layer, result in _build_tiles().items():
        typer.echo(f"tiles {layer}: {result.get('features', '')} features, {result.get('tiles', '')} tiles")
    typer.echo(f"imagery: {_import_hillshade()['name']} (the DEM's hillshade, standing in for aerial imagery)")
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    typer.echo(
        "\n".join(
            [
                f"viewer:  {base}/",
                f"API:     {base}/api/v1",
                f"docs:    {base}/docs",
                "logins:  planner / planner-demo, engineer / engineer-demo, "
                "emergency / emergency-demo, admin / admin-demo",
            ]
        )
    )
    serve("127.0.0.1", port, tls)
