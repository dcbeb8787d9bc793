"""The matching rules of BANK_SMS.md that need no database: payment codes, receiving
accounts, and the event fingerprint. Money is never guessed: a code is read, never repaired.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import reasons
from ..smstext import strip_diacritics
from .accounts import NONE_CONFIGURED, name_account

if TYPE_CHECKING:   # the parser reads codes with this module (the generic rule), so no import cycle at run time
    from .parsers import Parsed

CUT_AFTER = re.compile(r"^(?:\.\.|~|\(\.\.\.\))")
# Invisible characters a banking app or a copy-paste may leave inside a code (ZWSP, ZWNJ, ZWJ,
# WORD JOINER, BOM): removed before reading, like NFKC's width folding; this is not a repair.
ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff]")
# A code starts at the start of the memo or after a character that is neither letter nor digit:
# "XDH309" and "1DH309" are other words that happen to contain the prefix, not payment codes
# (kept as `glued` so that they send the credit to a person instead of being ignored).
BOUNDARY = r"(?<![A-Z0-9])"
GLUED_BEFORE = re.compile(r"[A-Z0-9]")
# An order number is a SQLite integer: DH followed by 19 digits or more names no order (and
# would overflow the lookup, failing the handler without a review item): not a code.
MAX_ORDER = 10**18


def memo_for_codes(memo: str | None) -> str:
    """The memo as codes are read from it: NFKC (full-width ＤＨ３０２ -> DH302), zero-width
    characters removed, digits of other scripts (٣٠٢) made unreadable (they are not what the shop
    printed: a person decides), then diacritics folded and upper-cased."""
    text = ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", memo or ""))
    text = "".join("#" if ch.isdecimal() and not ch.isascii() else ch for ch in text)
    return strip_diacritics(text).upper()


@dataclass(frozen=True)
class CodeReading:
    orders: tuple[int, ...]       # distinct order numbers named by usable candidates
    unusable: tuple[str, ...]     # candidates touching a cut
    wrapped: int | None = None    # the single order a line-wrap reading gives, when the strict one gives none
    glued: tuple[str, ...] = ()   # the prefix glued after a letter or digit (XDH309): not a code, a doubt
    oversized: tuple[str, ...] = ()   # a code with more digits than any order number: not ignored, a doubt

    @property
    def single(self) -> int | None:
        return (self.orders[0] if len(self.orders) == 1 and not self.unusable and not self.glued
                and not self.oversized else None)


def read_codes(memo: str | None, prefix: str, body_len: int = 0, hard_cut: int | None = None) -> CodeReading:
    """All candidates: the prefix (not glued after a letter or digit), at most one space or
    hyphen, ASCII digits not followed by a digit; read from `memo_for_codes(memo)`.

    The prefix glued after a letter or digit (`XDH309`, `1DH309`, the second of
    `DH20118DH20119`) is no code; it is returned in `glued` so the caller sends the credit to a
    person rather than confirming on another reading.

    A candidate that touches a cut (`...`, `..`, `~`, `(...)`, or the end of a message cut at
    exactly `hard_cut` characters) is unusable. The line-wrap reading (spaces inside the digits
    collapsed) is given separately; the caller uses it only under the narrow exception.
    """
    text = memo_for_codes(memo)
    bare = re.escape(strip_diacritics(prefix).upper())
    p = BOUNDARY + bare
    strict = re.compile(bare + r"[ -]?([0-9]+)(?![0-9])")
    orders: list[int] = []
    unusable: list[str] = []
    glued: list[str] = []
    oversized: list[str] = []
    for m in strict.finditer(text):
        if m.start() > 0 and GLUED_BEFORE.match(text[m.start() - 1]):
            glued.append(text[max(0, m.start() - 1):m.end()])
            continue
        rest = text[m.end():]
        at_hard_cut = hard_cut is not None and body_len == hard_cut and not rest.strip()
        if CUT_AFTER.match(rest) or at_hard_cut:
            unusable.append(m.group(0))
            continue
        n = int(m.group(1))
        if n >= MAX_ORDER:   # names no order we could have; next to a real code it makes the memo doubtful
            oversized.append(m.group(0))
            continue
        if n not in orders:
            orders.append(n)
    wrapped = None
    # The run of digit groups is taken whole (possessive): a run that touches a cut is unusable,
    # never read shorter to dodge the cut ("DH201 01 20101.." is not DH20101).
    collapsed = [int(re.sub(r"[^0-9]", "", m.group(1)))
                 for m in re.finditer(p + r"[ -]?([0-9]++(?: [0-9]++)++)(?![0-9~]|\.\.)", text)]
    if len(collapsed) == 1 and collapsed[0] < MAX_ORDER:
        wrapped = collapsed[0]
    return CodeReading(tuple(orders), tuple(unusable), wrapped, tuple(glued), tuple(oversized))


def with_order_hint(reading: CodeReading, hint: str, prefix: str) -> tuple[CodeReading, str]:
    """A reading with the order a provider's signed payment link names (payOS): it stands for a
    code when the memo names none (a bank cut it off, the payer rewrote it) and agrees when the
    memo names the same order. Returns (reading, "") or (unchanged, what the memo names instead)."""
    n = int(hint)
    others = [f"{prefix}{o}" for o in reading.orders if o != n] + list(reading.unusable) + list(reading.glued) \
        + list(reading.oversized)
    if others:
        return reading, ", ".join(others)
    return CodeReading((n,), ()), ""


def account_problem(p: Parsed, accounts: tuple[tuple[str, str], ...]) -> str:
    """Why the credit cannot be taken as paid into a configured receiving account ('' when it can).

    The printed account names one configured account of the bank in any form banks print
    (full, masked, bare tail: `payments/accounts.py`). MoMo prints none: the configured wallet is
    assumed; another bank printing none is taken for its configured account only when the shop
    has one there."""
    if p.account is None:
        return "" if p.bank == "MoMo" or any(bank == p.bank for bank, _ in accounts) else \
            reasons.encode(NONE_CONFIGURED, bank=p.bank)
    return name_account(p.account, p.bank, accounts).why


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
