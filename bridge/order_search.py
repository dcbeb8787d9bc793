"""What the owner typed in the orders search, read as an order number, a payment code, a phone
or a name.

Owners search from a phone keyboard, without accents and in any case (`bich` for "Bích",
`nguyen` for "NGUYỄN"); they copy a payment code from a bank message (`DH30`, `dh 30`); they type
the customer's phone as they have it (`0912 345 678`, `+84912345678`, the last six digits). Digits
are a phone only when the whole query is a phone: `Nguyen 30` looks for that text, and never
finds an order because its phone happens to contain 30.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .store.orders import fold

PHONE_MIN_DIGITS = 6   # fewer digits say too little of a phone: an order number, not a phone
_PHONE = re.compile(r"\+?[0-9][0-9 .\-()]*")
_NUMBER = re.compile(r"#?\s*([0-9]{1,18})")


@dataclass(frozen=True)
class OrderQuery:
    number: str = ""   # an order number (typed as is, after '#', or as a payment code)
    phone: str = ""    # digits of the phone without its country or trunk prefix (912345678)
    text: str = ""     # folded text compared with names and e-mails

    @property
    def empty(self) -> bool:
        return not (self.number or self.phone or self.text)


def parse(typed: str, code_prefix: str) -> OrderQuery:
    """The query as what it can be. A payment code is the configured prefix and an order number,
    in any case, with a space or hyphen between them, as the matcher reads it in a bank memo."""
    q = unicodedata.normalize("NFC", typed).strip()   # one form of each accented letter, as stored
    if not q:
        return OrderQuery()
    prefix = re.escape(fold(code_prefix).upper())
    code = re.fullmatch(r"#?\s*" + prefix + r"[ \-]*([0-9]{1,18})", fold(q).upper()) if prefix else None
    if code:
        return OrderQuery(number=str(int(code.group(1))))
    number = _NUMBER.fullmatch(q)
    phone = _phone_digits(q) if _PHONE.fullmatch(q) else ""
    if number or phone:
        return OrderQuery(number=str(int(number.group(1))) if number else "", phone=phone)
    return OrderQuery(text=fold(q))


def _phone_digits(q: str) -> str:
    digits = re.sub(r"[^0-9]", "", q)
    if q.startswith("+84") or (digits.startswith("84") and len(digits) >= 11):
        digits = digits[2:]
    digits = digits.lstrip("0")
    return digits if len(digits) >= PHONE_MIN_DIGITS else ""
