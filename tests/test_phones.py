"""Phone normalization: the numbers customers actually type into a Vietnamese checkout."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.phones import OLD_PREFIXES, PhoneResult, national, normalize_phone


@pytest.mark.parametrize("typed, e164", [
    # Real inputs from a shop's orders.
    ("0912 345 678", "+84912345678"),
    ("+84 912345678", "+84912345678"),
    ("84912345678", "+84912345678"),
    ("0912.345.678", "+84912345678"),
    ("(+84) 098-765-4321", "+84987654321"),
    ("01689123456", "+84389123456"),        # 2018 renumbering 0168 -> 038
    ("0905 123 456", "+84905123456"),
    ("+84 987 654 321", "+84987654321"),
    # Other ways the same numbers arrive.
    ("0084912345678", "+84912345678"),      # international dialing prefix
    ("０９１２ ３４５ ６７８", "+84912345678"),  # full-width digits from a phone keyboard
    (" 0912345678 ", "+84912345678"),
    # Foreign numbers typed with + are kept.
    ("+1 650 253 0000", "+16502530000"),
    ("+44 20 7946 0958", "+442079460958"),
])
def test_real_typed_phones_normalize(typed: str, e164: str) -> None:
    r = normalize_phone(typed)
    assert r == PhoneResult(e164=e164, reason=None, raw=typed)
    assert r.ok


@pytest.mark.parametrize("typed, e164", [
    ("01689123456", "+84389123456"),
    ("0168 912 3456", "+84389123456"),
    ("+84 1689123456", "+84389123456"),
    ("+84 168 912 3456", "+84389123456"),
    ("(+84) 0168 912 3456", "+84389123456"),
    ("841689123456", "+84389123456"),
    ("00841689123456", "+84389123456"),
    ("＋84 168 912 3456", "+84389123456"),    # full-width plus
    ("0120 123 4567", "+84701234567"),        # Mobifone
    ("0123 456 7890", "+84834567890"),        # Vinaphone
    ("0186 123 4567", "+84561234567"),        # Vietnamobile
    ("0199 123 4567", "+84591234567"),        # Gmobile
])
def test_pre_2018_numbers_are_renumbered(typed: str, e164: str) -> None:
    assert normalize_phone(typed).e164 == e164


# The whole 2018 table, as published by the Ministry of Information and Communications.
RENUMBERING = {
    "0120": "070", "0121": "079", "0122": "077", "0126": "076", "0128": "078",
    "0123": "083", "0124": "084", "0125": "085", "0127": "081", "0129": "082",
    "0162": "032", "0163": "033", "0164": "034", "0165": "035", "0166": "036",
    "0167": "037", "0168": "038", "0169": "039",
    "0186": "056", "0188": "058",
    "0199": "059",
}


def test_renumbering_table_is_complete() -> None:
    assert {"0" + old: "0" + new for old, new in OLD_PREFIXES.items()} == RENUMBERING


@pytest.mark.parametrize("old, new", sorted(RENUMBERING.items()))
@pytest.mark.parametrize("shape", ["{old}{rest}", "+84 {old1}{rest}", "84{old1}{rest}"])
def test_every_old_prefix_in_every_shape(old: str, new: str, shape: str) -> None:
    rest = "1234567"
    typed = shape.format(old=old, old1=old[1:], rest=rest)
    assert normalize_phone(typed).e164 == "+84" + new[1:] + rest


def test_old_numbers_are_only_renumbered_in_vietnam() -> None:
    assert normalize_phone("01689123456", region="US").e164 is None
    assert normalize_phone("+84 1689123456", region="US").e164 == "+84389123456"


@pytest.mark.parametrize("typed, reason", [
    ("12345", "not a valid Vietnamese mobile number: '12345'"),
    ("", "empty phone number"),
    ("   ", "empty phone number"),
    (None, "empty phone number"),
    ("gọi em nhé", "not a phone number: 'gọi em nhé'"),
    ("abc", "not a phone number: 'abc'"),
    ("+", "not a phone number: '+'"),
    ("0912 345 67", "not a valid Vietnamese mobile number: '0912 345 67'"),
    ("+1 555 0000", "not a valid phone number: '+1 555 0000'"),
    ("9" * 300, "not a phone number"),
])
def test_unusable_phones_say_why(typed: str | None, reason: str) -> None:
    r = normalize_phone(typed)
    assert not r.ok and r.e164 is None
    assert r.reason is not None and r.reason.startswith(reason)
    assert r.raw == ("" if typed is None else typed)


def test_unknown_region_is_a_reason_not_a_crash() -> None:
    r = normalize_phone("0912345678", region="XX")
    assert not r.ok and r.reason


@pytest.mark.parametrize("e164, shown", [
    ("+84912345678", "0912345678"),
    ("+84389123456", "0389123456"),
    ("+16502530000", "+16502530000"),
])
def test_national_form(e164: str, shown: str) -> None:
    assert national(e164) == shown


def test_national_of_normalized_real_input() -> None:
    assert national(normalize_phone("(+84) 098-765-4321").e164 or "") == "0987654321"


@given(st.one_of(st.none(), st.text(max_size=60),
                 st.text(alphabet="0123456789+()-. ０１８４＋", max_size=20)))
@settings(max_examples=500, deadline=None)
def test_normalize_never_raises(text: str | None) -> None:
    r = normalize_phone(text)
    assert r.ok == (r.e164 is not None)
    assert r.ok != bool(r.reason)
    if r.ok:
        assert r.e164 is not None and r.e164.startswith("+") and r.e164[1:].isdigit()
