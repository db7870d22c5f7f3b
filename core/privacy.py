"""Personal data rules shared by every package: password hashes, keyed hashes of ID numbers (exact
look-up without storing them), field encryption at rest (AES-GCM) and the masked forms that roles
without personal-data rights see."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

import bcrypt
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import UserError
from core.settings import get_settings

NONCE_BYTES = 12

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


def _key(name: str) -> str:
    """A personal-data key from the settings, or a clear error when none is configured."""
    key = getattr(get_settings(), name)
    if not key:
        raise UserError(f"no {name} configured: set CIM_{name.upper()} (or CIM_{name.upper()}_FILE)")
    return key


def hash_id_number(number: str) -> str:
    """HMAC-SHA256 (key: settings ``pii_key``) of an ID number, upper-cased without spaces, as hex."""
    return hmac.digest(_key("pii_key").encode(), number.strip().upper().encode(), "sha256").hex()


@lru_cache(maxsize=4)
def _cipher(key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(key.encode()).digest())


def encrypt_field(value: str | None) -> str | None:
    """AES-256-GCM of a personal field (key: settings ``field_key``), base64 of nonce + ciphertext.

    The nonce is derived from the value (HMAC-SHA256 under the key, as in SIV): the same value always
    seals to the same text, so re-importing a file changes nothing, and a nonce is only ever reused
    with its own plaintext, which GCM allows; the cost is that equal values are seen to be equal."""
    if value is None:
        return None
    key = _key("field_key")
    nonce = hmac.digest(key.encode(), value.encode(), "sha256")[:NONCE_BYTES]
    sealed = _cipher(key).encrypt(nonce, value.encode(), None)
    return base64.b64encode(nonce + sealed).decode()


def decrypt_field(token: str | None) -> str | None:
    """The plain value of :func:`encrypt_field`'s output; a wrong key or a damaged value is a UserError."""
    if token is None:
        return None
    raw = base64.b64decode(token)
    try:
        return _cipher(_key("field_key")).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
    except Exception as exc:  # cryptography raises InvalidTag without a message
        raise UserError("an encrypted field does not open with the configured CIM_FIELD_KEY") from exc


def mask_id_card(number: str) -> str:
    """Keep the region's first 6 and the last 4 characters: 320402********1234."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:] if len(number) > 10 else "*" * len(number)


def mask_phone(phone: str | None) -> str | None:
    """138****5678."""
    if not phone:
        return phone
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


def mask_name(name: str | None) -> str | None:
    """张*明: the first character and, for names of three or more, the last; the rest starred."""
    if not name:
        return name
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
