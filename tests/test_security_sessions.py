"""Secrets at start-up, sessions checked against the user on every request, refresh rotation, logout
and password change revoking, API keys with scopes, malformed tokens as 401."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from core.secrets import InsecureConfiguration
from core.settings import Settings, get_settings
from tests.fixtures_security import API, STRONG, bearer, login

PROTECTED = f"{API}/auth/me"


def _me(client, headers) -> tuple[int, dict]:
    response = client.get(PROTECTED, headers=headers)
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "CIM_JWT_SECRET is not set"),
        ("change-me-in-production-cim-server", "published default"),
        ("change-me-in-production", "published default"),
        ("short-but-random-x9", "needs at least 32"),
    ],
)
def test_the_server_refuses_to_start_with_a_weak_secret(database, secret, message):
    from spatial_api.app import create_app

    settings = get_settings()
    saved = settings.jwt_secret
    settings.jwt_secret = secret
    try:
        with pytest.raises(InsecureConfiguration, match=message):
            create_app()
    finally:
        settings.jwt_secret = saved


def test_a_token_forged_with_the_old_default_is_refused(client, sample_city):
    forged = jwt.encode(
        {
            "sub": "admin",
            "role": "admin",
            "ver": 0,
            "typ": "access",
            "iat": datetime.now(UTC),
            "exp": datetime.now(UTC) + timedelta(hours=1),
        },
        "change-me-in-production-cim-server",
    )
    assert client.get(f"{API}/admin/users", headers=bearer(forged)).status_code == 401


def test_secrets_from_a_file_and_the_demo_makes_its_own(tmp_path, monkeypatch):
    for key in ("CIM_JWT_SECRET", "CIM_JWT_SECRET_FILE", "CIM_DEMO"):
        monkeypatch.delenv(key, raising=False)
    secret_file = tmp_path / "jwt"
    secret_file.write_text("from-a-file-" + "k" * 40 + "\n")
    assert Settings(jwt_secret_file=secret_file).jwt_secret == "from-a-file-" + "k" * 40
    assert Settings(data_dir=tmp_path / "plain").jwt_secret is None
    demo = Settings(demo=True, data_dir=tmp_path / "demo")
    made = tmp_path / "demo" / "secrets" / "jwt_secret"
    assert demo.jwt_secret == made.read_text() and len(demo.jwt_secret) >= 32
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o600
    assert Settings(demo=True, data_dir=tmp_path / "demo").jwt_secret == demo.jwt_secret, "kept across restarts"
    assert Settings(demo=True, data_dir=tmp_path / "other").jwt_secret != demo.jwt_secret


def test_docker_compose_requires_a_secret():
    from tests.conftest import ROOT

    compose = (ROOT / "docker-compose.yml").read_text()
    for variable in ("CIM_JWT_SECRET", "CIM_FIELD_KEY", "CIM_PII_KEY", "CIM_DB_PASSWORD"):
        assert "${" + variable + ":?" in compose
    assert "change-me" not in compose and ":-cim}" not in compose


def test_every_token_carries_a_short_expiry(client, new_user):
    username, password = new_user()
    pair = login(client, username, password)
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    lifetime = claims["exp"] - claims["iat"]
    assert lifetime == get_settings().access_token_minutes * 60 == pair["expires_in"]
    assert Settings.model_fields["access_token_minutes"].default <= 15  # the product's, short


def _sign(claims: dict) -> str:
    return jwt.encode(claims, get_settings().jwt_secret)


@pytest.mark.parametrize(
    "mutation",
    [
        {"exp": None},  # no expiry
        {"sub": 12345},
        {"sub": None},
        {"ver": "0"},
        {"ver": None},
        {"typ": "refresh"},
        {"sub": "nobody-by-this-name"},
    ],
)
def test_malformed_or_foreign_claims_are_401(client, sample_city, mutation):
    now = datetime.now(UTC)
    claims = {"sub": "planner", "role": "admin", "ver": 0, "typ": "access", "iat": now, "exp": now + timedelta(hours=1)}
    for key, value in mutation.items():
        if value is None:
            claims.pop(key)
        else:
            claims[key] = value
    status, body = _me(client, bearer(_sign(claims)))
    assert status == 401 and body["detail"]
    assert _me(client, {"Authorization": "Bearer not.a.jwt"})[0] == 401


def test_a_disabled_or_demoted_users_token_stops_at_the_next_request(client, new_user, admin_headers):
    username, password = new_user("engineer")
    token = login(client, username, password)["access_token"]
    assert _me(client, bearer(token)) == (200, {**_me(client, bearer(token))[1], "role": "engineer"})
    demoted = client.patch(f"{API}/admin/users/{username}", json={"role": "planner"}, headers=admin_headers)
    assert demoted.status_code == 200 and demoted.json()["role"] == "planner"
    assert _me(client, bearer(token))[0] == 401
    token = login(client, username, password)["access_token"]
    assert _me(client, bearer(token))[1]["role"] == "planner"
    assert client.patch(f"{API}/admin/users/{username}", json={"active": False}, headers=admin_headers).is_success
    assert _me(client, bearer(token))[0] == 401
    refused = client.post(f"{API}/auth/token", data={"username": username, "password": password})
    assert refused.status_code == 401


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_family(client, new_user):
    username, password = new_user()
    first = login(client, username, password)
    second = client.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    assert _me(client, bearer(second.json()["access_token"]))[1]["username"] == username
    replay = client.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    # The family is gone: the successor no longer works either.
    assert client.post(f"{API}/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}).status_code == 401


def test_logout_and_password_change_revoke(client, new_user, rows):
    username, password = new_user()
    pair = login(client, username, password)
    assert client.post(f"{API}/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
    assert _me(client, bearer(pair["access_token"]))[0] == 401
    assert client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert rows("SELECT count(*) AS n FROM refresh_token WHERE username = :u", u=username)[0]["n"] == 0

    pair = login(client, username, password)
    headers = bearer(pair["access_token"])
    weak = client.post(
        f"{API}/auth/password", json={"old_password": password, "new_password": "short"}, headers=headers
    )
    assert weak.status_code == 422 and "12 to 1024" in weak.json()["detail"]
    new = "Another-long-pass-42"
    changed = client.post(f"{API}/auth/password", json={"old_password": password, "new_password": new}, headers=headers)
    assert changed.status_code == 204
    assert _me(client, headers)[0] == 401
    assert client.post(f"{API}/auth/token", data={"username": username, "password": password}).status_code == 401
    assert login(client, username, new)["role"] == "planner"


def test_api_keys_with_scopes(client, admin_headers, role_headers, rows):
    denied = client.post(
        f"{API}/admin/api-keys", json={"name": "x", "role": "planner"}, headers=role_headers["planner"]
    )
    assert denied.status_code == 403
    created = client.post(
        f"{API}/admin/api-keys",
        json={"name": "gis-sync", "role": "engineer", "scopes": ["read"]},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    stored = rows("SELECT secret_hash FROM api_key WHERE prefix = :p", p=created.json()["prefix"])[0]["secret_hash"]
    assert key.split(".", 1)[1] not in stored and len(stored) == 64
    me = client.get(PROTECTED, headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json() == {
        "username": "key:gis-sync",
        "role": "engineer",
        "sees_personal_data": False,
        "districts": None,
    }
    write = client.post(f"{API}/tiles/buildings/build", headers={"X-API-Key": key})
    assert write.status_code == 403 and "may only read" in write.json()["detail"]
    wrong = key[:-3] + ("aaa" if not key.endswith("aaa") else "bbb")
    assert client.get(PROTECTED, headers={"X-API-Key": wrong}).status_code == 401
    assert client.delete(f"{API}/admin/api-keys/{created.json()['prefix']}", headers=admin_headers).status_code == 204
    assert client.get(PROTECTED, headers={"X-API-Key": key}).status_code == 401
    assert (
        client.post(
            f"{API}/admin/api-keys", json={"name": "y", "role": "planner", "scopes": ["root"]}, headers=admin_headers
        ).status_code
        == 422
    )


def test_admin_user_api_refuses_weak_passwords_and_unknown_roles(client, admin_headers):
    for body, fragment in (
        ({"username": "weakling", "password": "alllowercaseletters", "role": "planner"}, "three kinds"),
        ({"username": "weakling", "password": "Weakling-pass-123", "role": "planner"}, "username"),
        ({"username": "weakling", "password": STRONG, "role": "superuser"}, "unknown role"),
        ({"username": "../x", "password": STRONG, "role": "planner"}, "username is"),
    ):
        response = client.post(f"{API}/admin/users", json=body, headers=admin_headers)
        assert response.status_code == 422 and fragment in response.json()["detail"], response.text


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("field_key", None, "CIM_FIELD_KEY"),
        ("pii_key", "change-me-in-production-cim-pii", "published default"),
        ("field_key", "short-key", "needs at least 32"),
    ],
)
def test_the_server_refuses_to_start_without_strong_personal_data_keys(database, monkeypatch, key, value, message):
    from spatial_api.app import create_app

    monkeypatch.setattr(get_settings(), key, value)
    with pytest.raises(InsecureConfiguration, match=message):
        create_app()


def test_the_viewer_refreshes_its_session_and_ends_it_when_refused(live_server):
    import json
    import subprocess

    from tests.conftest import ROOT

    proc = subprocess.run(
        ["node", str(ROOT / "tests" / "e2e" / "refresh.mjs"), live_server],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["refreshed"] == {
        "me": {"username": "planner", "role": "planner", "sees_personal_data": False, "districts": None},
        "new_refresh": True,
    }
    assert answer["ended"] == {"status": 401, "token": None, "refresh": None}
