"""The `cim` command: database, sample city, serving; the packages add their own groups."""

from __future__ import annotations

import contextlib
import sys

import typer
from sqlalchemy.exc import OperationalError

from core import cluster, migrate
from core.console import emit
from core.db import check_connection, get_engine
from core.errors import UserError
from core.settings import get_settings

app = typer.Typer(
    help="CIM Server: 3D GIS + BIM for housing-and-construction bureaus.",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)
db_app = typer.Typer(help="The local PostGIS cluster under .data/pg.", no_args_is_help=True)
app.add_typer(db_app, name="db")

audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

JsonOption = typer.Option(False, "--json", help="Print one JSON object.")


@db_app.command("up")
def db_up(
    port: int | None = typer.Option(None, help="Port on 127.0.0.1 (default: a free one)."), as_json: bool = JsonOption
) -> None:
    """Start the private cluster (or use DATABASE_URL when set), then migrate to the newest schema."""
    result: dict[str, object] = {"database_url_set": get_settings().database_url is not None}
    if get_settings().database_url is None:
        state = cluster.up(port)
        result |= {"running": state.running, "port": state.port, "url": state.url, "data_dir": str(state.data_dir)}
    migrate.upgrade()
    emit(result | {"postgis": check_connection(), "revision": migrate.current()}, as_json)


@db_app.command("down")
def db_down(as_json: bool = JsonOption) -> None:
    """Stop the private cluster."""
    state = cluster.down()
    emit({"running": state.running, "data_dir": str(state.data_dir)}, as_json)


@db_app.command("status")
def db_status(as_json: bool = JsonOption) -> None:
    """Where the database is and which schema revision it has."""
    state = cluster.status()
    result: dict[str, object] = {"running": state.running, "port": state.port, "data_dir": str(state.data_dir)}
    try:
        result |= {"postgis": check_connection(get_engine()), "revision": migrate.current()}
    except UserError as exc:
        result["error"] = str(exc)
    emit(result, as_json)


@db_app.command("migrate")
def db_migrate(revision: str = typer.Argument("head")) -> None:
    """Upgrade the schema (``base`` downgrades everything)."""
    if revision == "base":
        migrate.downgrade()
    else:
        migrate.upgrade(revision=revision)
    typer.echo(f"schema at {migrate.current()}")


@audit_app.command("verify")
def audit_verify(as_json: bool = JsonOption) -> None:
    """Check the audit log's hash chain; exit status 1 when a row was changed or removed."""
    from core import audit_chain

    with get_engine().connect() as conn:
        verdict = audit_chain.verify(conn)
    emit(verdict.__dict__, as_json)
    if not verdict.ok:
        raise typer.Exit(1)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    listen: bool = typer.Option(True, help="Also run the sensor listener when an MQTT broker is there."),
    tls: bool = typer.Option(False, "--tls", help="HTTPS (CIM_TLS_CERT_FILE/KEY_FILE, else a self-signed pair)."),
    workers: int = typer.Option(1, min=1, help="API processes sharing the port (one per core)."),
) -> None:
    """Serve the API at /api/v1 and the viewer at /; with a broker, the sensor listener beside it."""
    import signal
    import subprocess

    from live import broker
    from spatial_api.app import serve as run_server

    check_connection()
    listeners = [subprocess.Popen(args) for args in listener_commands()] if listen and broker.configured() else []
    # uvicorn raises SIGTERM again after its graceful shutdown, with the handler it found: exit
    # through the `finally` then, so the listener stops with the server instead of outliving it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        run_server(host, port, tls, workers)
    finally:
        for listener in listeners:
            listener.terminate()
        for listener in listeners:
            listener.wait(timeout=20)


def listener_commands() -> list[list[str]]:
    """The `cim sensors listen` processes `cim serve` runs: one, or ``CIM_LISTENERS`` on a shared subscription."""
    from live.settings import get_live_settings

    command = [sys.executable, "-m", "spatial_api.cli", "sensors", "listen"]
    n = get_live_settings().listeners
    if n == 1:
        return [command]
    return [[*command, "--client-id", f"cim-listener-{k}", "--share", "cim"] for k in range(1, n + 1)]


@app.command("worker")
def worker(concurrency: int = typer.Option(1, help="Jobs run at once.")) -> None:
    """Run a queue worker on its own (the server runs one too); SIGTERM lets its jobs finish first."""
    import asyncio
    import signal

    from core import jobs
    from spatial_api import tasks  # noqa: F401 - registers the tasks

    async def until_stopped() -> None:
        running = asyncio.create_task(jobs.work(concurrency))
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, running.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await running

    asyncio.run(until_stopped())


def _register_groups() -> None:
    from bim_ingest.cli import app as bim_app
    from bim_ingest.review.cli import app as review_app
    from credit.cli import app as credit_app
    from gis.cli import app as gis_app
    from gis.cli import divisions_app
    from live.cli import app as sensors_app
    from ops.cli import backup_app, cluster_app, ops_app, restore
    from records.cli import app as records_app
    from sample_models.cli import app as city_app
    from sample_models.cli import province_app
    from spatial_api.commands import demo, ingest, review
    from tiles.cli import app as tiles_app

    bim_app.command("ingest")(ingest)
    app.add_typer(bim_app, name="bim")
    app.add_typer(gis_app, name="gis")
    app.add_typer(credit_app, name="credit")
    app.add_typer(tiles_app, name="tiles")
    app.add_typer(records_app, name="records")
    review_app.command("run")(review)
    app.add_typer(review_app, name="review")
    app.command("demo")(demo)
    app.add_typer(city_app, name="city")
    app.add_typer(province_app, name="province")
    app.add_typer(divisions_app, name="divisions")
    app.add_typer(sensors_app, name="sensors")
    app.add_typer(backup_app, name="backup")
    app.command("restore")(restore)
    app.add_typer(cluster_app, name="cluster")
    app.add_typer(ops_app, name="ops")


def main() -> None:
    """Entry point: known problems print one line saying what to do, never a traceback."""
    _register_groups()
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        typer.echo(f"error: cannot reach the database ({reason}): check DATABASE_URL or run `cim db up`", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
