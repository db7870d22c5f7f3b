"""Authentication (OAuth2 password flow with JWT, bcrypt password hashes) and role checks.

No token means the ``public`` role; a bad or expired token is a 401, a role without access a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer

from core.settings import get_settings

ROLE_PUBLIC = "public"
# Roles that may see personal data (ID numbers, phones) unmasked.
PERSONAL_DATA_ROLES = frozenset({"admin", "emergency"})

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@dataclass(frozen=True)
class Principal:
    username: str | None
    role: str

    @property
    def sees_personal_data(self) -> bool:
        return self.role in PERSONAL_DATA_ROLES


ANONYMOUS = Principal(None, ROLE_PUBLIC)


def issue_token(username: str, role: str) -> str:
    settings = get_settings()
    expires = datetime.now(UTC) + timedelta(minutes=settings.jwt_minutes)
    return jwt.encode({"sub": username, "role": role, "exp": expires}, settings.jwt_secret, algorithm="HS256")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(token: str | None = Depends(oauth2_scheme)) -> Principal:
    """The caller: anonymous (public) without a token, else the token's user and role (async: it
    only decodes the token, so it runs on the event loop instead of taking a worker thread)."""
    if token is None:
        return ANONYMOUS
    try:
        claims = jwt.decode(token, get_settings().jwt_secret, algorithms=["HS256"])
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("the token has expired: log in again") from exc
    except jwt.PyJWTError as exc:
        raise _unauthorized("the token is not valid: log in again") from exc
    return Principal(claims["sub"], claims["role"])


def require_role(*roles: str):
    """A dependency that lets through the given roles (and admin)."""
    allowed = frozenset(roles) | {"admin"}

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role in allowed:
            return principal
        if principal.username is None:
            raise _unauthorized(f"log in with one of the roles: {', '.join(sorted(allowed))}")
        raise HTTPException(403, f"role {principal.role!r} may not do this; needs one of {sorted(allowed)}")

    return check
