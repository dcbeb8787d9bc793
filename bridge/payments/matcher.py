"""The matching rules of BANK_SMS.md that need no database: payment codes, receiving
accounts, and the event fingerprint. Money is never guessed: a code is read, never repaired.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..smstext import strip_diacritics
from .parsers import Parsed

CUT_AFTER = re.compile(r"^(?:\.\.|~|\(\.\.\.\))")
MASK = re.compile(r"^(\d*)(?:[xX]+|\*+|\.{3})(\d*)$")


@dataclass(frozen=True)
class CodeReading:
    orders: tuple[int, ...]       # distinct order numbers named by usable candidates
    unusable: tuple[str, ...]     # candidates touching a cut
    wrapped: int | None = None    # the single order a line-wrap reading gives, when the strict one gives none

    @property
    def single(self) -> int | None:
        return self.orders[0] if len(self.orders) == 1 and not self.unusable else None


def read_codes(memo: str | None, prefix: str, body_len: int = 0, hard_cut: int | None = None) -> CodeReading:
    """All candidates: the prefix, at most one space or hyphen, digits not followed by a digit.

    A candidate that touches a cut (`...`, `..`, `~`, `(...)`, or the end of a message cut at
    exactly `hard_cut` characters) is unusable. The line-wrap reading (spaces inside the digits
    collapsed) is given separately; the caller uses it only under the narrow exception.
    """
    text = strip_diacritics(memo or "").upper()
    p = re.escape(strip_diacritics(prefix).upper())
    strict = re.compile(p + r"[ -]?(\d+)(?!\d)")
    orders: list[int] = []
    unusable: list[str] = []
    for m in strict.finditer(text):
        rest = text[m.end():]
        at_hard_cut = hard_cut is not None and body_len == hard_cut and not rest.strip()
        if CUT_AFTER.match(rest) or at_hard_cut:
            unusable.append(m.group(0))
            continue
        n = int(m.group(1))
        if n not in orders:
            orders.append(n)
    wrapped = None
    collapsed = [int(re.sub(r"\D", "", m.group(1))) for m in re.finditer(p + r"[ -]?(\d+(?: \d+)+)(?![\d~]|\.\.)", text)]
    if len(collapsed) == 1:
        wrapped = collapsed[0]
    return CodeReading(tuple(orders), tuple(unusable), wrapped)


def account_matches(printed: str, configured: str) -> bool:
    """Full numbers compare digit for digit; a masked form (312xxx6051, **3317, 112...7305)
    matches when its visible leading and trailing digits agree."""
    printed = printed.strip()
    m = MASK.match(printed)
    if m:
        head, tail = m.groups()
        digits = re.sub(r"\D", "", configured)
        return len(head) + len(tail) < len(digits) and digits.startswith(head) and digits.endswith(tail)
    return re.sub(r"[^\dA-Za-z]", "", printed) == re.sub(r"[^\dA-Za-z]", "", configured)


def account_ok(p: Parsed, accounts: tuple[tuple[str, str], ...]) -> bool:
    if p.account is None:
        return p.bank == "MoMo" or any(bank == p.bank for bank, _ in accounts)
    return any(bank == p.bank and account_matches(p.account, acct) for bank, acct in accounts)


def prints_event(p: Parsed) -> bool:
    """Whether the message prints what identifies a transfer (balance after, reference, time).
    MoMo's notification prints none of them: only its text and amount, so its re-deliveries are
    found by `handler.REPEAT_WINDOW` instead of by the fingerprint."""
    return p.balance is not None or bool(p.reference) or bool(p.time)


def fingerprint(p: Parsed, text: str, received_minute: int, event_key: str = "") -> str:
    """The event, not the text: the same transfer seen as SMS and as app notification, or
    delivered twice, has one fingerprint. A message that prints no event fields (MoMo) gets a
    fingerprint of its own inbox row (`event_key`): a forwarder re-posting it with a later
    posted_at must not look like a new minute's transfer, so the handler matches those on text
    and amount within a window instead."""
    signed = p.amount if p.direction == "in" else -(p.amount or 0)
    if prints_event(p):
        minute = re.sub(r":\d\d$", "", p.time) if p.time and re.search(r"\d:\d\d:\d\d$", p.time) else p.time
        ref = re.sub(r"\s+", "", p.reference or "").upper()
        key = f"{p.bank}|{p.account}|{signed}|{p.balance}|{ref}|{minute}"
    else:
        key = f"{p.bank}|{text}|{received_minute}|{event_key}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]
