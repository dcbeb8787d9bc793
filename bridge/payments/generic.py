"""The per-bank generic rule: a genuine bank's message whose layout fits none of its templates.

Banks change their wording (`So du` becomes `SD`, a field moves) without notice; until the
template is updated, such a message would be rejected like a spoof and the customer's payment
would wait unseen. The generic rule reads it instead when, and only when, it is unambiguous:

* it came from one of the bank's sender IDs for its channel and passed every check that comes
  before the templates (app package, no link, not forwarded, not a payer's receipt, not an OTP,
  promo or notice): `parsers.parse` calls this rule last;
* it prints exactly one signed amount with a money unit (`+415,000VND`, `(+) 673,000 VND`,
  `+ VND 2,876,000`); an unsigned figure is never an amount, and a signed figure after a balance
  label (`So du: +22,431,118VND`) is a balance;
* its first labelled account (`TK`, `STK`, `Tai khoan`, `Account`, maybe followed by one short
  word: `TK VCB`, `TK VND`, `TK so`) names a configured account of that bank in a form banks print (`payments/accounts.py`);
* a credit carries something that reads as a payment code (a debit needs none: it is only
  recorded as money out).

A reading keeps the doubts a person should see (two balances, another money figure that could
be the amount). Whatever it reads, the handler decides it no stronger than review
(`unknown_layout`, see `review_reason`): the template is half of a message's proof of origin
(a sender ID can be forged by a fake base station), and every other check (the account, the
code, the total) uses what the shop publishes on its pay page.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import reasons
from ..money import format_vnd
from ..reasons import N_
from ..smstext import strip_diacritics
from ..store import reports
from .accounts import name_account
from .matcher import CodeReading, read_codes
from .phrases import SEMICOLON, joined

GENERIC = "generic"   # the family of a message read by this rule
UNKNOWN = "unknown"   # the family of a genuine sender's message that fits no template and this rule cannot read
DRIFT_WINDOW = 30 * 86_400   # the owner's view of unknown layouts: the last 30 days
CHECKS_FAILED, CHECKS_PASS = "drift.checks_failed", "drift.checks_pass"
reasons.register({
    CHECKS_FAILED: N_("the bank's message layout is not one we know (template drift): read by the generic rule, "
                      "a person confirms; safety checks failed: %(failed)s"),
    CHECKS_PASS: N_("the bank's message layout is not one we know (template drift): read by the generic rule, "
                    "a person confirms; every safety check passes (%(pay_code)s awaits exactly this amount), but an "
                    "unknown layout does not prove the bank sent it"),
    "drift.no_signed_amount": N_("no signed amount with a money unit"),
    "drift.signed_amounts": N_("%(n)s signed amounts"),
    "drift.no_account": N_("no account printed"),
    "drift.no_code": N_("no payment code (%(prefix)s + order number)"),
    "drift.balances": N_("%(n)s balances printed"),
    "drift.other_figure": N_("another money figure (%(figures)s) could be the amount"),
    "drift.not_one_code": N_("not exactly one usable payment code"),
    "drift.unknown_order": N_("%(pay_code)s names no known order"),
    "drift.not_awaiting": N_("order %(number)s is not awaiting payment (%(why)s)"),
    "drift.not_total": N_("%(amount)s is not order %(number)s's total %(total)s"),
    # why an order is not awaiting payment (handler.not_awaiting)
    "drift.why.paid": N_("paid"), "drift.why.deleted": N_("deleted"), "drift.why.status": N_("status"),
})

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:\.\d{3})+|\d+)"
_UNIT = r"(?:VND|d)(?![A-Za-z])"
_FREE = r"(?<![\w.,+-])"   # a sign that is not the hyphen of DH-20130 or of a date
SIGNED = tuple(re.compile(p, re.IGNORECASE) for p in (
    _FREE + rf"(?P<sign>[+-]) ?(?P<num>{_NUM}) ?{_UNIT}",           # +415,000VND, -2,230,000 VND
    rf"\((?P<sign>[+-])\) ?(?P<num>{_NUM}) ?{_UNIT}",               # (+) 673,000 VND
    _FREE + rf"(?P<sign>[+-]) ?{_UNIT} ?(?P<num>{_NUM})(?!\d)",    # + VND 2,876,000
    rf"VND ?\((?P<sign>[+-])\) ?(?P<num>{_NUM})(?!\d)",             # VND (+) 1.343.000
))
FIGURE = re.compile(rf"(?<![\d.,])(?:\d{{1,3}}(?:,\d{{3}})+|\d{{1,3}}(?:\.\d{{3}})+)(?!\d|[.,]\d)"
                    rf"|(?<![\d.,])\d+(?= ?{_UNIT})", re.IGNORECASE)
BALANCE_LABEL = re.compile(r"(?<![A-Za-z])(?:so du|sd|sdc|sodu|balance)"
                           r"(?: (?:kha dung|cuoi|dau|hien tai|hien thoi|tk sau gd|tinh den))*(?: la)?"
                           r"\s*[:.]?\s*(?:VND\s*)?\+?\s*$", re.IGNORECASE)
ACCOUNT = re.compile(r"(?<![A-Za-z])(?:STK|TK|tai khoan|account|acc(?: no)?)(?![A-Za-z])\.?\s*:?\s*(?:[A-Za-z]{2,5}\s+)?"
                     r"(?P<acct>\d*(?:[xX]+|\*+|\.{3})\d+|\d+(?:-\d+)?)(?!\d)", re.IGNORECASE)
_CLOCK = r"\d{1,2}[:h]\d\d(?::\d\d|p)?"
_DATE = r"\d{1,2}[/-]\d{1,2}(?:[/-]\d{2,4})?"
WHEN = re.compile(rf"(?<!\d)(?:{_CLOCK}[ ;,]+{_DATE}|{_DATE}[ ;,]+{_CLOCK}|{_DATE}|{_CLOCK})(?!\d)", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    direction: str
    amount: int
    balance: int | None
    account: str
    time: str | None
    doubts: tuple[str, ...]


def _value(num: str) -> int:
    return int(re.sub(r"[.,]", "", num))


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def read(bank: str, body: str, accounts: tuple[tuple[str, str], ...], prefix: str) -> Reading | str:
    """The generic reading of `body` as `bank`'s, or why the rule cannot read it (an encoded
    reason, like each of the reading's doubts)."""
    text = strip_diacritics(body)

    def balance_before(at: int) -> bool:
        return bool(BALANCE_LABEL.search(text[max(0, at - 40):at]))

    signed: dict[tuple[int, int], str] = {}
    balances: dict[tuple[int, int], int] = {}
    for pattern in SIGNED:
        for m in pattern.finditer(text):
            span = m.span("num")
            if balance_before(m.start()):
                balances[span] = _value(m.group("num"))
            else:
                signed[span] = m.group("sign")
    if len(signed) != 1:
        return reasons.encode("drift.no_signed_amount") if not signed else \
            reasons.encode("drift.signed_amounts", n=len(signed))
    (amount_span, sign), = signed.items()
    acct = ACCOUNT.search(text)
    if acct is None:
        return reasons.encode("drift.no_account")
    named = name_account(acct.group("acct"), bank, accounts)
    if named.configured is None:
        return named.why
    codes = read_codes(body, prefix)
    if sign == "+" and not (codes.orders or codes.unusable or codes.glued or codes.oversized or codes.wrapped is not None):
        return reasons.encode("drift.no_code", prefix=prefix)
    others: list[str] = []
    for m in FIGURE.finditer(text):
        span = m.span()
        if _overlaps(span, amount_span) or _overlaps(span, acct.span("acct")):
            continue
        if balance_before(m.start()):
            balances.setdefault(span, _value(m.group(0)))
        elif not any(_overlaps(span, b) for b in balances):
            others.append(m.group(0))
    doubts = []
    if len(balances) > 1:
        doubts.append(reasons.encode("drift.balances", n=len(balances)))
    if others:
        doubts.append(reasons.encode("drift.other_figure", figures=", ".join(others[:3])))
    when = WHEN.search(text)
    return Reading(direction="in" if sign == "+" else "out", amount=_value(text[slice(*amount_span)]),
                   balance=next(iter(balances.values())) if len(balances) == 1 else None,
                   account=acct.group("acct"), time=when.group(0) if when else None, doubts=tuple(doubts))


