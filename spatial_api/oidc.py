"""OpenID Connect single sign-on, the client side (authlib): authorization-code flow with PKCE (S256)
and a nonce against the provider ``oidc_issuer`` names, found through its discovery document.

The login keeps its state, PKCE verifier and nonce in a short-lived cookie signed with the server's
token key (no server-side session). The callback exchanges the code, checks the ID token (signature by
the provider's JWKS, issuer, audience, expiry, nonce), and maps it to a local account: the username is
``oidc_username_prefix`` + ``preferred_username`` (or ``sub``), the role the first of
``oidc_role_map`` whose key the ``oidc_role_claim`` claim holds (else ``oidc_default_role``, else
refused). The account row is what every later request is checked against, so an admin can disable it;
a role that changed at the provider ends the account's earlier sessions.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from fastapi import HTTPException
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from core import sessions
from core.errors import UserError
from core.models import User
from core.privacy import hash_password
from core.settings import Settings, get_settings, on_configure
from spatial_api.security import ALGORITHM, unauthorized

COOKIE = "cim_oidc"
COOKIE_SECONDS = 600
TIMEOUT_S = 10
ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "PS256"]
NAME = re.compile(r"[^A-Za-z0-9_.@-]")


class ProviderUnavailable(UserError):
    status_code = 503


@dataclass(frozen=True)
class Identity:
    username: str
    role: str
    claims: dict[str, Any]


def configured(settings: Settings) -> Settings:
    if not (settings.oidc_issuer and settings.oidc_client_id):
        raise HTTPException(404, "single sign-on is not configured (CIM_OIDC_ISSUER, CIM_OIDC_CLIENT_ID)")
    return settings


@lru_cache(maxsize=4)
def _discovery(issuer: str) -> dict[str, Any]:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=TIMEOUT_S)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(
            f"the identity provider at {issuer} does not answer ({exc}); try again later"
        ) from exc
    if document.get("issuer") != issuer:
        raise ProviderUnavailable(f"the identity provider calls itself {document.get('issuer')!r}, not {issuer!r}")
    return document


on_configure(_discovery.cache_clear)  # another provider, maybe


def _keys(issuer: str) -> KeySet:
    try:
        response = requests.get(_discovery(issuer)["jwks_uri"], timeout=TIMEOUT_S)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise ProviderUnavailable(f"the identity provider's keys cannot be read ({exc})") from exc


def _client(settings: Settings, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        settings.oidc_client_id,
        settings.oidc_client_secret,
        scope=settings.oidc_scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if settings.oidc_client_secret else "none",
    )


def start(settings: Settings, redirect_uri: str, viewer: bool = False) -> tuple[str, str]:
    """The provider's authorization URL to send the browser to, and the signed cookie to set (which
    remembers whether the viewer began the login, to be sent back to it)."""
    verifier, nonce = generate_token(64), secrets.token_urlsafe(24)
    url, state = _client(settings, redirect_uri).create_authorization_url(
        _discovery(settings.oidc_issuer or "")["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    cookie = {
        "typ": "oidc",
        "state": state,
        "verifier": verifier,
        "nonce": nonce,
        "viewer": viewer,
        "exp": time.time() + COOKIE_SECONDS,
    }
    return url, jwt.encode(cookie, settings.jwt_secret or "", algorithm=ALGORITHM)


def _pending(settings: Settings, cookie: str | None) -> dict[str, Any]:
    try:
        return dict(jwt.decode(cookie or "", settings.jwt_secret or "", algorithms=[ALGORITHM]))
    except jwt.PyJWTError as exc:
        raise unauthorized("the single sign-on began elsewhere or too long ago: start it again") from exc


def for_viewer(settings: Settings, cookie: str | None) -> bool:
    """Whether the viewer began this login (the cookie :func:`finish` accepted)."""
    return _pending(settings, cookie).get("viewer") is True


def finish(settings: Settings, redirect_uri: str, cookie: str | None, code: str, state: str) -> dict[str, Any]:
    """The ID token's claims after the code exchange; a 401 for anything not right."""
    pending = _pending(settings, cookie)
    if pending.get("typ") != "oidc" or not secrets.compare_digest(str(pending.get("state")), state):
        raise unauthorized("the single sign-on's state does not match: start it again")
    issuer = settings.oidc_issuer or ""
    try:
        token = _client(settings, redirect_uri).fetch_token(
            _discovery(issuer)["token_endpoint"], code=code, code_verifier=pending["verifier"], timeout=TIMEOUT_S
        )
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"the identity provider does not answer ({exc}); try again later") from exc
    except Exception as exc:  # noqa: BLE001 - authlib raises the provider's OAuth error as its own classes
        raise unauthorized(f"the identity provider refused the login ({exc})") from exc
    if "id_token" not in token:
        raise unauthorized("the identity provider sent no ID token: ask for the openid scope")
    try:
        decoded = jose_jwt.decode(token["id_token"], _keys(issuer), algorithms=ID_TOKEN_ALGORITHMS)
        claims = jose_jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": settings.oidc_client_id or ""},
            nonce={"essential": True, "value": pending["nonce"]},
            exp={"essential": True},
            sub={"essential": True},
        )
        claims.validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise unauthorized(f"the ID token is not valid ({exc}): start the single sign-on again") from exc
    return dict(decoded.claims)


def identity(settings: Settings, claims: dict[str, Any]) -> Identity:
    """The local username and the role the claims map to (403 when they map to none)."""
    held = claims.get(settings.oidc_role_claim)
    values = {held} if isinstance(held, str) else set(held) if isinstance(held, list) else set()
    role = next((role for value, role in settings.oidc_role_map.items() if value in values), settings.oidc_default_role)
    if role is None:
        raise HTTPException(
            403, f"your account at the identity provider has no role here (claim {settings.oidc_role_claim!r})"
        )
    name = NAME.sub("_", str(claims.get("preferred_username") or claims["sub"]))
    return Identity((settings.oidc_username_prefix + name)[:64], role, claims)


def account(session: Session, who: Identity) -> User:
    """The local account of a single sign-on identity: made on first login, its role kept as the
    provider says (a change ends earlier sessions); refused when an admin disabled it."""
    user = session.get(User, who.username)
    if user is None:
        user = User(
            username=who.username,
            password_hash=hash_password(secrets.token_urlsafe(32)),  # no password login for this account
            role=who.role,
            active=True,
            token_version=0,
        )
        session.add(user)
        session.flush()
        return user
    if not user.active:
        raise unauthorized("this account is disabled")
    if user.role != who.role:
        user.role = who.role
        session.flush()
        sessions.revoke_all(session, user)
    return user


def settings_now() -> Settings:
    return configured(get_settings())
