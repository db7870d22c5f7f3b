"""Every request: an id (the caller's ``X-Request-ID`` when well formed, else a new one) set for
the logs and echoed in the answer, its count and latency under the route template, one JSON log
line, and, for idempotent reads that met a lost database connection (a failover), a few quiet
retries before the 503 with Retry-After reaches the caller."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ops import logs, metrics

log = logging.getLogger("cim.access")
REQUEST_ID = "x-request-id"
WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Set by the handler of lost database connections; read and removed here.
RETRYABLE = "x-cim-retryable"
IDEMPOTENT = ("GET", "HEAD")
# A short budget (about 1.5 s more), under the clients' own time-outs; a failover takes longer, and
# its 503 says when to come back (nginx tries the other API process first).
READ_RETRIES = 3
RETRY_PAUSE_S = 0.5


def _route(scope: Scope) -> str:
    """The route template that answered (``/api/v1/collections/{collection_id}/items``), never the
    raw path; the static mounts by their prefix."""
    # FastAPI keeps included routers nested: the full template is the effective route's.
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(effective, "path_format", None) or getattr(scope.get("route"), "path", None)
    if path is not None:
        return str(path)
    return "static" if "endpoint" in scope else "unmatched"


async def _empty_body() -> Message:
    """The (empty) body of a GET again, for a retry."""
    return {"type": "http.request", "body": b"", "more_body": False}


class Observe:
    """Pure ASGI middleware (streams pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def _attempt(self, scope: Scope, receive: Receive, send: Send, rid: str, may_retry: bool) -> tuple[int, bool]:
        """Run the app once; its status, and whether its answer was a retryable 503 held back."""
        status = 500
        dropped = False

        async def capture(message: Message) -> None:
            nonlocal status, dropped
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                retryable = RETRYABLE in headers
                if retryable:
                    del headers[RETRYABLE]
                headers[REQUEST_ID] = rid
                dropped = retryable and may_retry
            if not dropped:
                await send(message)

        await self.app(scope, receive, capture)
        return status, dropped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID.encode(), b"").decode("latin-1")
        rid = given if WELL_FORMED.fullmatch(given) else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500
        retries = READ_RETRIES if scope["method"] in IDEMPOTENT else 0
        try:
            while True:
                status, dropped = await self._attempt(scope, receive, send, rid, retries > 0)
                if not dropped:
                    break
                retries -= 1
                log.info("database connection lost on a read; retrying", extra={"retries_left": retries})
                await asyncio.sleep(RETRY_PAUSE_S)
                receive = _empty_body
        finally:
            seconds = time.perf_counter() - started
            route = _route(scope)
            metrics.observe_request(scope["method"], route, status, seconds)
            log.info(
                "%s %s %d",
                scope["method"],
                route,
                status,
                extra={"method": scope["method"], "route": route, "status": status, "ms": round(seconds * 1000, 1)},
            )
            logs.request_id.reset(token)
