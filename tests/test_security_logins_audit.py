"""Logins (lockout with backoff per account and address, the same time for unknown users, passwords
of any length), the real client address behind trusted proxies only, the audit log as a hash-chained
append-only record, refusals and cumulative paging audited, security headers."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import statistics
import time
import uuid
from datetime import UTC
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import audit_chain
from core.settings import get_settings
from tests.conftest import ROOT
from tests.fixtures_security import API, bearer, login


def _attempt(client, username: str, password: str):
    return client.post(f"{API}/auth/token", data={"username": username, "password": password})


def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_lockout_per_account_with_backoff(client_at, new_user, rows, monkeypatch):
    settings = get_settings()
    monkeypatch.setattr(settings, "lockout_seconds", 1)
    username, password = new_user()
    limit = settings.login_max_failures
    # Each failure from a different address: the account's count alone locks it.
    statuses = [_attempt(client_at(f"10.1.0.{i}"), username, "wrong").status_code for i in range(limit)]
    assert statuses == [401] * limit
    locked = _attempt(client_at("10.1.0.200"), username, password)
    assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 1
    # After the lockout, one more failure locks for twice as long.
    _until(lambda: _attempt(client_at("10.1.0.201"), username, "wrong").status_code == 401)
    again = _attempt(client_at("10.1.0.202"), username, password)
    assert again.status_code == 429 and int(again.headers["retry-after"]) == 2
    _until(lambda: _attempt(client_at("10.1.0.203"), username, password).status_code == 200, timeout=10)
    outcomes = {
        r["result"] for r in rows("SELECT result FROM audit_log WHERE action = 'login' AND object = :u", u=username)
    }
    assert outcomes == {"ok", "denied", "locked"}


def test_lockout_per_address_covers_unknown_users(client_at, new_user):
    client = client_at("10.2.0.1")
    limit = get_settings().login_max_failures
    statuses = [_attempt(client, f"ghost-{i}", "whatever").status_code for i in range(limit)]
    assert statuses == [401] * limit
    username, password = new_user()
    assert _attempt(client, username, password).status_code == 429, "the address is locked for every account"
    assert _attempt(client_at("10.2.0.2"), username, password).status_code == 200


def test_unknown_and_known_users_take_the_same_time(client_at, new_user, monkeypatch):
    monkeypatch.setattr(get_settings(), "login_max_failures", 1000)
    username, _ = new_user()

    def median_seconds(name: str) -> float:
        times = []
        for i in range(9):
            client = client_at(f"10.3.{len(name) % 250}.{i}")
            start = time.perf_counter()
            assert _attempt(client, name, "Wrong-password-123").status_code == 401
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    known, unknown = median_seconds(username), median_seconds(f"nobody-{uuid.uuid4().hex[:8]}")
    assert 0.75 < unknown / known < 1.33, (known, unknown)


def test_passwords_longer_than_bcrypts_72_bytes(client, client_at, admin_headers):
    username = f"long{uuid.uuid4().hex[:8]}"
    password = "Aa1-" + "长" * 40  # 124 bytes in UTF-8
    created = client.post(
        f"{API}/admin/users",
        json={"username": username, "password": password, "role": "planner"},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    far = client_at("10.4.0.1")
    assert login(far, username, password)["role"] == "planner"
    # Only the first 72 bytes would match under plain bcrypt: here the whole password counts.
    truncated = password.encode()[:72].decode("utf-8", errors="ignore")
    assert _attempt(far, username, truncated).status_code == 401
    assert _attempt(far, username, "x" * 5000).status_code == 401


def test_forwarded_for_is_believed_only_from_trusted_proxies(client_at, rows, monkeypatch):
    monkeypatch.setattr(get_settings(), "trusted_proxies", ["10.5.0.0/24"])
    name = f"xff-{uuid.uuid4().hex[:8]}"
    _attempt(client_at("10.6.0.9"), name, "pw")  # an untrusted peer, without the header
    client_at("10.6.0.9").post(
        f"{API}/auth/token", data={"username": name, "password": "pw"}, headers={"X-Forwarded-For": "203.0.113.7"}
    )
    client_at("10.5.0.2").post(
        f"{API}/auth/token",
        data={"username": name, "password": "pw"},
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.5.0.3"},
    )
    addresses = [r["address"] for r in rows("SELECT address FROM audit_log WHERE object = :u ORDER BY id", u=name)]
    assert addresses == ["10.6.0.9", "10.6.0.9", "203.0.113.9"]


def test_spoofed_forwarded_for_does_not_escape_the_rate_limit(database, sample_city, monkeypatch):
    from spatial_api.app import create_app

    monkeypatch.setattr(get_settings(), "rate_limit_per_minute", 3)
    limited = TestClient(create_app(), client=("10.7.0.1", 1))
    statuses = [
        limited.get(f"{API}/conformance", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


def test_refused_attempts_are_audited(client, rows, role_headers):
    path = f"{API}/analysis/excavation"
    before = rows("SELECT count(*) AS n FROM audit_log WHERE action = 'refused'")[0]["n"]
    assert client.post(path, json={"area": None, "depth_m": 1}).status_code == 401
    assert client.post(path, json={"area": None, "depth_m": 1}, headers=role_headers["emergency"]).status_code == 403
    found = rows("SELECT username, object, result FROM audit_log WHERE action = 'refused' ORDER BY id DESC LIMIT 2")
    assert rows("SELECT count(*) AS n FROM audit_log WHERE action = 'refused'")[0]["n"] == before + 2
    assert [(r["username"], r["result"]) for r in reversed(found)] == [(None, "401"), ("emergency", "403")]
    assert all(r["object"] == "POST /api/v1/analysis/excavation" for r in found)


def test_cumulative_paging_is_an_export(client, new_user, rows):
    username, password = new_user()
    headers = bearer(login(client, username, password)["access_token"])
    total = rows("SELECT count(*) AS n FROM building")[0]["n"]
    per_page = min(total, 1000)
    pages = 5000 // per_page + 1
    for page in range(pages):
        offset = (page * 1000) % total if total > 1000 else 0
        response = client.get(f"{API}/collections/buildings/items?limit=1000&offset={offset}", headers=headers)
        assert response.status_code == 200
    exports = rows("SELECT object FROM audit_log WHERE action = 'export' AND username = :u", u=username)
    assert len(exports) == pages * per_page // 5000 == 1
    assert "in the last hour" in exports[0]["object"]


def test_the_audit_log_refuses_update_delete_and_truncate(database, owner_database):
    """The application role has no right to; even the owner (the table's triggers) is refused."""
    for statement in (
        "UPDATE audit_log SET result = 'ok' WHERE id = (SELECT max(id) FROM audit_log)",
        "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
        "TRUNCATE audit_log",
    ):
        for engine, refusal in ((database, "permission denied"), (owner_database, "append-only")):
            with pytest.raises(DBAPIError, match=refusal), engine.begin() as conn:
                conn.execute(text(statement))


def test_the_verifier_finds_a_changed_or_missing_row(client, role_headers, owner_database, rows):
    for i in range(4):
        client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer bad-{i}"})  # refusals: audit rows
    verdict = client.get(f"{API}/audit/verify", headers=role_headers["admin"]).json()
    chained = rows("SELECT count(*) AS n FROM audit_log WHERE hash IS NOT NULL")[0]["n"]
    assert verdict == {"rows": chained, "ok": True, "first_bad_id": None, "reason": None}
    assert client.get(f"{API}/audit/verify", headers=role_headers["planner"]).status_code == 403

    with owner_database.connect() as conn:  # only the owner can turn the trigger off
        transaction = conn.begin()
        try:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable"))
            ids = [r[0] for r in conn.execute(text("SELECT id FROM audit_log WHERE hash IS NOT NULL ORDER BY id"))]
            conn.execute(text("UPDATE audit_log SET result = 'ok', address = '1.1.1.1' WHERE id = :id"), {"id": ids[2]})
            changed = audit_chain.verify(conn)
        finally:
            transaction.rollback()
        transaction = conn.begin()
        try:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable"))
            conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[3]})
            missing = audit_chain.verify(conn)
        finally:
            transaction.rollback()
    assert (changed.ok, changed.first_bad_id, changed.reason) == (False, ids[2], "its content was changed")
    assert (missing.ok, missing.first_bad_id) == (False, ids[4])
    assert "missing" in missing.reason
    assert client.get(f"{API}/audit/verify", headers=role_headers["admin"]).json()["ok"] is True


