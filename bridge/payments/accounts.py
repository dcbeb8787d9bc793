"""Receiving accounts as banks print them.

The configuration (BANK_ACCOUNTS, or TRANSFER_BANK + TRANSFER_ACCOUNT) stores each account's
full number; a bank's message prints it in one of three forms:

* the full number (`0181003749261`, `4417203-001`): equal digit for digit (separators aside);
* masked (`312xxx6051`, `108...8949`, `03xxx492`, `**3317`): the visible leading and trailing
  digits agree with the configured number, which is longer than what is visible. A bank does not
  keep one hidden character per digit (MB masks 13 digits as `0561xxxx7720`), so the mask's
  length says nothing;
* a bare tail with no mask at all (VietBank's `TK VND 83637`): the configured number ends with
  these digits.

A partial form (masked or bare tail) must show at least `MIN_VISIBLE` digits and name exactly
one configured account of that bank: when two configured accounts of the bank fit it, which one
was credited is not known, and it is not read as either (the credit waits for a person with
that reason). Visible digits that disagree never match.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .. import reasons
from ..reasons import N_

MASK = re.compile(r"^(\d*)(?:[xX]+|\*+|\.{3}|…)(\d*)$")
BARE = re.compile(r"^\d+$")
MIN_VISIBLE = 4   # digits a masked form or a bare tail must show: three would fit one account in a hundred
NONE_CONFIGURED = "account.none_configured"
reasons.register({
    NONE_CONFIGURED: N_("no %(bank)s account is configured"),
    "account.few_visible": N_("the masked form %(text)s shows %(visible)s digits, fewer than %(min)s"),
    "account.visible_differ": N_("the visible digits of %(text)s agree with no configured %(bank)s account"),
    "account.short_tail": N_("%(text)s is too short to name an account: a bare tail needs at least %(min)s digits"),
    "account.unknown": N_("%(text)s is neither a configured %(bank)s account nor the last digits of one"),
    "account.several": N_("%(text)s fits %(n)s configured %(bank)s accounts (%(accounts)s): which one was credited "
                          "is not known"),
})


@dataclass(frozen=True)
class Named:
    """Which configured account a printed form names: `configured`, or None and `why` not (an
    encoded reason, bridge/reasons.py)."""
    configured: str | None
    why: str = ""


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _plain(text: str) -> str:
    return re.sub(r"[^\dA-Za-z]", "", text)


def name_account(printed: str, bank: str | None, accounts: tuple[tuple[str, str], ...]) -> Named:
    """The configured account of `bank` that `printed` names, or why none does."""
    mine = list(dict.fromkeys(acct for b, acct in accounts if b == bank))
    if not mine:
        return Named(None, reasons.encode(NONE_CONFIGURED, bank=bank))
    text = printed.strip()
    mask = MASK.match(text)
    if mask:
        head, tail = mask.groups()
        visible = len(head) + len(tail)
        if visible < MIN_VISIBLE:
            return Named(None, reasons.encode("account.few_visible", text=text, visible=visible, min=MIN_VISIBLE))
        fits = [a for a in mine if visible < len(_digits(a)) and _digits(a).startswith(head) and _digits(a).endswith(tail)]
        if not fits:
            return Named(None, reasons.encode("account.visible_differ", text=text, bank=bank))
    else:
        fits = [a for a in mine if _plain(a) == _plain(text)]
        bare = bool(BARE.match(text))
        if bare and len(text) >= MIN_VISIBLE:
            fits += [a for a in mine if len(text) < len(_digits(a)) and _digits(a).endswith(text) and a not in fits]
        if not fits and bare and len(text) < MIN_VISIBLE:
            return Named(None, reasons.encode("account.short_tail", text=text, min=MIN_VISIBLE))
        if not fits:
            return Named(None, reasons.encode("account.unknown", text=text, bank=bank))
    if len(fits) > 1:
        return Named(None, reasons.encode("account.several", text=text, n=len(fits), bank=bank,
                                          accounts=", ".join(fits)))
    return Named(fits[0])
