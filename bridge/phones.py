"""Phone numbers as customers type them, normalized to E.164 (default region VN).

WooCommerce stores phones verbatim ("0912 345 678", "(+84) 098-765-4321", "01689123456"),
so every send goes through here; an unusable number is a recorded reason, never a crash.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

# The 2018 renumbering of 11-digit mobile numbers: old prefix (after the trunk 0) -> new.
OLD_PREFIXES = {
    "120": "70", "121": "79", "122": "77", "126": "76", "128": "78",               # Mobifone
    "123": "83", "124": "84", "125": "85", "127": "81", "129": "82",               # Vinaphone
    "162": "32", "163": "33", "164": "34", "165": "35", "166": "36", "167": "37",  # Viettel
    "168": "38", "169": "39",
    "186": "56", "188": "58",                                                      # Vietnamobile
    "199": "59",                                                                   # Gmobile
}


@dataclass(frozen=True)
class PhoneResult:
    e164: str | None
    reason: str | None
    raw: str

    @property
    def ok(self) -> bool:
        return self.e164 is not None


def _renumber(raw: str) -> str:
    """Rewrite a pre-2018 11-digit Vietnamese mobile number to today's 10-digit one."""
    digits = re.sub(r"\D", "", raw)
    plus = raw.strip().startswith("+") or raw.strip().startswith("(+")
    for lead in ("0", "84", "840"):
        if digits.startswith(lead) and len(digits) == len(lead) + 10:
            national = digits[len(lead):]
            new = OLD_PREFIXES.get(national[:3])
            if new and (lead == "0" and not plus or lead != "0"):
                return "+84" + new + national[3:]
    return raw


def normalize_phone(raw: str | None, region: str = "VN") -> PhoneResult:
    text = "" if raw is None else str(raw)
    if not text.strip():
        return PhoneResult(None, "empty phone number", text)
    candidate = _renumber(text)
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return PhoneResult(None, f"not a phone number: {text!r}", text)
    if not phonenumbers.is_valid_number(number):
        return PhoneResult(None, f"not a valid Vietnamese mobile number: {text!r}" if number.country_code == 84
                           else f"not a valid phone number: {text!r}", text)
    return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None, text)


def national(e164: str) -> str:
    """+84912345678 -> 0912345678, the form Vietnamese providers and people use."""
    if e164.startswith("+84"):
        return "0" + e164[3:]
    return e164
