"""Personal-data helpers for tests, written from the standards (not from core.privacy): the keyed
hash of an ID number (HMAC-SHA256) and the opening of an AES-256-GCM field (nonce + ciphertext, base64)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.settings import get_settings


def id_hash(number: str) -> str:
    return hmac.new(get_settings().pii_key.encode(), number.upper().encode(), hashlib.sha256).hexdigest()


def open_field(token: str) -> str:
    raw = base64.b64decode(token)
    key = hashlib.sha256(get_settings().field_key.encode()).digest()
    return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode()
