"""A statement timeout for the queries of each API request (``statement_timeout_ms``).

The ASGI middleware marks the request's context; every connection checked out of a pool inside it
gets PostgreSQL's ``statement_timeout`` for requests (a SET only when the connection's differs, so
a warm pool pays nothing), and a connection checked out elsewhere (the queue's jobs, the CLI) gets
none. A query cancelled by the timeout is answered 503 problem+json with the limit in the message
(:func:`is_timeout` tells :mod:`spatial_api.problems` which error it was).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import Pool
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import get_settings

API_PREFIX = "/api/"
# The timeout (ms) for the statements of the request being served; 0 outside requests (no limit).
_request_timeout: ContextVar[int] = ContextVar("request_statement_timeout_ms", default=0)
_APPLIED = "cim_statement_timeout_ms"


class StatementTimeout:
    """ASGI middleware: the statements of each request under /api/ run with the configured timeout."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        token = _request_timeout.set(get_settings().statement_timeout_ms)
        try:
            await self.app(scope, receive, send)
        finally:
            _request_timeout.reset(token)


@event.listens_for(Pool, "checkout")
def _apply(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """Give the connection the timeout of the context that checks it out (requests: the setting)."""
    wanted = _request_timeout.get()
    if connection_record.info.get(_APPLIED, 0) == wanted:
        return
    if not isinstance(dbapi_connection, psycopg.Connection):
        return
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(wanted)}")
    dbapi_connection.commit()  # a session setting: it must outlive the transaction the SET began
    connection_record.info[_APPLIED] = wanted


def is_timeout(exc: DBAPIError) -> bool:
    """Whether the database cancelled the statement (the statement timeout, or a cancel request)."""
    return isinstance(exc.orig, psycopg.errors.QueryCanceled)


def message() -> str:
    seconds = get_settings().statement_timeout_ms / 1000
    return (
        f"the request took longer than the {seconds:g} s allowed for one query: narrow it (a smaller area, "
        "fewer items, a more precise filter) or try again later"
    )
