"""RFC 9457 problem+json responses for every error the API returns."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException

from core.errors import UserError
from spatial_api import audit, observability, timeouts
from spatial_api.security import ANONYMOUS

log = logging.getLogger("cim.api")
PROBLEM = "application/problem+json"


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response with a human message."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


# Paths whose refusals are audited by their own handler (a failed login is a ``login`` row).
LOGGED_ELSEWHERE = ("/auth/token",)


def _record_refusal(request: Request, status: int) -> None:
    """Audit a 401 or 403 with the caller as far as known (the credentials may be what was refused)."""
    principal = getattr(request.state, "principal", ANONYMOUS)
    audit.record("refused", f"{request.method} {request.url.path}"[:500], principal, request, str(status))


def install(app: FastAPI) -> None:
    """Route every error to problem+json."""

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        return problem(exc.status_code, str(exc), **getattr(exc, "extra", {}))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code in (401, 403) and not request.url.path.endswith(LOGGED_ELSEWHERE):
            await asyncio.to_thread(_record_refusal, request, exc.status_code)
        response = problem(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p not in ("body", "query", "path"))
        return problem(422, f"{where}: {first['msg']}" if where else first["msg"], errors=errors)

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
        if timeouts.is_timeout(exc):
            log.warning("statement timeout on %s %s", request.method, request.url.path)
            response = problem(503, timeouts.message())
            response.headers["Retry-After"] = "30"
            return response
        log.error("database unavailable: %s", exc.orig)
        response = problem(503, "the database is unavailable (a failover takes up to 30 s); try again shortly")
        response.headers["Retry-After"] = "5"
        response.headers[observability.RETRYABLE] = "1"  # an idempotent read is retried before this is sent
        return response

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        log.warning("database rejected a query: %s", exc.orig)
        # The database's own words (table names, values, SQL) stay in the server log.
        return problem(400, "the database could not run the request with these values: check their ranges and kinds")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; it has been logged")
