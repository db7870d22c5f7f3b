"""The client host of the failover test, run inside its network namespace; everything it does goes
through nginx over HTTPS (checked against the project's certificate).

``load CONFIG``: a writer and a reader thread until the stop file appears. The writer posts one
sensor reading per request (reading ``i`` at a time of its own, so a repeated post is stored once);
after a 503 it posts the same reading again after Retry-After (capped at 0.5 s to see the end of
the failover). The reader lists the sensors. Every attempt is a JSON line in ``writes.jsonl`` /
``reads.jsonl``: ``i``, ``sent``, ``done`` (epoch seconds), ``status``, ``retry_after``, ``problem``
(a problem+json body), ``acked`` (the reading was stored, now or before).
``get CONFIG PATH`` / ``upload CONFIG PATH FILE``: one request, its JSON answer printed; ``ready
CONFIG``: the statuses of four ``/ready`` in a row."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

RETRY_CAP_S = 0.5


def _client(config: dict) -> httpx.Client:
    return httpx.Client(
        base_url=config["url"], verify=config["cafile"], timeout=15, headers={"X-API-Key": config["key"]}
    )


def _line(out, **fields) -> None:
    out.write(json.dumps(fields) + "\n")
    out.flush()


def _attempt(client: httpx.Client, method: str, path: str, **kwargs) -> tuple[float, float, httpx.Response | None]:
    sent = time.time()
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError:
        response = None
    return sent, time.time(), response


def _fields(response: httpx.Response | None) -> dict:
    if response is None:
        return {"status": 0, "retry_after": None, "problem": False}
    problem = response.headers.get("content-type", "").startswith("application/problem+json")
    return {"status": response.status_code, "retry_after": response.headers.get("retry-after"), "problem": problem}


def write(config: dict, stop: Path) -> None:
    base = datetime.now(UTC) - timedelta(hours=1)
    with _client(config) as client, (Path(config["out"]) / "writes.jsonl").open("a") as out:
        i = 0
        while not stop.exists():
            at = (base + timedelta(milliseconds=i)).isoformat()
            body = {"readings": [{"sensor_id": config["sensor"], "time": at, "value": 0}]}
            sent, done, response = _attempt(client, "POST", "/api/v1/sensors/readings", json=body)
            fields = _fields(response)
            answer = response.json() if response is not None and response.status_code == 200 else {}
            acked = answer.get("accepted", 0) + answer.get("duplicates", 0) == 1
            _line(out, i=i, time=at, sent=sent, done=done, acked=acked, **fields)
            if acked:
                i += 1
            elif fields["retry_after"]:
                time.sleep(min(float(fields["retry_after"]), RETRY_CAP_S))
            else:
                time.sleep(0.1)


def read(config: dict, stop: Path) -> None:
    with _client(config) as client, (Path(config["out"]) / "reads.jsonl").open("a") as out:
        while not stop.exists():
            sent, done, response = _attempt(client, "GET", "/api/v1/sensors")
            ok = response is not None and response.status_code == 200 and len(response.json()) >= 1
            _line(out, sent=sent, done=done, ok=ok, **_fields(response))
            time.sleep(0.02)


def load(config: dict) -> None:
    stop = Path(config["out"]) / "stop"
    threads = [threading.Thread(target=f, args=(config, stop)) for f in (write, read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    settings = json.loads(Path(sys.argv[2]).read_text())
    if sys.argv[1] == "load":
        load(settings)
    elif sys.argv[1] == "ready":  # both API processes behind nginx (round robin): several in a row
        with _client(settings) as one:
            print(json.dumps([one.get("/api/v1/ready").status_code for _ in range(4)]))
    else:
        with _client(settings) as one:
            if sys.argv[1] == "upload":
                with open(sys.argv[4], "rb") as file:
                    answer = one.post(sys.argv[3], files={"file": (Path(sys.argv[4]).name, file, "text/csv")})
            else:
                answer = one.get(sys.argv[3])
        print(json.dumps({"status": answer.status_code, "body": answer.json()}))
