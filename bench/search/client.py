"""A lean load generator: HTTP/1.1 keep-alive over asyncio streams, one connection per client. The same
requests as :func:`bench.api.run.drive` (httpx) sends, each answer's status checked and a JSON body
parsed, at a fraction of httpx's CPU per request: on 2 shared cores the client's CPU is taken from the
server and the database it measures."""

from __future__ import annotations

import asyncio
import json
import time
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from bench.api.run import summary

# What a URL may keep unquoted (as httpx sends it); the rest, e.g. Chinese query text, percent-encoded.
SAFE = "/?&=%:,;+@!$'()*~-._"


class Answer(NamedTuple):
    """An HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> Answer:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if headers.get("transfer-encoding") == "chunked":
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return Answer(status, headers, b"".join(chunks))
    return Answer(status, headers, await reader.readexactly(int(headers.get("content-length", "0"))))


def _request(method: str, url: str, body: dict | None) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    target = quote(parts.path + (f"?{parts.query}" if parts.query else ""), safe=SAFE)
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return parts.hostname or "127.0.0.1", parts.port or 80, (head + "\r\n").encode() + payload


async def drive_raw(urls: list[tuple[str, str, dict | None]], concurrency: int) -> dict:
    """Send every request with at most ``concurrency`` in flight, as :func:`bench.api.run.drive` does:
    latencies of 200s (whose body, if JSON, parses) only, the others counted with the first one's reason."""
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    queue = [_request(*u) for u in urls]

    async def worker() -> None:
        nonlocal errors, first_error
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while queue:
            host, port, request = queue.pop()
            started = time.perf_counter()
            if streams is None:
                streams = await asyncio.open_connection(host, port)
            answer = await _exchange(*streams, request)
            problem = None if answer.status == 200 else f"{answer.status}"
            if "json" in answer.headers.get("content-type", ""):
                try:
                    json.loads(answer.body)
                except ValueError:
                    problem = f"{answer.status}, not JSON"
            if problem is None:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
                first_error = first_error or f"{problem} {request[:200]!r}: {answer.body[:300]!r}"
            if answer.headers.get("connection", "").lower() == "close":
                streams[1].close()
                streams = None
        if streams is not None:
            streams[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return {**summary(latencies, seconds), "errors": errors, "first_error": first_error}
