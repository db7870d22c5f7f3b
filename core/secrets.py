"""Secrets the server needs (the token signing key): read from the environment or a file, generated
for the demo and the tests, and refused at start-up when they are the old default or too short."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from core.errors import UserError

# Values that shipped as defaults once (settings, docker-compose): anyone can sign tokens with them.
KNOWN_DEFAULTS = frozenset({"change-me-in-production-cim-server", "change-me-in-production"})
MIN_SECRET_CHARS = 32


class InsecureConfiguration(UserError):
    """The server must not start with this configuration; the message says what to set."""


def generated(directory: Path, name: str) -> Path:
    """``directory/secrets/name``: a random secret (created once, mode 0600); its path."""
    path = directory / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            # 32 random bytes in base64 (url-safe): a JWT key of 43 characters, an AES-256 or HMAC key.
            out.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))
    return path


def read_file(path: Path, name: str) -> str:
    """A secret kept in a file (docker/systemd secrets), stripped of its trailing newline."""
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise InsecureConfiguration(f"cannot read {name} from {path}: {exc.strerror}") from exc


def check_jwt_secret(secret: str | None) -> None:
    """Refuse a missing, default or short signing key (anyone could forge an admin token)."""
    if not secret:
        raise InsecureConfiguration(
            "no token signing key: set CIM_JWT_SECRET (at least 32 random characters, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`) or CIM_JWT_SECRET_FILE, "
            "or run `cim demo`, which makes its own"
        )
    if secret in KNOWN_DEFAULTS:
        raise InsecureConfiguration(
            "CIM_JWT_SECRET is the published default, with which anyone can forge an admin token: "
            "set a random one of at least 32 characters"
        )
    if len(secret) < MIN_SECRET_CHARS:
        raise InsecureConfiguration(
            f"CIM_JWT_SECRET has {len(secret)} characters; it needs at least {MIN_SECRET_CHARS} random ones"
        )
