"""The live panel in a real browser (Debian's Chromium through playwright-core) against `cim serve`,
which runs the sensor listener beside it: a scripted gas build-up published over MQTT raises one
alarm that shows in the page within a second of its reading; acknowledging and closing it there
are recorded."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from spatial_api.local_server import free_port, stop
from tests.fixtures_live import publish_build_up, wait_for
from tests.fixtures_viewer import E2E, start_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def live_city_server(mqtt_broker, viewer_city, tmp_path_factory):
    """`cim serve` started while the broker runs, so it starts the listener too."""
    port = free_port()
    log = tmp_path_factory.mktemp("live-serve") / "serve.log"
    process = start_server(port, log, timeout_s=180)  # it starts the listener too: slow on a loaded machine
    wait_for(lambda: "listening on" in log.read_text(), 60, "cim serve's listener to subscribe")
    yield f"http://127.0.0.1:{port}/", log
    children = psutil.Process(process.pid).children(recursive=True)
    assert children, "cim serve runs its listener as a child process"
    stop(process)
    _, outliving = psutil.wait_procs(children, timeout=20)
    left = [child.pid for child in outliving]
    for child in outliving:
        child.kill()
    assert not left, f"processes {left} of cim serve (its listener) outlived it"


def test_build_up_alarm_reaches_the_browser_and_is_acknowledged_and_closed(
    e2e_tools, live_city_server, publisher, rows, artifacts, gas_sensors
):
    leak = gas_sensors[-1]
    compartment = rows("SELECT compartment_id FROM sensor WHERE id = :s", s=leak)[0]["compartment_id"]
    before = rows("SELECT coalesce(max(id), 0) AS id FROM alarm")[0]["id"]
    url, serve_log = live_city_server
    spec = {
        "url": url,
        "artifacts": str(artifacts),
        "sensor": leak,
        "after": before,  # the alarm looked for is a new one (the snapshot and older alarms are not it)
        "login": ["emergency", "emergency-demo"],
    }
    browser = subprocess.Popen(
        ["node", str(E2E / "live.mjs"), json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = browser.stdout.readline()
        assert first.strip() == "READY", first + browser.stderr.read()[-2000:]
        published = publish_build_up(publisher, leak, seed=5)
        out, err = browser.communicate(timeout=180)
    finally:
        if browser.poll() is None:
            browser.kill()
    result = json.loads(out.strip().splitlines()[-1])
    landed = rows("SELECT count(*) AS n, max(value) AS peak FROM sensor_reading WHERE sensor_id = :s", s=leak)
    raised = rows("SELECT id, level, status FROM alarm WHERE sensor_id = :s", s=leak)
    assert "error" not in result, (
        f"{result['error']} {result.get('seen')} {landed} {raised} {serve_log.read_text()[-3000:]}"
    )
    # Without published BIM models the viewer's bim tileset is a 404 (as on any city without them); nothing else fails.
    bad = result.get("bad_responses", [])
    assert [r for r in bad if "/tiles/bim" not in r] == [] and result["outside"] == []  # bim/, bim_elements/
    assert len(result["console_errors"]) == len(bad)
    assert result["live_requests_before_open"] == []  # the first view asks nothing of the live city
    assert result["sensors_drawn"] == rows("SELECT count(*) AS n FROM sensor")[0]["n"]
    reading = datetime.fromisoformat(result["alarm"]["reading_time"]).astimezone(UTC).isoformat()
    latency = result["seen_at_ms"] / 1000 - published[reading]
    assert latency < 1.0, f"{latency:.3f} s from the reading to the page"
    assert result["chart"]["points"] > 0
    assert result["compartment_levels"][compartment] >= 1
    assert result["listed_after_close"] == 0
    alarms = rows("SELECT id FROM alarm WHERE sensor_id = :s AND id > :b", s=leak, b=before)
    assert [a["id"] for a in alarms] == [result["alarm_id"]]  # one alarm, not a flapping series
    steps = rows("SELECT status, username FROM alarm_step WHERE alarm_id = :a ORDER BY id", a=result["alarm_id"])
    assert [(s["status"], s["username"]) for s in steps] == [
        ("raised", None),
        ("acknowledged", "emergency"),
        ("closed", "emergency"),
    ]
