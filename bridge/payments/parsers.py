"""Bank and MoMo messages -> a transaction, a non-transaction, or a rejection with the reason.

Authenticity comes first (BANK_SMS.md, matching rule 1): a message is only read as a bank's if
its sender is one of that bank's sender IDs for the channel it came by (and its app package,
where known), and its body fits one of that bank's templates. Phone-number senders, links,
`Fwd:` texts, payer-side receipts and app text arriving as SMS are spoofs, whatever they claim.
OTP, promo and notice texts are recognised before any amount is read.

A genuine sender's message that fits none of the bank's templates is a changed layout or a
forgery: given the shop's receiving accounts and code prefix, the per-bank generic rule
(`generic.py`) may read it (family "generic", decided no stronger than review); otherwise it is
rejected with family "unknown". Both are counted per bank so the owner sees a bank's drift.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .. import reasons
from ..reasons import N_
from . import generic
from .banks import BANKS
from .banks.base import IN_WORDS, OUT_WORDS, BankFormat, Family, parse_amount

TRANSACTION, OTP, PROMO, NOTICE, SPOOF, UNKNOWN = "transaction", "otp", "promo", "notice", "spoof", "unknown"

PHONE_SENDER = re.compile(r"^\+?[\d .()-]{6,}$")
LINK = re.compile(r"https?://|www\.|\b[\w-]+\.(?:net|com|vn|xyz|top|info|link|online)\b", re.IGNORECASE)
FORWARDED = re.compile(r"^\s*(?:Fwd?|FW)\s*:", re.IGNORECASE)
MONEY_TALK = re.compile(r"[+-]? ?\d{1,3}(?:[.,]\d{3})+ ?(?:VND|đ|₫|d\b)|\bVND\b|so du|số dư|\bSD\b|chuyen tien|"
                        r"nhan tien|nhận tiền|bien dong|biến động", re.IGNORECASE)
PAYER_RECEIPT = re.compile(r"chuyen tien thanh cong|giao dich thanh cong|transfer successful", re.IGNORECASE)

reasons.register({
    "parse.read": N_("%(bank)s %(family)s"),
    "parse.not_money": N_("%(bank)s %(kind)s"),
    "parse.kind.otp": N_("one-time password"), "parse.kind.promo": N_("advertisement"),
    "parse.kind.notice": N_("notice"),
    "parse.no_direction": N_("%(bank)s template %(family)s without a direction"),
    "parse.no_sender": N_("no sender"),
    "parse.phone_sender": N_("sender %(sender)s is a phone number, not a bank sender ID"),
    "parse.unknown_sender": N_("'%(sender)s' is not a known bank sender ID for %(channel)s"),
    "parse.package": N_("app package %(package)s is not %(bank)s's"),
    "parse.link": N_("contains a link (banks never send links with balance changes)"),
    "parse.forwarded": N_("a forwarded (Fwd:) text"),
    "parse.payer_receipt": N_("a payer-side transfer receipt, not the bank's notice to the shop"),
    "parse.wrong_channel": N_("%(bank)s %(family)s text arrived by %(channel)s"),
    "parse.generic": N_("%(bank)s generic reading (no template fits)"),
    "parse.no_accounts": N_("no receiving accounts or code prefix to read it with"),
    "parse.no_template": N_("does not fit any template %(bank)s uses, and the generic rule cannot read it: %(why)s"),
})


def looks_like_money(text: str) -> bool:
    """Whether a text from a non-bank sender claims a money movement (then it is recorded as a
    rejected spoof; a customer's ordinary SMS is none of the payments' business)."""
    return bool(MONEY_TALK.search(text or ""))


@dataclass(frozen=True)
class Parsed:
    kind: str                       # transaction | otp | promo | notice | spoof | unknown
    reason: str                     # encoded (bridge/reasons.py): it ends up in a spoof's stored reason
    bank: str | None = None
    family: str | None = None
    direction: str | None = None    # "in" | "out"
    amount: int | None = None       # VND, positive
    balance: int | None = None
    memo: str | None = None         # as printed
    account: str | None = None      # as printed (maybe masked)
    time: str | None = None         # as printed
    reference: str | None = None
    doubts: tuple[str, ...] = ()    # what the generic rule saw that a person should check

    @property
    def is_credit(self) -> bool:
        return self.kind == TRANSACTION and self.direction == "in" and bool(self.amount)


def _direction(groups: dict[str, str | None], family: Family) -> str | None:
    word = (groups.get("sign") or groups.get("dir") or "").strip().lower()
    if word in IN_WORDS:
        return "in"
    if word in OUT_WORDS:
        return "out"
    return family.direction


def _reference(groups: dict[str, str | None], family: Family) -> str | None:
    if groups.get("ref"):
        return groups["ref"]
    memo = groups.get("memo")
    if family.ref is None or not memo:
        return None
    m = family.ref.search(memo)
    return family.ref_format.format(m.group(0), *m.groups()) if m else None


def _read(bank: BankFormat, family: Family, m: re.Match[str]) -> Parsed:
    g = m.groupdict()
    direction = _direction(g, family)
    if direction is None:
        return Parsed(SPOOF, reasons.encode("parse.no_direction", bank=bank.bank, family=family.name), bank.bank,
                      family.name)
    return Parsed(
        kind=TRANSACTION, reason=reasons.encode("parse.read", bank=bank.bank, family=family.name), bank=bank.bank, family=family.name,
        direction=direction, amount=parse_amount(g.get("amount")), balance=parse_amount(g.get("balance")),
        memo=g.get("memo"), account=g.get("account"), time=g.get("time"), reference=_reference(g, family))


def banks_for(sender: str, channel: str) -> list[BankFormat]:
    return [b for b in BANKS if b.uses(sender, channel)]


def parse(sender: str, channel: str, body: str, package: str | None = None, title: str | None = None,
          accounts: tuple[tuple[str, str], ...] = (), prefix: str = "") -> Parsed:
    """What the message is. `accounts` (the receiving accounts) and `prefix` (the payment code's)
    let the generic rule read a layout no template fits; without them such a message is rejected."""
    sender = (sender or "").strip()
    body = body or ""
    if not sender:
        return Parsed(SPOOF, reasons.encode("parse.no_sender"))
    if PHONE_SENDER.match(sender):
        return Parsed(SPOOF, reasons.encode("parse.phone_sender", sender=sender))
    banks = banks_for(sender, channel)
    if not banks:
        return Parsed(UNKNOWN, reasons.encode("parse.unknown_sender", sender=sender, channel=channel))
    for bank in banks:
        if channel == "app_notification" and bank.packages and package and package not in bank.packages:
            return Parsed(SPOOF, reasons.encode("parse.package", package=package, bank=bank.bank), bank.bank)
    if LINK.search(body):
        return Parsed(SPOOF, reasons.encode("parse.link"), banks[0].bank)
    if FORWARDED.match(body):
        return Parsed(SPOOF, reasons.encode("parse.forwarded"), banks[0].bank)
    if PAYER_RECEIPT.search(body):
        return Parsed(SPOOF, reasons.encode("parse.payer_receipt"), banks[0].bank)
    for bank in banks:
        for kind, pattern in bank.non_transactions:
            if pattern.search(body):
                return Parsed(kind, reasons.encode("parse.not_money", bank=bank.bank, kind=reasons.encode(f"parse.kind.{kind}")),
                              bank.bank)
    candidates = [(b, f) for b in banks for f in b.families if not f.senders or sender in f.senders]
    for bank, family in candidates:
        if channel in family.channels:
            m = family.pattern.match(body)
            if m is not None:
                return _read(bank, family, m)
    for bank, family in candidates:
        if channel not in family.channels and family.pattern.match(body):
            return Parsed(SPOOF, reasons.encode("parse.wrong_channel", bank=bank.bank, family=family.name, channel=channel),
                          bank.bank, family.name)
    why = ""
    for bank in banks:
        reading = generic.read(bank.bank, body, accounts, prefix) if accounts and prefix else \
            reasons.encode("parse.no_accounts")
        if isinstance(reading, generic.Reading):
            return Parsed(kind=TRANSACTION, reason=reasons.encode("parse.generic", bank=bank.bank), bank=bank.bank,
                          family=generic.GENERIC, direction=reading.direction, amount=reading.amount,
                          balance=reading.balance, memo=body, account=reading.account, time=reading.time,
                          doubts=reading.doubts)
        why = why or reading
    return Parsed(SPOOF, reasons.encode("parse.no_template", bank=banks[0].bank, why=why), banks[0].bank,
                  generic.UNKNOWN)
