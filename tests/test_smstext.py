"""SMS encoding, length and segments: what a message will cost before it is sent."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.smstext import GSM_BASIC, GSM_EXTENSION, SmsText, measure, prepare, strip_diacritics

VIETNAMESE = ("Đơn hàng #1024 của Nguyễn Thị Bích Ngọc: 1.290.000₫. "
              "Shop sẽ giao trong 2-3 ngày. Cảm ơn quý khách!")
VIETNAMESE_PLAIN = ("Don hang #1024 cua Nguyen Thi Bich Ngoc: 1.290.000d. "
                    "Shop se giao trong 2-3 ngay. Cam on quy khach!")


def test_gsm_tables_are_the_standard_size() -> None:
    # 128 code points in the basic set minus the escape; 10 extension characters.
    assert len(GSM_BASIC) == 127 and len(GSM_EXTENSION) == 10
    assert not GSM_BASIC & GSM_EXTENSION


@pytest.mark.parametrize("ch", list("éèùìòàÇÉÄÖÑÜäöñü£$¥¤§¡¿ΔΦΓΛΩΠΨΣΘΞ@_\n\r"))
def test_european_letters_are_gsm(ch: str) -> None:
    assert measure(ch) == SmsText(ch, "GSM-7", 1, 1)


@pytest.mark.parametrize("ch", list("ăâđêôơưạếẫỷĂĐƠƯ₫`\t") + ["漢", "😀", "ç"])
def test_vietnamese_letters_are_not_gsm(ch: str) -> None:
    assert measure(ch).encoding == "UCS-2"


@pytest.mark.parametrize("ch", list("^{}\\[~]|€\f"))
def test_extension_characters_count_two(ch: str) -> None:
    assert measure(ch) == SmsText(ch, "GSM-7", 2, 1)


@pytest.mark.parametrize("text, length, segments", [
    ("{}", 4, 1),
    ("a" * 158 + "€", 160, 1),
    ("a" * 159 + "€", 161, 2),
    ("[" * 80, 160, 1),
    ("[" * 81, 162, 2),
])
def test_extension_characters_in_segment_accounting(text: str, length: int, segments: int) -> None:
    m = measure(text)
    assert (m.encoding, m.length, m.segments) == ("GSM-7", length, segments)


@pytest.mark.parametrize("n, segments", [
    (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4),
])
def test_gsm_segments(n: int, segments: int) -> None:
    m = measure("a" * n)
    assert (m.encoding, m.length, m.segments, m.unicode) == ("GSM-7", n, segments, False)


@pytest.mark.parametrize("n, segments", [
    (1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4),
])
def test_ucs2_segments(n: int, segments: int) -> None:
    m = measure("ư" * n)
    assert (m.encoding, m.length, m.segments, m.unicode) == ("UCS-2", n, segments, True)


def test_ucs2_length_is_in_utf16_code_units() -> None:
    assert measure("😀").length == 2              # outside the BMP: a surrogate pair
    assert measure("a" * 69 + "😀").segments == 2


def test_empty_text_costs_nothing() -> None:
    assert measure("") == SmsText("", "GSM-7", 0, 0)
    assert prepare("", unicode=True).segments == prepare("", unicode=False).segments == 0


@pytest.mark.parametrize("text, plain", [
    ("Đơn hàng của Nguyễn", "Don hang cua Nguyen"),
    ("Đơn hàng của Nguyễn Thị Bích Ngọc: 1.290.000đ", "Don hang cua Nguyen Thi Bich Ngoc: 1.290.000d"),
    (VIETNAMESE, VIETNAMESE_PLAIN),
    ("đ Đ ₫", "d D d"),
    ("Dòng 1\nDòng 2\r\nDòng 3", "Dong 1\nDong 2\r\nDong 3"),
    ("Nguye\u0302\u0303n", "Nguyen"),           # decomposed (NFD) input, as macOS sends it
    ("plain ASCII stays", "plain ASCII stays"),
])
def test_strip_diacritics(text: str, plain: str) -> None:
    assert strip_diacritics(text) == plain


def test_vietnamese_sentence_is_ucs2_and_its_stripped_form_gsm() -> None:
    full = measure(VIETNAMESE)
    assert full.unicode and full.length == len(VIETNAMESE)
    stripped = prepare(VIETNAMESE, unicode=False)
    assert stripped.text == VIETNAMESE_PLAIN and "d." in stripped.text
    assert not stripped.unicode and stripped.length == len(VIETNAMESE_PLAIN)
    # 99 characters: two SMS with diacritics, one without.
    assert full.length == 99 and full.segments == 2 and stripped.segments == 1


@pytest.mark.parametrize("text, unicode, sent, encoding", [
    ("Cảm ơn bạn đã đặt đơn #20", False, "Cam on ban da dat don #20", "GSM-7"),
    ("Cảm ơn bạn đã đặt đơn #20", True, "Cảm ơn bạn đã đặt đơn #20", "UCS-2"),
    ("Plain ASCII {ok}", True, "Plain ASCII {ok}", "GSM-7"),       # cheaper when it can be
    ("Café à 5€", True, "Café à 5€", "GSM-7"),                       # é, à, € are GSM
    ("Giá 5€ 漢", False, "Gia 5EUR Han", "GSM-7"),
    ("a\tb", False, "a b", "GSM-7"),
])
def test_prepare_follows_the_rule(text: str, unicode: bool, sent: str, encoding: str) -> None:
    m = prepare(text, unicode=unicode)
    assert (m.text, m.encoding) == (sent, encoding)
    assert m == measure(sent)


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_measure_never_raises(text: str) -> None:
    m = measure(text)
    assert m.text == text
    assert (m.segments == 0) == (text == "")
    assert m.length >= len(text)


@given(st.text(max_size=400), st.booleans())
@settings(max_examples=300, deadline=None)
def test_prepare_never_raises_and_non_unicode_is_always_gsm(text: str, unicode: bool) -> None:
    m = prepare(text, unicode=unicode)
    if not unicode:
        assert m.encoding == "GSM-7"
    assert (m.segments == 0) == (m.length == 0)
