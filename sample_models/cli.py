"""`cim demo` (load the sample city, build its tiles, serve) and `cim city load` (load it only)."""

from __future__ import annotations

import os
import socket
import time

import typer

from core.console import emit, percent_progress, progress
from core.errors import UserError
from core.settings import get_settings

app = typer.Typer(help="The sample city: generate it and load it into PostGIS.", no_args_is_help=True)
BuildingsOption = typer.Option(2000, "--buildings", min=1, max=1_000_000, help="Number of buildings.")
SeedOption = typer.Option(7, "--seed", help="Random seed: the same seed gives the same city.")


def _prepare_database() -> None:
    """Start the private cluster unless DATABASE_URL names a database, then migrate."""
    from core import cluster, migrate

    if get_settings().database_url is None:
        cluster.up()
    migrate.upgrade()


def _load(buildings: int, seed: int, show: bool) -> dict[str, object]:
    from sample_models.load import LOAD_STEPS, load_sample_city

    started = time.perf_counter()
    with progress(f"sample city ({buildings} buildings)", total=LOAD_STEPS, enabled=show) as advance:
        counts = load_sample_city(buildings, seed, progress=advance)
    seconds = time.perf_counter() - started
    return {
        "buildings": buildings,
        "seed": seed,
        "rows": counts,
        "seconds": round(seconds, 2),
        "buildings_per_s": round(buildings / seconds, 1),
    }


@app.command("load")
def load_city(buildings: int = BuildingsOption, seed: int = SeedOption, as_json: bool = typer.Option(False, "--json")):
    """Generate the sample city and load it, replacing the previous one (demo users included)."""
    _prepare_database()
    emit(_load(buildings, seed, show=not as_json), as_json)


def _publish_models() -> list[dict[str, object]]:
    from sample_models.demo_models import DESIGNS, publish_demo_models

    with progress("sample BIM models", total=len(DESIGNS)) as advance:
        return publish_demo_models(progress=advance)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _build_tiles() -> dict[str, object]:
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
) -> None:
    """Load the sample city, build its 3D Tiles and serve the viewer and the API."""
    import uvicorn

    if not _port_free(port):
        raise UserError(f"port {port} on 127.0.0.1 is in use: choose another with `cim demo --port N`")
    # Demo mode: the server makes its own token key under the data directory (kept across runs).
    os.environ["CIM_DEMO"] = "1"
    get_settings.cache_clear()
    _prepare_database()
    loaded = _load(buildings, seed, show=True)
    typer.echo(f"sample city: {buildings} buildings (seed {seed}) loaded in {loaded['seconds']} s")
    for model in _publish_models():
        typer.echo(
            f"BIM model {model['model_id']} ({model['schema']}, {model['elements']} elements) on {model['parcel']}"
        )
    for layer, result in _build_tiles().items():
        typer.echo(f"tiles {layer}: {result.get('features', '')} features, {result.get('tiles', '')} tiles")
    base = f"http://127.0.0.1:{port}"
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
    uvicorn.run("spatial_api.app:create_app", factory=True, host="127.0.0.1", port=port, log_level="info")
