"""Phone numbers as customers type them, normalized to E.164 (default region VN).

WooCommerce stores phones verbatim ("0912 345 678", "(+84) 098-765-4321", "01689123456"),
so every send goes through here; an unusable number is a recorded reason, never a crash.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

# The 2018 renumbering of 11-digit mobile numbers: old prefix (after the trunk 0) -> new.
# Customers still type the old numbers (address books, old orders), and phonenumbers rejects
# them as invalid, so they are rewritten before parsing.
OLD_PREFIXES = {
    "120": "70", "121": "79", "122": "77", "126": "76", "128": "78",               # Mobifone
    "123": "83", "124": "84", "125": "85", "127": "81", "129": "82",               # Vinaphone
    "162": "32", "163": "33", "164": "34", "165": "35", "166": "36", "167": "37",  # Viettel
    "168": "38", "169": "39",
    "186": "56", "188": "58",                                                      # Vietnamobile
    "199": "59",                                                                   # Gmobile
}

# What may stand before the 10 national digits of an old number: "+84 1xx", "+84 01xx" with a
# plus; "01xx", "841xx", "8401xx" and the international "00841xx" without one (region VN only).
_LEADS_WITH_PLUS = ("84", "840")
_LEADS_WITHOUT_PLUS = ("0", "84", "840", "0084", "00840")
_PLUS = re.compile(r"[\s(]*[+\uff0b]")  # "+84", " (+84)", full-width "＋84"


@dataclass(frozen=True)
class PhoneResult:
    """A typed phone and what became of it: `e164` when we can send to it, else `reason`."""

    e164: str | None
    reason: str | None
    raw: str

    @property
    def ok(self) -> bool:
        """True when the number can be sent to."""
        return self.e164 is not None


def _digits(text: str) -> str:
    """ASCII digits of `text`, also from full-width or other Unicode decimal digits (mobile keyboards)."""
    return "".join(str(unicodedata.decimal(ch, 0)) for ch in text if ch.isdecimal())


def _renumber(raw: str, region: str | None) -> str:
    """Rewrite a pre-2018 11-digit Vietnamese mobile number to today's 10-digit one.

    Anything that is not such a number is returned unchanged for phonenumbers to judge.
    """
    plus = _PLUS.match(raw) is not None
    if not plus and (region or "").upper() != "VN":
        return raw  # "01689123456" is only a Vietnamese number when we assume Vietnam
    digits = _digits(raw)
    for lead in _LEADS_WITH_PLUS if plus else _LEADS_WITHOUT_PLUS:
        if digits.startswith(lead) and len(digits) == len(lead) + 10:
            national_digits = digits[len(lead):]
            new = OLD_PREFIXES.get(national_digits[:3])
            if new:
                return "+84" + new + national_digits[3:]
    return raw


def normalize_phone(raw: str | None, region: str = "VN") -> PhoneResult:
    """Turn a typed phone into E.164, or say in plain English why it cannot be used.

    Never raises: this runs on every webhook, and one bad phone must cost one skipped SMS with
    a readable reason, not a failed delivery.
    """
    text = "" if raw is None else str(raw)
    if not text.strip():
        return PhoneResult(None, "empty phone number", text)
    candidate = _renumber(text, region)
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return PhoneResult(None, f"not a phone number: {text!r}", text)
    if not phonenumbers.is_valid_number(number):
        if number.country_code == 84:
            return PhoneResult(None, f"not a valid Vietnamese mobile number: {text!r}", text)
        return PhoneResult(None, f"not a valid phone number: {text!r}", text)
    return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None, text)


def national(e164: str) -> str:
    """+84912345678 -> 0912345678: the form Vietnamese people read and local providers require.

    Numbers of other countries are returned unchanged (E.164 is the only unambiguous form for them).
    """
    if e164.startswith("+84"):
        return "0" + e164[3:]
    return e164
