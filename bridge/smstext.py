"""SMS length and segment accounting, and diacritics removal for non-Unicode SMS.

What a message costs depends on its encoding: GSM-7 fits 160 characters in one SMS (153 per
part when split), UCS-2 only 70 (67). Vietnamese with diacritics needs UCS-2, so a rule can
ask for the text without diacritics to send cheaper GSM-7 messages.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from anyascii import anyascii

# GSM 03.38 default alphabet, in code order 0x00-0x7F without 0x1B (the escape to the extension
# table). Written out here because it is a fixed standard and what decides the price of a message.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"                  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ" "ÆæßÉ"                   # 0x10-0x1F (0x1B = escape)
    " !\"#¤%&'()*+,-./"                   # 0x20-0x2F
    "0123456789:;<=>?"                    # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"                    # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§"                    # 0x50-0x5F
    "¿abcdefghijklmno"                    # 0x60-0x6F
    "pqrstuvwxyzäöñüà"                    # 0x70-0x7F
)
# Extension table: each is sent as escape + character, so it costs 2 septets.
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7, UCS2 = "GSM-7", "UCS-2"
_SINGLE = {GSM7: 160, UCS2: 70}     # one SMS
_PART = {GSM7: 153, UCS2: 67}       # each part of a concatenated SMS (the rest is the UDH)


@dataclass(frozen=True)
class SmsText:
    """A text as it will be sent, with what it costs: encoding, length in units, SMS segments."""

    text: str
    encoding: str  # "GSM-7" or "UCS-2"
    length: int    # septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2
    segments: int  # 0 for the empty text
    # Why the text is not what its rule's template should give (a stored reason, see
    # bridge.rules.Written): carried from the render to the outbox row, "" when all is well.
    note: str = ""

    @property
    def unicode(self) -> bool:
        """True when the text needs UCS-2 (and so fits less than half as much per SMS)."""
        return self.encoding == UCS2


def is_gsm(text: str) -> bool:
    """True when every character has a GSM-7 encoding (basic set or extension table)."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def strip_diacritics(text: str) -> str:
    """"Đơn hàng của Nguyễn" -> "Don hang cua Nguyen"; "₫" -> "d"; line breaks kept.

    Vietnamese shops send "không dấu" text when they want the cheap GSM-7 rate, and matching
    bank messages wants the same folded form; anyascii also handles decomposed (NFD) input.
    """
    return "\n".join(anyascii(line) for line in text.split("\n"))


def measure(text: str) -> SmsText:
    """How the text would be encoded and how many SMS it costs, without changing it.

    GSM-7 when every character is in the GSM 03.38 tables, else UCS-2.
    """
    if is_gsm(text):
        encoding = GSM7
        length = sum(2 if ch in GSM_EXTENSION else 1 for ch in text)
    else:
        encoding = UCS2
        length = len(text.encode("utf-16-le")) // 2  # characters outside the BMP take 2 units
    if length == 0:
        segments = 0
    elif length <= _SINGLE[encoding]:
        segments = 1
    else:
        segments = math.ceil(length / _PART[encoding])
    return SmsText(text=text, encoding=encoding, length=length, segments=segments)


def prepare(text: str, unicode: bool) -> SmsText:
    """The text as it will be sent, following the rule's `unicode` setting.

    unicode=False: diacritics stripped, then anything still outside GSM-7 becomes "?" (other
    whitespace such as tabs becomes a space), so the result is always GSM-7 and never silently
    switches to the 70-character rate. unicode=True: sent as is; a text that happens to be all
    GSM stays GSM-7, which is cheaper.
    """
    note = getattr(text, "note", "")
    if not unicode:
        plain = strip_diacritics(text)
        text = "".join(ch if ch in GSM_BASIC or ch in GSM_EXTENSION else " " if ch.isspace() else "?"
                       for ch in plain)
    sms = measure(str(text))
    return replace(sms, note=note) if note else sms
