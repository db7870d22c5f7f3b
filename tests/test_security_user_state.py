"""The token check's user state kept in memory: a second request with the same token reads no user row,
and a change made straight in SQL (no API involved) reaches the next request through the database's
NOTIFY, within moments, not after the cache's lifetime."""

from __future__ import annotations

import time

from sqlalchemy import event, text

from core import user_state
from core.db import get_engine
from tests.fixtures_security import API, bearer, login


def _user_queries(client, headers) -> int:
    seen = []

    def count(conn, cursor, statement, *args) -> None:
        if "FROM app_user" in statement:
            seen.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        assert client.get(f"{API}/auth/me", headers=headers).status_code == 200
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    return len(seen)


def _until(condition, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "not within the time"
        time.sleep(0.02)
    return time.monotonic() - started


def test_cached_state_and_sql_changes_reach_the_next_request(client, new_user, database):
    username, password = new_user("planner")
    headers = bearer(login(client, username, password)["access_token"])
    client.get(f"{API}/auth/me", headers=headers)
    _until(user_state._state.listening.is_set)
    user_state._forget(username)
    assert _user_queries(client, headers) == 1  # read once ...
    assert _user_queries(client, headers) == 0  # ... then served from memory
    with database.begin() as conn:
        conn.execute(text("UPDATE app_user SET active = false WHERE username = :u"), {"u": username})
    waited = _until(lambda: client.get(f"{API}/auth/me", headers=headers).status_code == 401)
    assert waited < user_state.TTL_S / 10
    with database.begin() as conn:  # back, and a demotion by SQL shows at once too
        conn.execute(text("UPDATE app_user SET active = true, role = 'engineer' WHERE username = :u"), {"u": username})
    _until(lambda: client.get(f"{API}/auth/me", headers=headers).json().get("role") == "engineer")
