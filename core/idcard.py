"""Resident identity card numbers (公民身份号码, GB 11643-1999): 6-digit region, 8-digit birth date,
3-digit sequence and a check character (ISO 7064 MOD 11-2, 'X' for 10)."""

from __future__ import annotations

import re
from datetime import date

from core.errors import UserError

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
PATTERN = re.compile(r"^\d{17}[\dX]$")
EARLIEST_BIRTH = date(1900, 1, 1)


class InvalidIdNumber(UserError):
    """Not a well-formed resident ID number: pattern, birth date or check character."""


def check_character(first17: str) -> str:
    """The check character for the first 17 digits. The weights are 2^17 ... 2^1 mod 11 and 13 is 2
    mod 11, so the weighted sum is 2 × (the digits read in base 13) mod 11: one C call, not a loop."""
    if len(first17) != len(WEIGHTS) or not (first17.isascii() and first17.isdigit()):
        raise ValueError("the check character needs exactly 17 digits")
    return CHECK[2 * int(first17, 13) % 11]


def birth_date(number: str) -> date:
    """The birth date the number carries (characters 7-14), or InvalidIdNumber."""
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber(f"{number[6:14]!r} is not a birth date (GB 11643-1999)") from exc
    if not EARLIEST_BIRTH <= born <= date.today():
        raise InvalidIdNumber(f"birth date {born} is out of range (GB 11643-1999)")
    return born


def validate(number: str) -> str:
    """Return the number upper-cased without spaces, or raise InvalidIdNumber saying what is wrong."""
    normalized = number.strip().upper()
    if not PATTERN.match(normalized):
        raise InvalidIdNumber("not an 18-character resident ID number (17 digits and a check digit, GB 11643-1999)")
    birth_date(normalized)
    expected = check_character(normalized[:17])
    if normalized[17] != expected:
        raise InvalidIdNumber(f"check digit {normalized[17]!r} is wrong; GB 11643-1999 gives {expected!r}")
    return normalized
