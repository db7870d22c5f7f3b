"""GB 32100-2015 check characters on real published codes."""

import pytest

from core.uscc import InvalidUSCC, check_character, is_valid, validate

# Codes of well-known enterprises as printed on their business licences.
REAL_CODES = ["914403001922038216", "91330100799655058B", "9144030071526726XG", "91110000802100433B"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_accepts_real_codes(code: str) -> None:
    assert validate(code.lower()) == code


@pytest.mark.parametrize("code", REAL_CODES)
def test_rejects_every_wrong_check_character(code: str) -> None:
    wrong = [c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != code[-1]]
    assert not any(is_valid(code[:17] + c) for c in wrong)
    with pytest.raises(InvalidUSCC, match="check character"):
        validate(code[:17] + wrong[0])


@pytest.mark.parametrize("bad", ["", "91320400137165946", "9132040013716594IO", "91320400137165946PX", "ABCDEFGH"])
def test_rejects_malformed(bad: str) -> None:
    with pytest.raises(InvalidUSCC, match="not a unified social credit code"):
        validate(bad)


def test_check_character_round_trip() -> None:
    assert check_character("91320400137165946") + "" in "0123456789ABCDEFGHJKLMNPQRTUWXY"
    assert is_valid("91320400137165946" + check_character("91320400137165946"))
