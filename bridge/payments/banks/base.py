"""What a bank's message format is: sender IDs per channel, templates, and non-transactions.

Each bank module declares one `BankFormat`. A template is a regular expression over the whole
body with named groups: `account`, `sign` (+/-) or `dir` (a word such as tang/giam, credit/
debit), `amount`, `balance`, `time`, `memo`, `ref`. A template that prints no sign says so with
a fixed `direction`: an unsigned amount is never taken for a credit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

IN_WORDS = {"+", "tang", "credit", "nhan vao"}
OUT_WORDS = {"-", "giam", "debit", "rut ra"}


def rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL | flags)


@dataclass(frozen=True)
class Family:
    name: str
    pattern: re.Pattern[str]
    channels: tuple[str, ...] = ("sms",)
    senders: tuple[str, ...] = ()          # only these of the bank's senders use this template
    direction: str | None = None           # fixed direction for templates without a sign
    ref: re.Pattern[str] | None = None     # finds the reference inside the memo
    ref_format: str = "{0}"                # how to print it, from the match's groups


@dataclass(frozen=True)
class BankFormat:
    bank: str
    senders: dict[str, frozenset[str]]     # channel -> sender IDs the bank uses there
    families: tuple[Family, ...]
    packages: frozenset[str] = frozenset()  # Android packages of its app notifications, when known
    non_transactions: tuple[tuple[str, re.Pattern[str]], ...] = field(default_factory=tuple)  # (kind, pattern)

    def uses(self, sender: str, channel: str) -> bool:
        return sender in self.senders.get(channel, frozenset())


def parse_amount(text: str | None) -> int | None:
    """'1,273,000' / '1.273.000' / '6 810 000' -> 1273000 (VND has no minor unit)."""
    if text is None:
        return None
    digits = re.sub(r"[ ,.]", "", text.strip().lstrip("+"))
    return int(digits) if digits.isdigit() else None
