"""``cim sensors``: the broker, the listener and the simulator."""

from __future__ import annotations

import logging
import signal
import threading

import typer

from core.console import emit
from live import broker

app = typer.Typer(help="Sensor feeds: the MQTT broker, the listener, simulated readings.", no_args_is_help=True)
broker_app = typer.Typer(help="The private Mosquitto broker under .data/mosquitto.", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
JsonOption = typer.Option(False, "--json", help="Print one JSON object.")


def _status(state: broker.BrokerStatus) -> dict:
    return {"running": state.running, "port": state.port, "data_dir": str(state.data_dir), "pid": state.pid}


@broker_app.command("up")
def broker_up(
    port: int | None = typer.Option(None, help="Port on 127.0.0.1 (default: a free one)."), as_json: bool = JsonOption
) -> None:
    """Configure and start the broker (password authentication, persistence, loopback only)."""
    emit(_status(broker.up(port)), as_json)


@broker_app.command("down")
def broker_down(as_json: bool = JsonOption) -> None:
    """Stop the broker."""
    emit(_status(broker.down()), as_json)


@broker_app.command("status")
def broker_status(as_json: bool = JsonOption) -> None:
    """Whether the broker runs, and where."""
    emit(_status(broker.status()), as_json)


@app.command("listen")
def listen(
    client_id: str = typer.Option("cim-listener", help="MQTT client id (its session keeps unacknowledged readings)."),
    share: str | None = typer.Option(
        None, help="Shared-subscription group: several listeners (each its own client id) split the readings."
    ),
) -> None:
    """Subscribe to cim/sensors/+/readings and write readings into PostgreSQL until stopped."""
    from live import partitions
    from live.listener import Listener

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    partitions.maintain()
    listener = Listener(client_id, share)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    listener.run(until=done)


@app.command("simulate")
def simulate(
    build_up: str | None = typer.Option(None, help="Compartment id for a scripted gas build-up (e.g. ZHGL012-S1-C3)."),
    minutes: float = typer.Option(10.0, help="Simulated minutes, ending now."),
    step_s: float = typer.Option(10.0, help="Seconds between a sensor's readings."),
    speed: float = typer.Option(60.0, help="Simulated seconds per wall-clock second (0: as fast as possible)."),
    kind: str | None = typer.Option(None, help="Only sensors of this kind."),
    as_json: bool = JsonOption,
) -> None:
    """Publish realistic readings (daily cycle, noise, an optional gas build-up) over MQTT."""
    from live import simulate as sim

    emit(sim.run(build_up, minutes, step_s, speed, kind), as_json)


@app.command("maintain")
def maintain(as_json: bool = JsonOption) -> None:
    """Create the coming months' partitions and drop those past the retention."""
    from live import partitions

    emit(partitions.maintain(), as_json)
