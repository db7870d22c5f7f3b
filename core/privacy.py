"""Personal data rules shared by every package: password hashes and the masked forms of ID numbers
and phones that roles without personal-data rights see."""

from __future__ import annotations

import hashlib
import hmac

import bcrypt

from core.settings import get_settings


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def verify_password(password: str, hashed: str) -> bool:
    return bcrypt.checkpw(password.encode(), hashed.encode())


def hash_id_number(number: str) -> str:
    """The keyed hash (HMAC-SHA256, key ``pii_key``, hex) of an ID number, upper-case without spaces:
    what is stored and looked up instead of the number."""
    key = get_settings().pii_key.encode()
    return hmac.new(key, number.strip().upper().encode(), hashlib.sha256).hexdigest()


def mask_name(name: str | None) -> str | None:
    """张*明: the first character and, for names of three or more, the last; the rest starred."""
    if not name:
        return name
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_card(number: str) -> str:
    """Keep the region's first 6 and the last 4 characters: 320402********1234."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:] if len(number) > 10 else "*" * len(number)


def mask_phone(phone: str | None) -> str | None:
    """138****5678."""
    if not phone:
        return phone
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else "*" * len(phone)