def test_the_chain_hash_is_sha256_of_the_previous_hash_and_the_row(rows):
    first, second = rows(
        """SELECT id, at, username, action, object, address, result, detail::text AS detail_text, prev_hash, hash
             FROM audit_log WHERE hash IS NOT NULL ORDER BY id LIMIT 2"""
    )
    assert first["prev_hash"] == "" and second["prev_hash"] == first["hash"]
    fields = [
        second["prev_hash"],
        str(second["id"]),
        second["at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"),
        second["username"] or "",
        second["action"],
        second["object"] or "",
        second["address"] or "",
        second["result"],
        second["detail_text"] or "",
    ]
    assert hashlib.sha256("\x1f".join(fields).encode()).hexdigest() == second["hash"]


def test_admin_searches_and_exports_the_audit_log(client, role_headers, rows):
    admin = role_headers["admin"]
    found = client.get(f"{API}/audit", params={"action": "login", "username": "planner", "limit": 5}, headers=admin)
    assert found.status_code == 200
    expected = rows("SELECT id FROM audit_log WHERE action = 'login' AND username = 'planner' ORDER BY id DESC LIMIT 5")
    assert [r["id"] for r in found.json()] == [r["id"] for r in expected] and expected
    csv_text = client.get(f"{API}/audit", params={"action": "refused", "format": "csv"}, headers=admin).text
    lines = list(csv.reader(io.StringIO(csv_text)))  # an object may hold a newline (a fuzzed path)
    refused = rows("SELECT count(*) AS n FROM audit_log WHERE action = 'refused'")[0]["n"]
    assert lines[0] == ["id", "at", "username", "action", "object", "address", "result"]
    assert len(lines) - 1 == min(refused, 100)
    assert rows("SELECT count(*) AS n FROM audit_log WHERE action = 'audit.export'")[0]["n"] >= 1
    assert client.get(f"{API}/audit", headers=role_headers["emergency"]).status_code == 403


class _InlineScripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[str] = []
        self._inside = False

    def handle_starttag(self, tag, attrs) -> None:
        self._inside = tag == "script" and "src" not in dict(attrs)
        if self._inside:
            self.bodies.append("")

    def handle_endtag(self, tag) -> None:
        self._inside = False

    def handle_data(self, data) -> None:
        if self._inside:
            self.bodies[-1] += data


def test_security_headers(client, security_app):
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    parser = _InlineScripts()
    parser.feed((ROOT / "viewer" / "index.html").read_text(encoding="utf-8"))
    assert parser.bodies
    for body in parser.bodies:
        assert f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" in csp
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "http" not in script_src and "*" not in script_src
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    api = client.get(f"{API}/conformance")
    assert api.headers["x-content-type-options"] == "nosniff" and "strict-transport-security" not in api.headers
    over_tls = TestClient(security_app, base_url="https://testserver").get(f"{API}/conformance")
    assert over_tls.headers["strict-transport-security"].startswith("max-age=")
