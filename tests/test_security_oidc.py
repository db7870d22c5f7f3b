"""Single sign-on against a real OpenID Connect provider started here as a process of its own
(tests/oidc_provider.py, authlib's server components): the browser's part of the authorization-code
flow is played with httpx; the role comes from the provider's claims through the settings' map."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from core.settings import get_settings
from spatial_api.local_server import free_port
from tests.fixtures_security import API, bearer, oidc_provider

CALLBACK = f"http://testserver{API}/auth/oidc/callback"
USERS = {
    "alice": {"password": "alice-at-the-idp", "roles": ["staff", "cim-engineers"]},
    "mallory": {"password": "mallory-at-the-idp", "roles": ["visitors"]},
}


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The provider on a free port; yields its issuer URL."""
    with oidc_provider(free_port(), "cim-test", "cim-test-secret", CALLBACK, USERS) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def sso(provider, security_app) -> Iterator[str]:
    """The server set up for the provider: staff of cim-engineers are engineers, nobody else has a role."""
    settings = get_settings()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "oidc_issuer": provider,
            "oidc_client_id": "cim-test",
            "oidc_client_secret": "cim-test-secret",
            "oidc_role_claim": "roles",
            "oidc_role_map": {"cim-admins": "admin", "cim-engineers": "engineer"},
            "oidc_default_role": None,
        }.items():
            patch.setattr(settings, name, value)
        yield provider


def _sign_in(app, username: str, password: str) -> tuple[TestClient, httpx.Response]:
    """Start at our login, log in at the provider's form, come back: (our client, the callback's answer)."""
    browser = TestClient(app, follow_redirects=False)
    start = browser.get(f"{API}/auth/oidc/login")
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["code_challenge"] and asked["nonce"]
    form = httpx.get(authorize)
    assert form.status_code == 200 and "<form" in form.text
    back = httpx.post(authorize, data={"username": username, "password": password})
    assert back.status_code == 302 and back.headers["location"].startswith(CALLBACK), back.text
    return browser, browser.get(back.headers["location"].removeprefix("http://testserver"))


def test_login_maps_claims_to_a_role(sso, security_app, rows):
    browser, answer = _sign_in(security_app, "alice", USERS["alice"]["password"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["role"] == "engineer"
    me = browser.get(f"{API}/auth/me", headers=bearer(answer.json()["access_token"])).json()
    assert me["username"] == "sso.alice" and me["role"] == "engineer"
    account = rows("SELECT role, active FROM app_user WHERE username = 'sso.alice'")
    assert account == [{"role": "engineer", "active": True}]
    logged = rows("SELECT result FROM audit_log WHERE action = 'login.sso' AND username = 'sso.alice'")
    assert logged and logged[-1]["result"] == "ok"


def test_claims_without_a_mapped_role_are_refused(sso, security_app, rows):
    _, answer = _sign_in(security_app, "mallory", USERS["mallory"]["password"])
    assert answer.status_code == 403 and "no role here" in answer.json()["detail"]
    assert rows("SELECT 1 FROM app_user WHERE username = 'sso.mallory'") == []


def test_wrong_password_at_the_provider_comes_back_refused(sso, security_app):
    browser = TestClient(security_app, follow_redirects=False)
    authorize = browser.get(f"{API}/auth/oidc/login").headers["location"]
    back = httpx.post(authorize, data={"username": "alice", "password": "wrong"})
    assert back.status_code == 302 and "error=access_denied" in back.headers["location"]
    answer = browser.get(back.headers["location"].removeprefix("http://testserver"))
    assert answer.status_code == 401 and "access_denied" in answer.json()["detail"]


def test_state_from_another_browser_is_refused(sso, security_app):
    """A code delivered to a browser that did not start the login (login CSRF) gets nothing."""
    _, _ = _sign_in(security_app, "alice", USERS["alice"]["password"])
    victim = TestClient(security_app, follow_redirects=False)
    attacker = TestClient(security_app, follow_redirects=False)
    victim.get(f"{API}/auth/oidc/login")
    authorize = attacker.get(f"{API}/auth/oidc/login").headers["location"]
    back = httpx.post(authorize, data={"username": "alice", "password": USERS["alice"]["password"]})
    answer = victim.get(back.headers["location"].removeprefix("http://testserver"))
    assert answer.status_code == 401 and "state" in answer.json()["detail"]


def test_a_disabled_sso_account_cannot_sign_in(sso, security_app, client, admin_headers):
    _, first = _sign_in(security_app, "alice", USERS["alice"]["password"])
    assert first.status_code == 200
    off = client.patch(f"{API}/admin/users/sso.alice", json={"active": False}, headers=admin_headers)
    assert off.status_code == 200
    try:
        _, again = _sign_in(security_app, "alice", USERS["alice"]["password"])
        assert again.status_code == 401 and "disabled" in again.json()["detail"]
    finally:
        client.patch(f"{API}/admin/users/sso.alice", json={"active": True}, headers=admin_headers)


def test_without_a_provider_the_login_is_404(security_app, monkeypatch):
    monkeypatch.setattr(get_settings(), "oidc_issuer", None)  # the default
    assert TestClient(security_app).get(f"{API}/auth/oidc/login", follow_redirects=False).status_code == 404
