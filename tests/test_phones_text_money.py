"""Phone normalization, SMS segment accounting and money: the details a customer sees."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.money import format_money, format_vnd, to_minor
from bridge.phones import national, normalize_phone
from bridge.smstext import measure, prepare, strip_diacritics


@pytest.mark.parametrize("typed, e164", [
    ("0912 345 678", "+84912345678"),
    ("+84 912345678", "+84912345678"),
    ("84912345678", "+84912345678"),
    ("0912.345.678", "+84912345678"),
    ("(+84) 098-765-4321", "+84987654321"),
    ("01689123456", "+84389123456"),       # 2018 renumbering 0168 -> 038
    ("+84 1689123456", "+84389123456"),
    ("0120 123 4567", "+84701234567"),     # Mobifone 0120 -> 070
    ("0905 123 456", "+84905123456"),
    ("+84 987 654 321", "+84987654321"),
    ("+1 650 253 0000", "+16502530000"),
])
def test_real_typed_phones_normalize(typed, e164):
    r = normalize_phone(typed)
    assert r.ok and r.e164 == e164 and r.raw == typed


@pytest.mark.parametrize("typed, reason", [
    ("12345", "not a valid Vietnamese mobile number: '12345'"),
    ("", "empty phone number"),
    (None, "empty phone number"),
    ("gọi em nhé", "not a phone number"),
])
def test_unusable_phones_say_why(typed, reason):
    r = normalize_phone(typed)
    assert not r.ok and r.e164 is None and reason in r.reason


def test_national_form():
    assert national("+84912345678") == "0912345678"


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_normalize_never_raises(text):
    r = normalize_phone(text)
    assert r.ok == (r.e164 is not None) and (r.ok or r.reason)


def test_vietnamese_loses_diacritics_correctly():
    assert strip_diacritics("Đơn hàng của Nguyễn Thị Bích Ngọc: 1.290.000đ") == \
        "Don hang cua Nguyen Thi Bich Ngoc: 1.290.000d"
    assert strip_diacritics("Dòng 1\nDòng 2") == "Dong 1\nDong 2"


@pytest.mark.parametrize("n, segments", [(160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm_segments(n, segments):
    m = measure("a" * n)
    assert (m.encoding, m.length, m.segments) == ("GSM-7", n, segments)


@pytest.mark.parametrize("n, segments", [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_segments(n, segments):
    m = measure("ư" * n)
    assert (m.encoding, m.length, m.segments) == ("UCS-2", n, segments)


def test_gsm_extension_characters_count_double():
    assert measure("{}").length == 4 and measure("€").length == 2
    assert measure("a" * 159 + "€").segments == 2


def test_prepare_follows_the_rule():
    text = "Cảm ơn bạn đã đặt đơn #20"
    plain, full = prepare(text, unicode=False), prepare(text, unicode=True)
    assert plain.text == "Cam on ban da dat don #20" and plain.encoding == "GSM-7"
    assert full.text == text and full.encoding == "UCS-2"
    assert prepare("Plain ASCII", unicode=True).encoding == "GSM-7"  # cheaper when it can be
    assert prepare("Giá 5€ 漢", unicode=False).encoding == "GSM-7"


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_measure_never_raises(text):
    m = prepare(text, unicode=False)
    assert m.encoding == "GSM-7" and (m.segments == 0) == (m.length == 0)


def test_money_is_exact_minor_units():
    assert to_minor("513000", "VND") == 513000
    assert to_minor("44.88", "USD") == 4488
    assert to_minor("-370000", "VND") == -370000
    assert to_minor(None, "VND") == 0
    with pytest.raises(ValueError):
        to_minor("1.5", "VND")
    with pytest.raises(ValueError):
        to_minor("abc", "VND")


def test_vietnamese_price_format():
    assert format_vnd(1_290_000) == "1.290.000đ"
    assert format_vnd(0) == "0đ" and format_vnd(-370_000) == "-370.000đ"
    assert format_money(4488, "USD") == "44.88 USD"
