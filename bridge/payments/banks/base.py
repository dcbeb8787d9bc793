"""What a bank's message format is: sender IDs per channel, templates, and non-transactions.

Each bank module declares one `BankFormat`. A template is a regular expression over the whole
body with named groups: `account`, `sign` (+/-) or `dir` (a word such as tang/giam, credit/
debit), `amount`, `balance`, `time`, `memo`, `ref`. A template that prints no sign says so with
a fixed `direction`: an unsigned amount is never taken for a credit.

Banks drift: a day or month printed with or without its leading zero, the time before or after
the date, the account masked one month and in full the next. Templates build those parts from
`ACCOUNT`, `date`, `clock` and `moment` below, which accept each variant where it cannot be
mistaken for anything else (a date's parts are joined by `/`, `-` or spaces, a time's by `:`,
so either order reads one way only). A renamed label is not guessed here: such a message fails
every template and goes to the generic rule (`payments/generic.py`), which never confirms.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

IN_WORDS = {"+", "tang", "credit", "nhan vao"}
OUT_WORDS = {"-", "giam", "debit", "rut ra"}


# The receiving account as printed: a full number (`4417203-001`), masked (`312xxx6051`, `**3317`,
# `112...7305`, `108…8949`) or a bare tail; `payments/accounts.py` decides which configured account it names.
ACCOUNT = r"(?P<account>\d*(?:[xX]+|\*+|\.{3}|…)\d+|\d+(?:-\d+)?)"
DAY = r"\d{1,2}"   # a day or a month, with or without its leading zero
BETWEEN = r"[ ;,]"  # what banks put between a date and a time


def date(sep: str = "/", year: str | None = r"\d{4}") -> str:
    """Day, month (and year) joined by `sep`, each day or month with or without its leading zero."""
    return f"{DAY}{sep}{DAY}" + (f"{sep}{year}" if year else "")


def clock(seconds: bool = False) -> str:
    """Hours (leading zero or not) and minutes, optionally seconds."""
    return r"\d{1,2}:\d\d" + (r":\d\d" if seconds else "")


def moment(time: str, day: str, between: str = BETWEEN) -> str:
    """The `time` group: a time and a date in either order (their separators tell them apart)."""
    return f"(?P<time>{time}{between}{day}|{day}{between}{time})"


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
