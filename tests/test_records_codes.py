"""Resident ID numbers (GB 11643-1999) and the personal-data primitives, against values worked out
here from the standards."""

from __future__ import annotations

import random

import pytest

from core import idcard
from core.privacy import decrypt_field, encrypt_field, hash_id_number, mask_name
from tests.fixtures_records import id_for
from tests.pii import id_hash, open_field

PUBLISHED = "11010519491231002X"  # the example of GB 11643-1999


def test_accepts_the_published_example_and_lower_case_x() -> None:
    assert idcard.validate(PUBLISHED.lower()) == PUBLISHED


def test_every_wrong_check_digit_is_refused_with_the_right_one() -> None:
    for wrong in "0123456789":
        with pytest.raises(idcard.InvalidIdNumber, match="GB 11643-1999 gives 'X'"):
            idcard.validate(PUBLISHED[:17] + wrong)


def test_check_character_agrees_with_the_weighted_sum_of_the_standard() -> None:
    rng = random.Random(11643)
    for _ in range(20_000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        assert idcard.check_character(first17) == id_for(first17)[17]


@pytest.mark.parametrize(
    "text", ["1101051949123100A", "1101051949123100", "1101_051949123100", "１１０１０５１９４９１２３１００２"]
)
def test_check_character_refuses_what_is_not_17_ascii_digits(text: str) -> None:
    with pytest.raises(ValueError, match="17 digits"):
        idcard.check_character(text)


@pytest.mark.parametrize("born", ["19490230", "19491301", "18991231", "29990101"])
def test_impossible_birth_dates_are_refused(born: str) -> None:
    number = id_for(f"110105{born}002")
    with pytest.raises(idcard.InvalidIdNumber, match="birth date|out of range"):
        idcard.validate(number)


@pytest.mark.parametrize("text", ["", "1101051949123100", "11010519491231002Y", "A1010519491231002X"])
def test_malformed_numbers_are_refused(text: str) -> None:
    with pytest.raises(idcard.InvalidIdNumber, match="18-character"):
        idcard.validate(text)


def test_keyed_hash_and_field_encryption_agree_with_the_standards() -> None:
    assert hash_id_number(" " + PUBLISHED.lower()) == id_hash(PUBLISHED)
    sealed = encrypt_field("13912345678")
    assert open_field(sealed) == decrypt_field(sealed) == "13912345678"
    assert encrypt_field("13912345678") == sealed and encrypt_field("13912345679") != sealed
    assert (mask_name("张三"), mask_name("欧阳娜娜")) == ("张*", "欧**娜")
