"""The live stream's hub: one PostgreSQL ``LISTEN cim_live`` connection per API process, fanned
out to every Server-Sent-Events client. The listener (and the HTTP intake, and alarm steps) NOTIFY
on commit, so a reading reaches the browser a few milliseconds after it is stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import psycopg
from sqlalchemy.engine import make_url

from core.db import database_url
from live.ingest import CHANNEL

log = logging.getLogger("cim.live")
QUEUE_SIZE = 1000


class Hub:
    """Subscribers' queues and the task that feeds them."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[str]] = set()
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    async def _listen(self) -> None:
        conninfo = make_url(database_url()).set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.ready.set()
                    async for note in conn.notifies():
                        for queue in list(self.queues):
                            if queue.full():  # a slow client loses its oldest news, never blocks the others
                                with contextlib.suppress(asyncio.QueueEmpty):
                                    queue.get_nowait()
                            queue.put_nowait(note.payload)
            except psycopg.OperationalError as exc:
                self.ready.clear()
                log.warning("live stream lost the database (%s); reconnecting", exc)
                await asyncio.sleep(1.0)

    async def subscribe(self) -> asyncio.Queue[str]:
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._listen())
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.queues.add(queue)
        await asyncio.wait_for(self.ready.wait(), timeout=10)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self.queues.discard(queue)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def sse(event: str, data: str) -> str:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {data}\n\n"


def event_of(payload: str) -> tuple[str, str]:
    """(event name, data) of a NOTIFY payload ``{"type": ..., "items": [...]}``."""
    body = json.loads(payload)
    return body["type"], json.dumps(body["items"])
