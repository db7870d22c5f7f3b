"""Authentication and role checks.

Access tokens are short-lived JWTs (``exp`` always) carrying the user's token version; every request
checks them against the user's row (active, current role, same version), kept in memory until the
database announces a change (core.user_state), so disabling, demoting, logging out or changing the
password takes effect on the next request. Other
systems use API keys (``X-API-Key``) with scopes. No credentials means the ``public`` role; a bad,
expired or revoked credential is a 401, a role without access a 403.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy import text

from core.db import read_engine
from core.settings import get_settings
from core.user_state import user_state

ROLE_PUBLIC = "public"
# Roles that may see personal data (ID numbers, phones) unmasked.
PERSONAL_DATA_ROLES = frozenset({"admin", "emergency"})
# What an API key may be allowed: reading (GET/HEAD) and writing (every other method).
SCOPES = ("read", "write")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALGORITHM = "HS256"
API_KEY_PREFIX = "cim_"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


@dataclass(frozen=True)
class Principal:
    username: str | None
    role: str
    districts: tuple[str, ...] | None = None
    # An API key's scopes; None for a person's session.
    scopes: frozenset[str] | None = None

    @property
    def sees_personal_data(self) -> bool:
        return self.role in PERSONAL_DATA_ROLES


ANONYMOUS = Principal(None, ROLE_PUBLIC)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue_token(username: str, role: str, token_version: int) -> str:
    """A signed access token for ``access_token_minutes``."""
    settings = get_settings()
    now = datetime.now(UTC)
    claims = {
        "sub": username,
        "role": role,
        "ver": token_version,
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(minutes=settings.access_token_minutes),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret or "", algorithm=ALGORITHM)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _claims(token: str) -> tuple[str, int]:
    """The token's user and version, or a 401 for anything else (bad signature, no exp, wrong types)."""
    try:
        claims = jwt.decode(
            token,
            get_settings().jwt_secret or "",
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "ver", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise unauthorized("the token has expired: refresh it or log in again") from exc
    except jwt.PyJWTError as exc:
        raise unauthorized("the token is not valid: log in again") from exc
    sub, version = claims.get("sub"), claims.get("ver")
    if claims.get("typ") != "access" or not isinstance(sub, str) or type(version) is not int:
        raise unauthorized("the token is not an access token of this server: log in again")
    return sub, version


KEY_STATE = text("SELECT secret_hash, name, role, scopes, active FROM api_key WHERE prefix = :p")


def _user_principal(token: str) -> Principal:
    username, version = _claims(token)
    row = user_state(username)
    if row is None or not row.active:
        raise unauthorized("this account does not exist or is disabled")
    if row.token_version != version:
        raise unauthorized("the session has ended (logout, password or role change): log in again")
    return Principal(username, row.role, tuple(row.districts) if row.districts is not None else None)


def _key_principal(key: str, method: str) -> Principal:
    prefix, _, secret = key.removeprefix(API_KEY_PREFIX).partition(".")
    if not key.startswith(API_KEY_PREFIX) or not prefix or not secret:
        raise unauthorized("the API key is not valid")
    with read_engine().connect() as conn:
        row = conn.execute(KEY_STATE, {"p": prefix}).first()
    if row is None or not row.active or not hmac.compare_digest(row.secret_hash, sha256_hex(secret)):
        raise unauthorized("the API key is not valid or has been revoked")
    scopes = frozenset(row.scopes)
    if method not in READ_METHODS and "write" not in scopes:
        raise HTTPException(403, f"API key {row.name!r} may only read (scopes: {', '.join(sorted(scopes))})")
    return Principal(f"key:{row.name}", row.role, None, scopes)


async def current_principal(
    request: Request,
    token: str | None = Depends(oauth2_scheme),
    api_key: str | None = Depends(api_key_scheme),
) -> Principal:
    """The caller: anonymous (public) without credentials, else the user or API key behind them, as the
    database has them now. The lookup runs in the thread pool, not on the event loop; a caller without
    credentials is answered at once (a sync dependency cost every request a hand-over to the pool)."""
    if api_key is not None:
        principal = await run_in_threadpool(_key_principal, api_key, request.method)
    elif token is not None:
        principal = await run_in_threadpool(_user_principal, token)
    else:
        return ANONYMOUS
    request.state.principal = principal
    return principal


def require_role(*roles: str):
    """A dependency that lets through the given roles (and admin)."""
    allowed = frozenset(roles) | {"admin"}

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role in allowed:
            return principal
        if principal.username is None:
            raise unauthorized(f"log in with one of the roles: {', '.join(sorted(allowed))}")
        raise HTTPException(403, f"role {principal.role!r} may not do this; needs one of {sorted(allowed)}")

    return check


def is_public(layer: str) -> bool:
    """Whether anonymous callers may read the layer (``public_layers``: its names, or ``*`` for all)."""
    public = get_settings().public_layers
    return "*" in public or layer in public


async def readable_layer(request: Request, principal: Principal = Depends(current_principal)) -> Principal:
    """For routes with a ``collection_id`` or ``layer`` path parameter: anonymous callers reach only the
    layers configured public (``public_layers``); everyone logged in reaches all."""
    layer = request.path_params.get("collection_id") or request.path_params.get("layer")
    if principal.username is None and layer is not None and not is_public(layer):
        raise unauthorized(f"layer {layer!r} is not public: log in to read it")
    return principal
