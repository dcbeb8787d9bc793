"""One transfer, seen by several sources: what identifies it across them.

A shop may hear of the same credit from its phone (bank SMS, app notification), from a
bank-data service (SePay, Casso) and from a payment gateway (payOS). Each prints it differently:
a masked or full account, the balance or not, a reference in its own format, the bank's time to
the minute or the second. Two records are the same transfer when the bank, the receiving
account and the amount agree and a fact that only one transfer can have agrees too: the balance
after it, or the bank's reference. Without such a fact (no balance, no reference on one side)
the same amount, memo and minute make them only *probably* one transfer: a person decides.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from .. import reasons
from ..bank_registry import bank_name
from ..reasons import N_
from .parsers import TRANSACTION, Parsed
from .phrases import joined

# How far apart two sources may date one transfer. Bank SMS print the minute (some only the
# date); a service may stamp its own receipt time; Casso's push is documented as minutes late.
SAME_BANK_TIME = 20 * 60          # both give the bank's time
SAME_ARRIVAL = 60 * 60            # one of them gives none: compared on when each reached us
PROBABLY_SAME = 3 * 60            # nothing to compare but amount and memo: this close, or not at all

DATE_TIME = re.compile(
    r"(?:(?P<h1>\d{1,2})[:h](?P<m1>\d{2})(?::(?P<s1>\d{2}))?p?[ ,;]*)?"
    r"(?P<d>\d{1,2})[/\-. ](?P<mo>\d{1,2})(?:[/\-. ](?P<y>\d{4}|\d{2})(?![:h\d]))?"
    r"(?:[ ;,T]+(?P<h2>\d{1,2})[:h](?P<m2>\d{2})(?::(?P<s2>\d{2}))?)?")
ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$")


def bank_time(printed: str | None, arrived: float, tz: str) -> float | None:
    """The bank's own time of a transfer as Unix seconds, from what a message printed (any of
    the layouts the bank templates capture: "11-09-2025 08:47:13", "10:05 03/10/2025",
    "04/10/25;12:15", "10h15p 08/10"), read in the shop's time zone. A date without a time is no
    time (None: arrival is compared instead); a date without a year takes the year that puts it
    nearest before its arrival."""
    text = (printed or "").strip()
    if not text:
        return None
    zone = ZoneInfo(tz)
    m = ISO.match(text)
    if m:
        y, mo, d, h, mi, sec = (int(x or 0) for x in m.groups())
        return _epoch(y, mo, d, h, mi, sec, zone)
    m = DATE_TIME.search(text)
    if m is None:
        return None
    h, mi, sec = (m["h1"], m["m1"], m["s1"]) if m["h1"] else (m["h2"], m["m2"], m["s2"])
    if h is None:
        return None
    d, mo = int(m["d"]), int(m["mo"])
    arrival = datetime.fromtimestamp(arrived, zone)
    if m["y"]:
        y = int(m["y"]) + (2000 if len(m["y"]) == 2 else 0)
        return _epoch(y, mo, d, int(h), int(mi), int(sec or 0), zone)
    at = _epoch(arrival.year, mo, d, int(h), int(mi), int(sec or 0), zone)
    if at is not None and at > arrived + 86_400:
        at = _epoch(arrival.year - 1, mo, d, int(h), int(mi), int(sec or 0), zone)
    return at


def _epoch(y: int, mo: int, d: int, h: int, mi: int, sec: int, zone: ZoneInfo) -> float | None:
    try:
        return datetime(y, mo, d, h, mi, sec, tzinfo=zone).timestamp()
    except ValueError:
        return None   # a date no calendar has: no time rather than a wrong one


def account_tail(account: str | None) -> str | None:
    """The last four digits a printed account shows (full, masked `108...8949`, bare `83637`):
    what every form of one account has in common."""
    m = re.search(r"(\d{4})\D*$", account or "")
    return m.group(1) if m and re.search(r"\d$", account or "") else None


def ref_key(reference: str | None) -> str | None:
    """A reference as compared across sources: letters and digits only, upper case."""
    key = re.sub(r"[^0-9A-Za-z]", "", reference or "").upper()
    return key or None


def refs_agree(a: str, b: str) -> bool:
    """Two sources' references of one transfer: equal, one inside the other (SePay's
    `MBVCB.3278907687` in an SMS's `Ref MBVCB.3278907687.DH20101`), or the same long digit run."""
    if a == b or (min(len(a), len(b)) >= 6 and (a in b or b in a)):
        return True
    digits_a, digits_b = set(re.findall(r"\d{8,}", a)), set(re.findall(r"\d{8,}", b))
    return bool(digits_a & digits_b)


def same_format(a: str, b: str) -> bool:
    """Whether two references are written the same way (the same leading letters: `MBVCB…` and
    `MBVCB…`, `FT…` and `FT…`), so that unequal ones name two transfers. Sources write one
    transfer's reference in their own formats (Casso's `FT24364…` for an SMS's `MBVCB.…`): those
    are not compared."""
    return re.match(r"[A-Z]*", a).group(0) == re.match(r"[A-Z]*", b).group(0)


def memo_key(memo: str | None) -> str:
    return re.sub(r"[^0-9A-Z]", "", (memo or "").upper())


@dataclass(frozen=True)
class Seen:
    """What one record says about a transfer, as compared with another source's record."""
    id: int
    source: str
    account_tail: str | None
    balance: int | None          # None also when implausible (below the amount credited: SePay's 0)
    ref_key: str | None
    bank_time: float | None
    event_at: float
    memo: str | None
    codes: tuple[int, ...] = ()  # the order numbers its memo names