def review_reason(doubts: tuple[str, ...], amount: int, codes: CodeReading, order: Any, not_awaiting: str | None,
                  prefix: str) -> str:
    """Why a generic reading waits for a person: the safety checks that failed, or that all passed.

    The checks (README, "Template drift"): exactly one signed amount, the configured account
    printed (both already required to read it at all), at most one balance, no other money figure
    that could be the amount, exactly one usable payment code, naming an order awaiting payment,
    whose total equals the amount. Even when all pass the decision stays review. An encoded
    reason: CHECKS_FAILED with the failed checks, or CHECKS_PASS."""
    failed = list(doubts)
    if codes.single is None:
        failed.append(reasons.encode("drift.not_one_code"))
    elif order is None:
        failed.append(reasons.encode("drift.unknown_order", pay_code=f"{prefix}{codes.single}"))
    elif not_awaiting is not None:
        failed.append(reasons.encode("drift.not_awaiting", number=order["number"],
                                     why=reasons.encode(f"drift.why.{not_awaiting}")))
    elif order["total_minor"] != amount:
        failed.append(reasons.encode("drift.not_total", amount=format_vnd(amount), number=order["number"],
                                     total=format_vnd(order["total_minor"])))
    if failed:
        return reasons.encode(CHECKS_FAILED, failed=joined(failed, SEMICOLON))
    return reasons.encode(CHECKS_PASS, pay_code=f"{prefix}{order['number']}")


def unknown_layouts(db: Any, since: float = 0.0) -> dict[str, int]:
    """Messages from a genuine bank sender that no template fits (read by this rule or not) per
    bank since `since`: a bank that changed its layout shows here before its customers complain."""
    return {r["bank"] or "?": r["n"] for r in reports.layouts_by_bank(db, (GENERIC, UNKNOWN), since)}
