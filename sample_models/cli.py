"""`cim city load`: generate the sample city and load it (``cim demo`` also tiles and serves it)."""

from __future__ import annotations

import time

import typer

from core.console import emit, progress
from core.settings import get_settings

app = typer.Typer(help="The sample city: generate it and load it into PostGIS.", no_args_is_help=True)
BuildingsOption = typer.Option(2000, "--buildings", min=1, max=1_000_000, help="Number of buildings.")
SeedOption = typer.Option(7, "--seed", help="Random seed: the same seed gives the same city.")


def prepare_database() -> None:
    """Start the private cluster unless DATABASE_URL names a database, then migrate."""
    from core import cluster, migrate

    if get_settings().database_url is None:
        cluster.up()
    migrate.upgrade()


def load(buildings: int, seed: int, show: bool) -> dict[str, object]:
    """Generate the sample city and load it; the counts and the time it took."""
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
    prepare_database()
    emit(load(buildings, seed, show=not as_json), as_json)


province_app = typer.Typer(help="A sample province: several sample cities across its zones, five levels of divisions.")


@province_app.command("generate")
def generate_province(
    cities: int = typer.Option(3, "--cities", min=1, max=99, help="Number of cities."),
    buildings: int = typer.Option(3000, "--buildings", min=1, max=20_000_000, help="Buildings in all."),
    seed: int = SeedOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Generate a province and load it, replacing the previous city or province."""
    from sample_models.province import load_province

    prepare_database()
    started = time.perf_counter()
    with progress(
        f"sample province ({cities} cities, {buildings} buildings)", total=cities + 1, enabled=not as_json
    ) as advance:
        counts = load_province(cities, buildings, seed, progress=advance)
    seconds = time.perf_counter() - started
    emit(
        {"cities": cities, "buildings": buildings, "seed": seed, "rows": counts, "seconds": round(seconds, 2)}, as_json
    )