SAME_MINUTES = 5 * 60            # the bank's times of one transfer, as two sources give them
BALANCE, REFERENCE, CODE, TIME = "balance after", "bank reference", "payment code", "bank time"
reasons.register({
    "transfer.fact.balance after": N_("balance after"), "transfer.fact.bank reference": N_("bank reference"),
    "transfer.fact.payment code": N_("payment code"), "transfer.fact.bank time": N_("bank time"),
    "transfer.same": N_("the same amount and %(agree)s"),
    "transfer.probably": N_("the same %(agree)s but not the same %(differ)s"),
    "transfer.memo": N_("the same amount and memo within minutes, but no balance or reference to compare"),
    "transfer.from_source": N_("%(source)s transaction"),
})


def _said(facts: list[str]) -> str:
    """Facts as an encoded reason: "balance after and bank reference"."""
    return joined(reasons.encode(f"transfer.fact.{f}") for f in facts)


def plausible_balance(balance: int | None, amount: int | None) -> int | None:
    """A balance after a credit is at least the credit; anything less (a source's 0 for "not
    known") is no balance at all, not a fact to compare."""
    return balance if balance is not None and amount is not None and balance >= amount > 0 else None


def _facts(new: Seen, old: Seen) -> tuple[list[str], list[str]]:
    """The facts two records both give, split into those that agree and those that do not."""
    agree: list[str] = []
    differ: list[str] = []
    if new.balance is not None and old.balance is not None:
        (agree if new.balance == old.balance else differ).append(BALANCE)
    if new.ref_key and old.ref_key:
        same = refs_agree(new.ref_key, old.ref_key)
        if same or same_format(new.ref_key, old.ref_key):
            (agree if same else differ).append(REFERENCE)
    if new.codes and old.codes:
        (agree if set(new.codes) == set(old.codes) else differ).append(CODE)
    if new.bank_time is not None and old.bank_time is not None and abs(new.bank_time - old.bank_time) > SAME_MINUTES:
        differ.append(TIME)
    return agree, differ


def same_transfer(new: Seen, old: Seen) -> tuple[str, str] | None:
    """("same" | "probably", why: an encoded reason) when `old` (another source's record of a credit with the same
    bank and amount, dated near `new`) is the same transfer, else None.

    "same" needs a fact only one transfer has (the balance after it, the bank's reference) to
    agree and no fact to disagree. Facts that agree and facts that disagree at once make it a
    person's call ("probably"); only disagreeing facts, two transfers."""
    if new.account_tail and old.account_tail and new.account_tail != old.account_tail:
        return None
    if new.bank_time is not None and old.bank_time is not None and abs(new.bank_time - old.bank_time) > SAME_BANK_TIME:
        return None
    if abs(new.event_at - old.event_at) > (SAME_BANK_TIME if new.bank_time and old.bank_time else SAME_ARRIVAL):
        return None
    agree, differ = _facts(new, old)
    strong = [f for f in agree if f != CODE]
    if strong and not differ:
        return "same", reasons.encode("transfer.same", agree=_said(agree))
    if strong:
        return "probably", reasons.encode("transfer.probably", agree=_said(agree), differ=_said(differ))
    if differ:
        return None
    if memo_key(new.memo) and memo_key(new.memo) == memo_key(old.memo) and abs(new.event_at - old.event_at) <= PROBABLY_SAME:
        return "probably", reasons.encode("transfer.memo")
    return None


def proven_different(a: Seen, b: Seen) -> bool:
    """Whether two credits of one order are surely two transfers, not one reported by two
    sources: another account, or a balance, reference or bank time that differs while nothing
    only one transfer has agrees."""
    if a.source == b.source:
        return True     # one source reports one transfer once (its id, or the text's fingerprint)
    if a.account_tail and b.account_tail and a.account_tail != b.account_tail:
        return True
    agree, differ = _facts(a, b)
    # a balance or reference that agrees outweighs a bank time read an hour off (a time zone)
    return bool(differ) and not [f for f in agree if f != CODE]


def bank_of(name: str, account: str, accounts: tuple[tuple[str, str], ...]) -> str:
    """Our name for the bank a provider names ("MBB", "Vietcombank"), or, when it names none
    (Casso's v1 push), the bank of the one configured account it was paid to; else as given."""
    try:
        return bank_name(name or "")
    except ValueError:
        pass
    digits = re.sub(r"\D", "", account or "")
    owners = {bank for bank, acct in accounts if digits and re.sub(r"\D", "", acct) == digits}
    return owners.pop() if len(owners) == 1 else (name or "")


def parsed_from_fields(source: str, fields: Mapping[str, Any], accounts: tuple[tuple[str, str], ...],
                       tz: str) -> Parsed:
    """A provider's transaction record as the payment rules read a bank message: already a
    transaction (the provider is the bank's data, authenticated by its provider), with the
    facts it gave."""
    printed = None
    if fields.get("bank_time") is not None:
        printed = datetime.fromtimestamp(float(fields["bank_time"]), ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")
    return Parsed(kind=TRANSACTION, reason=reasons.encode("transfer.from_source", source=source), family=source,
                  bank=bank_of(str(fields.get("bank") or ""), str(fields.get("account") or ""), accounts),
                  direction="in" if fields.get("direction") == "in" else "out", amount=int(fields.get("amount") or 0),
                  balance=fields.get("balance"), memo=str(fields.get("memo") or ""),
                  account=str(fields.get("account") or "") or None, time=printed,
                  reference=str(fields.get("reference") or "") or None)

