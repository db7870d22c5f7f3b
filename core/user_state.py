"""The user state every request checks its token against (role, active, token version, districts),
kept in memory for up to ``TTL_S`` and forgotten as soon as the database says the row changed.

A trigger on ``app_user`` (migration 0012) sends ``NOTIFY cim_user_changed`` with the username on every
UPDATE and DELETE, and with an empty payload on TRUNCATE (forget everyone). One daemon thread per
process LISTENs on its own connection; until it listens (and whenever its connection is lost) nothing
is served from memory. A row read while a change is being announced is not kept (an epoch counts the
announcements), so a disabled, demoted or logged-out user's next request sees the change.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import get_engine, read_engine
from core.settings import on_configure

CHANNEL = "cim_user_changed"
TTL_S = 30.0
USER_STATE = text("SELECT role, active, token_version, districts FROM app_user WHERE username = :u")
log = logging.getLogger("cim.users")


class _State:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[float, Any]] = {}
        self.epoch = 0
        self.generation = 0
        self.listening = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()


_state = _State()


def _forget(username: str) -> None:
    with _state.lock:
        _state.epoch += 1
        if username:
            _state.rows.pop(username, None)
        else:
            _state.rows.clear()


def _listen(generation: int, conninfo: str) -> None:
    """Hold a LISTEN connection; forget what each notification names. Reconnects after a failure."""
    while _state.generation == generation:
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                _forget("")  # whatever changed while nobody listened
                _state.listening.set()
                while _state.generation == generation:
                    for notify in conn.notifies(timeout=1.0):
                        _forget(notify.payload)
        except psycopg.Error as exc:
            log.warning("user-change listener lost its connection (%s); reading users from the database", exc)
        finally:
            _state.listening.clear()
            _forget("")
        time.sleep(1.0)


def _ensure_listener() -> None:
    if _state.thread is not None and _state.thread.is_alive():
        return
    with _state.lock:
        if _state.thread is not None and _state.thread.is_alive():
            return
        url = make_url(get_engine().url).set(drivername="postgresql").render_as_string(hide_password=False)
        generation = _state.generation
        _state.thread = threading.Thread(target=_listen, args=(generation, url), name="user-changes", daemon=True)
        _state.thread.start()


@on_configure
def _reset() -> None:
    """Other settings, maybe another database: stop the listener and forget everything."""
    _state.generation += 1
    _state.listening.clear()
    _state.thread = None
    _forget("")


def user_state(username: str) -> Any:
    """The user's row (role, active, token_version, districts), or None when there is no such user."""
    _ensure_listener()
    now = time.monotonic()
    if _state.listening.is_set():
        cached = _state.rows.get(username)
        if cached is not None and now - cached[0] < TTL_S:
            return cached[1]
    epoch = _state.epoch
    with read_engine().connect() as conn:
        row = conn.execute(USER_STATE, {"u": username}).first()
    with _state.lock:
        if _state.listening.is_set() and _state.epoch == epoch and row is not None:
            _state.rows[username] = (now, row)
    return row
