"""Orders a transfer waiting for a person may pay, ranked with their reasons: a help, never a
decision.

A credit without a usable code (`no_code`, `ambiguous`), to an account that is not configured
(`wrong_account`) or naming an order that is paid already (`already_paid`) waits for a person.
To spare them a search, the orders awaiting payment it could be meant for are ranked by what
links them to it: the same amount (strongest), the payer's phone or name on the order, the
memo's digits holding the order number or a number one digit away from it, and an order
created shortly before the transfer. An order linked only by being recent is not suggested (the
newest orders would always be). Every candidate comes from an indexed lookup (amount, number,
phone, time first seen), so this stays cheap with 100,000 orders awaiting payment. Nothing here
confirms: the admin's one click is `review.confirm`, with every guard a person's confirmation has.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from ..phones import normalize_phone
from ..smstext import strip_diacritics
from ..store import inbox as stored_inbox, orders as stored_orders
from .handler import ALREADY_PAID, AMBIGUOUS, AWAITING, NO_CODE, WRONG_ACCOUNT
from .matcher import memo_for_codes

SAME_AMOUNT, PAYER_PHONE, PAYER_NAME, NUMBER_IN_MEMO, NUMBER_NEAR, RECENT = (
    "same_amount", "payer_phone", "payer_name", "number_in_memo", "number_near", "recent")
# The same amount outweighs any other single link; two weaker links together (name and digits)
# may outrank an amount alone. RECENT only orders candidates that something else links.
WEIGHTS = {SAME_AMOUNT: 50, PAYER_PHONE: 35, PAYER_NAME: 25, NUMBER_IN_MEMO: 25, NUMBER_NEAR: 15, RECENT: 10}
SUGGESTED_FOR = (NO_CODE, AMBIGUOUS, WRONG_ACCOUNT, ALREADY_PAID)
RECENT_SECONDS = 3 * 86_400   # "recent": created at most this long before the transfer
CLOCK_SLACK = 600             # ... or up to this long after it (the bank's and the shop's clocks differ)
PER_LOOKUP = 50               # candidates each lookup brings at most
# Digit runs read from a memo: order numbers have 3 to 12 digits; a run longer than MAX_RUN (a
# bank reference) is read only up to it, and a memo gives at most MAX_KEYS numbers to look up.
MIN_DIGITS, MAX_DIGITS, MAX_RUN, MAX_KEYS = 3, 12, 20, 1500


@dataclass(frozen=True)
class Suggestion:
    order_id: int
    number: str
    total: int
    score: int
    reasons: tuple[str, ...]   # codes of WEIGHTS, strongest first; the admin says them in Vietnamese
    customer: str = ""


def suggest(db: Any, tx: Mapping[str, Any], limit: int = 3) -> list[Suggestion]:
    """The orders awaiting payment `tx` (a transactions row) may pay, best first, at most `limit`."""
    if tx["decision"] not in SUGGESTED_FOR or tx["direction"] != "in":
        return []
    when, payer = _arrival(db, tx)
    memo = tx["memo"] or ""
    phones, runs = _phones_and_runs(memo, payer)
    inside, near = _numbers(runs)
    amount = tx["amount"] or 0
    found: dict[int, Mapping[str, Any]] = {}
    for rows in (stored_orders.awaiting_by_amount(db, amount, AWAITING, PER_LOOKUP) if amount else [],
                 stored_orders.awaiting_by_numbers(db, sorted(inside | near), AWAITING) if inside or near else [],
                 stored_orders.awaiting_by_phones(db, sorted(phones), AWAITING, PER_LOOKUP),
                 stored_orders.awaiting_seen_between(db, when - RECENT_SECONDS, when + CLOCK_SLACK, AWAITING,
                                                     PER_LOOKUP)):
        for r in rows:
            found.setdefault(r["id"], r)
    words = _words(f"{memo} {payer}")
    ranked = []
    for o in found.values():
        reasons = [why for why, holds in (
            (SAME_AMOUNT, bool(amount) and o["total_minor"] == amount),
            (PAYER_PHONE, bool(o["phone_e164"]) and o["phone_e164"] in phones),
            (PAYER_NAME, _name_in(o["customer_name"], words)),
            (NUMBER_IN_MEMO, o["number"] in inside),
            (NUMBER_NEAR, o["number"] in near and o["number"] not in inside),
            (RECENT, when - RECENT_SECONDS <= _created(o) <= when + CLOCK_SLACK)) if holds]
        if reasons and reasons != [RECENT]:
            ranked.append(Suggestion(o["id"], o["number"] or str(o["id"]), o["total_minor"] or 0,
                                     sum(WEIGHTS[r] for r in reasons), tuple(reasons), o["customer_name"] or ""))
    ranked.sort(key=lambda s: (-s.score, -s.order_id))
    return ranked[:limit]


def _arrival(db: Any, tx: Mapping[str, Any]) -> tuple[float, str]:
    """When the transfer was made (the bank's time, else when it reached us), and the payer a
    structured source named (empty for a text, or when the source gave none)."""
    row = stored_inbox.when_and_fields(db, tx["inbox_id"]) if tx["inbox_id"] else None
    when = (tx["event_at"] if "event_at" in tx.keys() else None) or (row["received_at"] if row else None) \
        or tx["created_at"] or 0.0
    payer = ""
    if row and row["fields"]:
        try:
            fields = json.loads(row["fields"])
        except ValueError:
            fields = None
        if isinstance(fields, dict) and isinstance(fields.get("payer"), str):
            payer = fields["payer"][:200]
    return float(when), payer


def _phones_and_runs(memo: str, payer: str) -> tuple[set[str], list[str]]:
    """Phone numbers (E.164) written in the memo or the payer, and the memo's other digit runs
    (a phone number is not an order number; the payer's digits are an account, never a code)."""
    phones: set[str] = set()
    runs: list[str] = []
    for text, codes in ((memo_for_codes(memo), True), (memo_for_codes(payer), False)):
        for run in re.findall(r"\+?[0-9]+", text):
            digits = run.lstrip("+")
            if 9 <= len(digits) <= 12:
                phone = normalize_phone(run)
                if phone.ok:
                    phones.add(phone.e164)
                    continue
            if codes:
                runs.append(digits[:MAX_RUN])
    return phones, runs


def _numbers(runs: Iterable[str]) -> tuple[set[str], set[str]]:
    """Order numbers the memo's digits contain, and numbers one edit (a digit changed, missing or
    extra) away from a whole run: what a customer mistyping the code may have meant."""
    inside: set[str] = set()
    near: set[str] = set()
    for run in runs:
        for size in range(MIN_DIGITS, min(MAX_DIGITS, len(run)) + 1):
            inside.update(run[i:i + size] for i in range(len(run) - size + 1) if run[i] != "0")
        if MIN_DIGITS <= len(run) <= MAX_DIGITS:
            near.update(_one_edit(run))
        if len(inside) + len(near) > MAX_KEYS:
            break
    return inside, {n for n in near if MIN_DIGITS <= len(n) and not n.startswith("0")} - inside


def _one_edit(run: str) -> set[str]:
    digits = "0123456789"
    out = {run[:i] + run[i + 1:] for i in range(len(run))}
    out |= {run[:i] + d + run[i + 1:] for i in range(len(run)) for d in digits if d != run[i]}
    out |= {run[:i] + d + run[i:] for i in range(len(run) + 1) for d in digits}
    out.discard(run)
    return out


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Z]+", strip_diacritics(text).upper()))


def _name_in(name: str | None, words: set[str]) -> bool:
    """Every word of the customer's name (at least two) among the words of memo and payer,
    diacritics folded and in any order: "Văn An Nguyễn" in "NGUYEN VAN AN chuyen tien"."""
    parts = _words(name or "")
    return len(parts) >= 2 and parts <= words


def _created(order: Mapping[str, Any]) -> float:
    """When the shop created the order (its date_created_gmt), else when we first saw it."""
    text = order["created"]
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text[:19]).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    return float(order["first_seen_at"] or 0.0)
