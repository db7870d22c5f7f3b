"""Secrets the server needs (the token signing key): read from the environment or a file, generated
for the demo and the tests, and refused at start-up when they are the old default or too short."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from core.errors import UserError

# Values that shipped as defaults once (settings, docker-compose): anyone could sign tokens or open
# personal data with them.
KNOWN_DEFAULTS = frozenset(
    {
        "change-me-in-production-cim-server",
        "change-me-in-production",
        "change-me-in-production-cim-pii",
        "change-me-in-production-cim-field",
    }
)
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


def check_secret(secret: str | None, variable: str) -> None:
    """Refuse a missing, default or short secret (a token key anyone could forge with, a personal-data
    key anyone could open the data with)."""
    if not secret:
        raise InsecureConfiguration(
            f"{variable} is not set: give it at least 32 random characters (e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`) or name a file in "
            f"{variable}_FILE, or run `cim demo`, which makes its own"
        )
    if secret in KNOWN_DEFAULTS:
        raise InsecureConfiguration(f"{variable} is the published default: set a random one of 32 characters or more")
    if len(secret) < MIN_SECRET_CHARS:
        raise InsecureConfiguration(f"{variable} has {len(secret)} characters; it needs at least {MIN_SECRET_CHARS}")


def check_startup(settings) -> None:
    """Every secret the server needs, checked before it serves."""
    check_secret(settings.jwt_secret, "CIM_JWT_SECRET")
    check_secret(settings.field_key, "CIM_FIELD_KEY")
    check_secret(settings.pii_key, "CIM_PII_KEY")
