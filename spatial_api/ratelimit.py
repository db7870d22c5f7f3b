"""Rate limits on the API per role (a sliding-window counter); over the limit a 429 problem+json with
Retry-After (the seconds until the window lets the next request through).

Who is counted: a person by account (the role and name in their access token, whose signature is
checked here; a stale token fails its own check later), an API key by its prefix, anyone else by
client address. Each role's figure is ``rate_limits_per_minute[role]`` (``api_key`` for keys), else
``rate_limit_per_minute``. The middleware reads no database, so a flood costs no queries.

slowapi was tried first: its middleware finds the route handler through ``route.endpoint``, which
FastAPI's included routers no longer expose, so it never limited anything here. The ``limits``
library's in-memory counter came next: it starts a 10 ms timer thread on almost every hit at API rates
(a thread per request: ~6% of a search's server CPU under py-spy), so the counter is this module's own.
"""

from __future__ import annotations

import math
import time

import jwt
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import get_settings
from spatial_api.clientaddr import client_address
from spatial_api.problems import problem
from spatial_api.security import ALGORITHM, API_KEY_PREFIX, ROLE_PUBLIC

API_PREFIX = "/api/"
API_KEY_ROLE = "api_key"


def _header(scope: Scope, name: bytes) -> str | None:
    value = next((v for k, v in scope["headers"] if k == name), None)
    return value.decode("latin-1") if value is not None else None


def caller(scope: Scope, secret: str) -> tuple[str, str]:
    """(role the limit is for, key the requests are counted under)."""
    key = _header(scope, b"x-api-key")
    if key is not None and key.startswith(API_KEY_PREFIX):
        return API_KEY_ROLE, "key:" + key.removeprefix(API_KEY_PREFIX).partition(".")[0][:16]
    authorization = _header(scope, b"authorization") or ""
    if authorization[:7].lower() == "bearer ":
        try:
            claims = jwt.decode(authorization[7:].strip(), secret, algorithms=[ALGORITHM])
        except jwt.PyJWTError:
            claims = {}
        if isinstance(claims.get("sub"), str) and isinstance(claims.get("role"), str):
            return claims["role"], "user:" + claims["sub"]
    return ROLE_PUBLIC, "addr:" + client_address(scope)


class SlidingWindow:
    """Hits per key over a sliding minute, counted as the ``limits`` library's sliding-window counter does:
    this minute's hits plus the last minute's weighted by the share of it the sliding minute still covers.
    For the event loop's thread alone (no lock); keys idle for two minutes are dropped once a minute."""

    PERIOD_S = 60.0

    def __init__(self) -> None:
        # key -> (minute number, hits in that minute, hits in the minute before)
        self.counts: dict[str, tuple[int, int, int]] = {}
        self.swept = 0

    def hit(self, key: str, limit: int, now: float) -> float:
        """Count a hit of ``key`` and answer 0 when within ``limit`` per minute; else count nothing and
        answer the seconds until a hit would be within it."""
        minute, into = divmod(now, self.PERIOD_S)
        current = int(minute)
        if current != self.swept:
            self.counts = {k: c for k, c in self.counts.items() if c[0] >= current - 1}
            self.swept = current
        counted, hits, before = self.counts.get(key, (current, 0, 0))
        if counted != current:
            hits, before = 0, hits if counted == current - 1 else 0
        weight = 1 - into / self.PERIOD_S
        if hits + 1 + before * weight <= limit:
            self.counts[key] = (current, hits + 1, before)
            return 0.0
        if hits + 1 > limit or not before:  # this minute alone is full: its hits weigh on the next one
            return self.PERIOD_S - into + self.PERIOD_S * (hits + 1 - limit) / max(hits, 1)
        return self.PERIOD_S * (hits + 1 + before * weight - limit) / before


class RateLimit:
    """ASGI middleware: each role's requests per minute to paths under /api/."""

    def __init__(self, app: ASGIApp, default: int, per_role: dict[str, int], secret: str) -> None:
        self.app = app
        self.default = default
        self.per_role = dict(per_role)
        self.secret = secret
        self.window = SlidingWindow()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        role, key = caller(scope, self.secret)
        limit = self.per_role.get(role, self.default)
        wait = self.window.hit(f"{role}/{key}", limit, time.time())
        if not wait:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        response = problem(429, f"too many requests ({limit} per 1 minute for role {role!r}): retry in {seconds} s")
        response.headers["Retry-After"] = str(seconds)
        await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Limit every API path by role (settings ``rate_limits_per_minute``, ``rate_limit_per_minute``)."""
    settings = get_settings()
    app.add_middleware(
        RateLimit,
        default=settings.rate_limit_per_minute,
        per_role=settings.rate_limits_per_minute,
        secret=settings.jwt_secret or "",
    )
