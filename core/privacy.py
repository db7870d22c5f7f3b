"""Personal data rules shared by every package: password hashes, field encryption at rest (AES-GCM)
with a keyed hash for exact lookup, and the masked forms of ID numbers and phones that roles without
personal-data rights see."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

import bcrypt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.secrets import InsecureConfiguration
from core.settings import get_settings

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


# Encrypted fields are "v1:" + base64url(12-byte nonce + AES-256-GCM ciphertext and tag).
FIELD_PREFIX = "v1:"
NONCE_BYTES = 12


def _key(value: str | None, name: str) -> bytes:
    """A 256-bit key from its base64 (url-safe or standard) setting."""
    if not value:
        raise InsecureConfiguration(
            f"no {name}: set CIM_{name.upper()} (or CIM_{name.upper()}_FILE) to 32 random bytes in base64, e.g. "
            "`python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`"
        )
    try:
        key = base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
    except ValueError as exc:
        raise InsecureConfiguration(f"{name} is not base64") from exc
    if len(key) != 32:
        raise InsecureConfiguration(f"{name} must be 32 bytes (base64 of 32 random bytes), not {len(key)}")
    return key


@lru_cache(maxsize=4)
def _cipher(value: str | None) -> AESGCM:
    return AESGCM(_key(value, "field_key"))


def encrypt_field(plain: str | None) -> str | None:
    """A sensitive value (a phone) encrypted for storage; a new nonce each time, so equal values differ
    (look them up with ``id_hash``)."""
    if plain is None:
        return None
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(get_settings().field_key).encrypt(nonce, plain.encode(), None)
    return FIELD_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_field(token: str | None) -> str | None:
    """The plain value of ``encrypt_field``'s output; a changed or foreign token raises ValueError."""
    if token is None:
        return None
    if not token.startswith(FIELD_PREFIX):
        raise ValueError("not an encrypted field")
    raw = base64.urlsafe_b64decode(token[len(FIELD_PREFIX) :])
    try:
        return _cipher(get_settings().field_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
    except InvalidTag as exc:
        raise ValueError("the encrypted field was changed or made with another key") from exc


def id_hash(number: str) -> str:
    """The keyed hash (HMAC-SHA256, hex) of an ID number or phone, for exact lookup without the plain value."""
    return hmac.new(
        _key(get_settings().pii_key, "pii_key"), number.strip().upper().encode(), hashlib.sha256
    ).hexdigest()
