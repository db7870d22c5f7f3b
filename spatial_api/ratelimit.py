"""Per-client rate limits on the API (the ``limits`` library's sliding-window counter, keyed by the
client address); over the limit a 429 problem+json with Retry-After.

slowapi was tried first: its middleware finds the route handler through ``route.endpoint``, which
FastAPI's included routers no longer expose, so it never limited anything here.
"""

from __future__ import annotations

from fastapi import FastAPI
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import get_settings
from spatial_api.clientaddr import client_address
from spatial_api.problems import problem

API_PREFIX = "/api/"


class RateLimit:
    """ASGI middleware: ``per_minute`` requests per client address to paths under /api/."""

    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app = app
        self.limit = parse(f"{per_minute}/minute")
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = scope["type"] == "http" and scope["path"].startswith(API_PREFIX)
        if api and not self.limiter.hit(self.limit, client_address(scope)):
            response = problem(429, f"too many requests from this address (limit {self.limit}): retry in a minute")
            response.headers["Retry-After"] = "60"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    """Limit every API path to ``rate_limit_per_minute`` requests per client address and minute."""
    app.add_middleware(RateLimit, per_minute=get_settings().rate_limit_per_minute)
