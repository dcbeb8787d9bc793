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

MASK = re.compile(r"^(\d*)(?:[xX]+|\*+|\.{3}|…)(\d*)$")
BARE = re.compile(r"^\d+$")
MIN_VISIBLE = 4   # digits a masked form or a bare tail must show: three would fit one account in a hundred


@dataclass(frozen=True)
class Named:
    """Which configured account a printed form names: `configured`, or None and `why` not."""
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
        return Named(None, f"no {bank} account is configured")
    text = printed.strip()
    mask = MASK.match(text)
    if mask:
        head, tail = mask.groups()
        visible = len(head) + len(tail)
        if visible < MIN_VISIBLE:
            return Named(None, f"the masked form {text} shows {visible} digits, fewer than {MIN_VISIBLE}")
        fits = [a for a in mine if visible < len(_digits(a)) and _digits(a).startswith(head) and _digits(a).endswith(tail)]
        if not fits:
            return Named(None, f"the visible digits of {text} agree with no configured {bank} account")
    else:
        fits = [a for a in mine if _plain(a) == _plain(text)]
        bare = bool(BARE.match(text))
        if bare and len(text) >= MIN_VISIBLE:
            fits += [a for a in mine if len(text) < len(_digits(a)) and _digits(a).endswith(text) and a not in fits]
        if not fits and bare and len(text) < MIN_VISIBLE:
            return Named(None, f"{text} is too short to name an account: a bare tail needs at least {MIN_VISIBLE} "
                               "digits")
        if not fits:
            return Named(None, f"{text} is neither a configured {bank} account nor the last digits of one")
    if len(fits) > 1:
        return Named(None, f"{text} fits {len(fits)} configured {bank} accounts ({', '.join(fits)}): which one was "
                           "credited is not known")
    return Named(fits[0])
