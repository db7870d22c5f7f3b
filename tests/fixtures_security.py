"""Test fixtures for the security tests (loaded by tests/conftest.py): an app client per fake client
address (so lockouts stay out of other tests), throw-away users made through the admin API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from spatial_api.local_server import answers, await_ready, stop
from tests.conftest import ROOT

API = "/api/v1"
STRONG = "Correct-horse-9-battery"


@pytest.fixture(scope="session")
def security_app(database, sample_city):
    """The app without its lifespan (no queue worker): enough for auth and admin."""
    from spatial_api.app import create_app

    return create_app()


@pytest.fixture(scope="session")
def client_at(security_app) -> Callable[[str], TestClient]:
    """``client_at("10.0.0.7")``: a client whose requests come from that peer address."""
    return lambda address: TestClient(security_app, client=(address, 40000))


@pytest.fixture(scope="session")
def admin_headers(client, role_headers) -> dict[str, str]:
    return role_headers["admin"]


@pytest.fixture(scope="session")
def new_user(client, admin_headers) -> Callable[..., tuple[str, str]]:
    """``new_user(role="planner")``: a fresh user created through the admin API; (username, password)."""

    def make(role: str = "planner", districts: list[str] | None = None) -> tuple[str, str]:
        username = f"u{uuid.uuid4().hex[:10]}"
        body = {"username": username, "password": STRONG, "role": role, "districts": districts}
        response = client.post(f"{API}/admin/users", json=body, headers=admin_headers)
        assert response.status_code == 201, response.text
        return username, STRONG

    return make


def login(client: TestClient, username: str, password: str) -> dict:
    response = client.post(f"{API}/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def oidc_provider(port: int, client_id: str, secret: str, callback: str, users: dict) -> Iterator[str]:
    """The OpenID Connect provider of tests/oidc_provider.py as a process on ``port`` for one client;
    yields its issuer URL once it answers."""
    env = {**os.environ, "AUTHLIB_INSECURE_TRANSPORT": "1"}  # plain HTTP on loopback, for the test only
    args = [sys.executable, "-m", "tests.oidc_provider", str(port), client_id, secret, callback, json.dumps(users)]
    process = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    issuer = f"http://127.0.0.1:{port}"
    try:
        ready = answers(f"{issuer}/.well-known/openid-configuration")
        await_ready(process, ready, 30, lambda: process.communicate(timeout=10)[1].decode())
        yield issuer
    finally:
        stop(process)
