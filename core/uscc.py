"""Unified social credit codes (统一社会信用代码, GB 32100-2015): 18 characters, the last a
check character computed modulo 31 over the first 17."""

from __future__ import annotations

import re
from operator import mul

from core.errors import UserError

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUES = {ch: i for i, ch in enumerate(CHARSET)}
PATTERN = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


class InvalidUSCC(UserError):
    """Not a well-formed USCC, or its check character is wrong."""


def check_character(first17: str) -> str:
    """The check character for the first 17 characters of a code."""
    if len(first17) != len(WEIGHTS):
        raise ValueError("the check character needs exactly 17 characters")
    total = sum(map(mul, map(_VALUES.__getitem__, first17), WEIGHTS))
    return CHARSET[(31 - total % 31) % 31]


def validate(code: str) -> str:
    """Return the code upper-cased, or raise InvalidUSCC saying what is wrong."""
    normalized = code.strip().upper()
    if not PATTERN.match(normalized):
        raise InvalidUSCC(f"{code!r} is not a unified social credit code (18 characters, GB 32100-2015)")
    expected = check_character(normalized[:17])
    if normalized[17] != expected:
        raise InvalidUSCC(f"{code!r} has check character {normalized[17]!r}; GB 32100-2015 gives {expected!r}")
    return normalized


def is_valid(code: str) -> bool:
    try:
        validate(code)
    except InvalidUSCC:
        return False
    return True
