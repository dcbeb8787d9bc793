"""SMS length and segment accounting, and diacritics removal for non-Unicode SMS.

What a message costs depends on its encoding: GSM-7 fits 160 characters in one SMS (153 per
part when split), UCS-2 only 70 (67). Vietnamese with diacritics needs UCS-2, so a rule can
ask for the text without diacritics to send cheaper GSM-7 messages.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from anyascii import anyascii

# GSM 03.38 basic character set and extension table (extension characters cost 2 septets).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsText:
    text: str
    encoding: str  # "GSM-7" or "UCS-2"
    length: int
    segments: int

    @property
    def unicode(self) -> bool:
        return self.encoding == "UCS-2"


def is_gsm(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def strip_diacritics(text: str) -> str:
    """"Đơn hàng của Nguyễn" -> "Don hang cua Nguyen"; line breaks kept."""
    return "\n".join(anyascii(line) for line in text.split("\n"))


def measure(text: str) -> SmsText:
    if is_gsm(text):
        length = sum(2 if ch in GSM_EXTENSION else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 0 if length == 0 else 1 if length <= single else math.ceil(length / part)
    return SmsText(text=text, encoding=encoding, length=length, segments=segments)


def prepare(text: str, unicode: bool) -> SmsText:
    """The text as it will be sent: stripped to GSM-7 when the rule says `unicode: false`."""
    if not unicode:
        plain = strip_diacritics(text)
        text = "".join(ch if ch in GSM_BASIC or ch in GSM_EXTENSION else "?" for ch in plain)
    return measure(text)
