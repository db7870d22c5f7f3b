"""Rate limits on the API per role (the ``limits`` library's sliding-window counter); over the limit a
429 problem+json with Retry-After (the seconds until the window lets the next request through).

Who is counted: a person by account (the role and name in their access token, whose signature is
checked here; a stale token fails its own check later), an API key by its prefix, anyone else by
client address. Each role's figure is ``rate_limits_per_minute[role]`` (``api_key`` for keys), else
``rate_limit_per_minute``. The middleware reads no database, so a flood costs no queries.

slowapi was tried first: its middleware finds the route handler through ``route.endpoint``, which
FastAPI's included routers no longer expose, so it never limited anything here.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

import jwt
from fastapi import FastAPI
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
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


@lru_cache(maxsize=64)
def _item(per_minute: int) -> RateLimitItem:
    return parse(f"{per_minute}/minute")


class RateLimit:
    """ASGI middleware: each role's requests per minute to paths under /api/."""

    def __init__(self, app: ASGIApp, default: int, per_role: dict[str, int], secret: str) -> None:
        self.app = app
        self.default = default
        self.per_role = dict(per_role)
        self.secret = secret
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        role, key = caller(scope, self.secret)
        limit = _item(self.per_role.get(role, self.default))
        if self.limiter.hit(limit, role, key):
            await self.app(scope, receive, send)
            return
        reset_at = self.limiter.get_window_stats(limit, role, key).reset_time
        wait = max(1, math.ceil(reset_at - time.time()))
        response = problem(429, f"too many requests ({limit} for role {role!r}): retry in {wait} s")
        response.headers["Retry-After"] = str(wait)
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
