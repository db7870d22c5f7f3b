"""Single sign-on from the viewer, in Debian's Chromium (playwright-core): the login dialog shows the
"统一身份认证登录" button only when the server has an identity provider (GET /auth/oidc says), and the
button runs the authorization-code flow against the provider of tests/oidc_provider.py, started here,
and brings the browser back to the viewer signed in with the role the provider's claims map to."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
from fastapi.testclient import TestClient

from spatial_api.local_server import free_port, uvicorn_server
from tests.conftest import ROOT
from tests.fixtures_security import API, oidc_provider

USERS = {"bob": {"password": "bob-at-the-idp", "roles": ["staff", "cim-emergency"]}}
ROLE_MAP = {"cim-admins": "admin", "cim-emergency": "emergency"}


def test_sso_button_signs_in_through_the_provider(database, sample_city, e2e_tools, security_app, rows):
    assert TestClient(security_app).get(f"{API}/auth/oidc").json() == {"enabled": False, "login_url": None}
    provider_port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database.url.render_as_string(hide_password=False),
        "CIM_OIDC_ISSUER": f"http://127.0.0.1:{provider_port}",
        "CIM_OIDC_CLIENT_ID": "cim-viewer",
        "CIM_OIDC_CLIENT_SECRET": "cim-viewer-secret",
        "CIM_OIDC_ROLE_MAP": json.dumps(ROLE_MAP),
    }
    with uvicorn_server(env) as base:
        sso = httpx.get(f"{base}{API}/auth/oidc").json()
        assert sso == {"enabled": True, "login_url": f"{API}/auth/oidc/login?to=viewer"}
        callback = f"{base}{API}/auth/oidc/callback"
        with oidc_provider(provider_port, "cim-viewer", "cim-viewer-secret", callback, USERS):
            spec = {"url": f"{base}/", "user": ["bob", USERS["bob"]["password"]], "role": "emergency"}
            done = subprocess.run(
                ["node", str(ROOT / "tests" / "e2e" / "sso.mjs"), json.dumps(spec)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=240,
            )
    assert done.returncode == 0, done.stderr[-2000:]
    page = json.loads(done.stdout)
    steps = page["steps"]
    assert all("error" not in step for step in steps.values()), steps
    assert page["outside"] == [], page["outside"]
    assert steps["dialog"]["button"] == "统一身份认证登录" and steps["english"]["button"] == "Sign in with SSO"
    assert steps["provider"] == {"provider_port": str(provider_port), "provider_path": "/authorize"}
    signed = steps["signed_in"]
    assert signed["badge"] == "sso.bob (emergency)" and signed["login_button"] == "退出"
    assert signed["me"]["username"] == "sso.bob" and signed["me"]["role"] == "emergency"
    assert "#" not in signed["address"] and "token" not in signed["address"]  # the pair left the address
    account = rows("SELECT role, active FROM app_user WHERE username = 'sso.bob'")
    assert account == [{"role": "emergency", "active": True}]
    logged = rows("SELECT result FROM audit_log WHERE action = 'login.sso' AND username = 'sso.bob'")
    assert [row["result"] for row in logged] == ["ok"]
