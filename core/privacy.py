"""Personal data rules shared by every package: password hashes and the masked forms of ID numbers
and phones that roles without personal-data rights see."""

from __future__ import annotations

import base64
import hashlib

import bcrypt

# bcrypt reads at most 72 bytes: passwords are first reduced to their SHA-256 (44 base64 characters),
# marked by this prefix; hashes without it (made before) are plain bcrypt of passwords up to 72 bytes.
PREHASHED = "sha256$"
BCRYPT_LIMIT = 72


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password(password: str) -> str:
    """bcrypt (cost 10) of the password's SHA-256, so that every length counts in full."""
    return PREHASHED + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=10)).decode()


def verify_password(password: str, hashed: str) -> bool:
    """Whether the password matches the stored hash (either form); never raises on long input."""
    if hashed.startswith(PREHASHED):
        return bcrypt.checkpw(_prehash(password), hashed[len(PREHASHED) :].encode())
    raw = password.encode()
    return len(raw) <= BCRYPT_LIMIT and bcrypt.checkpw(raw, hashed.encode())


def mask_id_card(number: str) -> str:
    """Keep the region's first 6 and the last 4 characters: 320402********1234."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:] if len(number) > 10 else "*" * len(number)


def mask_phone(phone: str | None) -> str | None:
    """138****5678."""
    if not phone:
        return phone
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else "*" * len(phone)
