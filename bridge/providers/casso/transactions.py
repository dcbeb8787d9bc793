"""One Casso transaction, in any of the shapes Casso sends it, as our BankTransaction.

Three shapes carry the same transaction (and the same Casso `id`):
- Webhook v1: snake_case (`tid`, `cusum_balance`, `when`, `bank_sub_acc_id`; the official sample
  names the account `subAccId`), no bank name;
- Webhook v2: camelCase (`reference`, `runningBalance`, `transactionDateTime`, `accountNumber`,
  `bankName`, `counterAccount*`);
- the API's transaction list (reconcile): `tid`, `cusum_balance` or `cusumBalance`, `when`,
  `bankSubAccId`, `bankCodeName`, `corresponsive*`.
Each field is read from whichever name is present, so one reading serves all three."""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ...bank_registry import bank_name
from ...events import Acknowledged, BankTransaction
from ..base import Refused
from ..common import AHEAD, EARLIEST

SOURCE = "casso"
# Casso and the banks it reads print Vietnamese local time, whatever the shop's TIMEZONE says.
BANK_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

REFERENCE = ("reference", "tid")
BALANCE = ("runningBalance", "cusum_balance", "cusumBalance")
TIME = ("transactionDateTime", "when")
ACCOUNT = ("accountNumber", "bank_sub_acc_id", "bankSubAccId", "subAccId")
BANK = ("bankName", "bankAbbreviation", "bank_name", "bank_abbr", "bankCodeName")
VIRTUAL = ("virtualAccountNumber", "virtualAccount", "virtual_account")
PAYER_NAME = ("counterAccountName", "corresponsiveName", "corresponsive_name")
PAYER_ACCOUNT = ("counterAccountNumber", "corresponsiveAccount", "corresponsive_account")
PAYER_BANK = ("counterAccountBankName", "corresponsiveBankName", "corresponsive_bank_name")


def _first(item: dict[str, Any], names: tuple[str, ...], where: str) -> str:
    """The first of `names` given as text (or a number), stripped; "" when none is."""
    for name in names:
        value = item.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise Refused(400, f"{where}.{name} must be text")
        if str(value).strip():
            return str(value).strip()
    return ""


def _whole(value: Any, what: str) -> int:
    """A JSON number that is a whole number of dong (Casso sends amounts as numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (isinstance(value, float) and not value.is_integer()) or abs(value) >= 10**15:
        raise Refused(400, f"{what} must be a whole number of VND, got {str(value)[:30]!r}")
    return int(value)


def _bank_time(text: str, where: str) -> float | None:
    """Unix seconds of the bank's booking time, or None when only a day is given (`when`:
    "2021-04-15", or the API's "2021-04-15T00:00:00", which is the same day without a time)."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        raise Refused(400, f"{where} {text[:40]!r} is not a time (YYYY-MM-DD HH:MM:SS)") from None
    if len(text) <= 10 or (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0):
        return None
    at = (t if t.tzinfo else t.replace(tzinfo=BANK_TZ)).timestamp()
    if not EARLIEST <= at <= time.time() + AHEAD:   # stored, an impossible time breaks the pages showing it
        raise Refused(400, f"{where} {text[:40]!r} is not a plausible time (before 2000 or more than a day ahead)")
    return at


def bank_as_named(names: list[str]) -> str:
    """The bank the money reached, as Casso names it: the first of its names our bank registry
    knows (V2 `bankName` "MBBank", or `bankAbbreviation`), else the first it gave. v1 names no
    bank and the API gives its own code ("acb_digi"): then the core takes the bank of the one
    account in BANK_ACCOUNTS with that number (`payments.transfer.bank_of`); with no such account
    the payment rules hold the credit as "wrong account" instead of confirming it."""
    for name in names:
        try:
            return bank_name(name)
        except ValueError:
            continue
    return names[0] if names else ""


def to_event(item: Any, where: str) -> BankTransaction | Acknowledged:
    """One transaction object as a BankTransaction, or Acknowledged for Casso's test transaction
    ("Gọi thử" sends `id` 0): answered, never booked. `where` names it in a refusal ("data[2]")."""
    if not isinstance(item, dict):
        raise Refused(400, f"{where} must be a JSON object (one transaction)")
    tid = item.get("id")
    if isinstance(tid, str) and tid.strip().isascii() and tid.strip().isdigit():
        tid = int(tid)
    if isinstance(tid, bool) or not isinstance(tid, int) or tid < 0:
        raise Refused(400, f"{where}.id (Casso's transaction id) must be a whole number")
    if tid == 0:
        return Acknowledged(SOURCE, "test transaction (id 0): not booked", ignored=True)
    if "amount" not in item:
        raise Refused(400, f"{where}.amount is required")
    signed = _whole(item["amount"], f"{where}.amount")
    if signed == 0:
        raise Refused(400, f"{where}.amount is 0: not a transfer")
    description = item.get("description")
    if description is not None and not isinstance(description, str):
        raise Refused(400, f"{where}.description must be text")
    balance_name = next((n for n in BALANCE if item.get(n) not in (None, "")), None)
    balance = _whole(item[balance_name], f"{where}.{balance_name}") if balance_name else None
    time_name = next((n for n in TIME if item.get(n) not in (None, "")), TIME[0])
    account = _first(item, ACCOUNT, where)
    banks = [b for b in (_first(item, (n,), where) for n in BANK) if b]
    payer_bank = _first(item, PAYER_BANK, where)
    payer = " ".join(x for x in (_first(item, PAYER_NAME, where), _first(item, PAYER_ACCOUNT, where)) if x)
    if payer and payer_bank:
        payer += f" ({payer_bank})"
    return BankTransaction(
        source=SOURCE, external_id=str(tid), bank=bank_as_named(banks), account=account,
        direction="out" if signed < 0 else "in", amount=abs(signed), memo=description or "", raw=item,
        reference=_first(item, REFERENCE, where), balance=balance,
        bank_time=_bank_time(_first(item, (time_name,), where), f"{where}.{time_name}"),
        payer=payer, virtual_account=_first(item, VIRTUAL, where))


def from_body(body: dict[str, Any]) -> list[BankTransaction | Acknowledged]:
    """A webhook body, v1 (`data` a list) or v2 (`data` one object), as events. A non-zero
    `error` is Casso saying something went wrong on its side: acknowledged, nothing booked."""
    error = body.get("error", 0)
    if isinstance(error, bool) or not isinstance(error, int):
        raise Refused(400, "field 'error' must be a number (0 when the data is good)")
    if error != 0:
        return [Acknowledged(SOURCE, f"error {error} from Casso: nothing booked", ignored=True)]
    data = body.get("data")
    if isinstance(data, dict):
        return [to_event(data, "data")]
    if isinstance(data, list):
        if not data:
            return [Acknowledged(SOURCE, "no transactions", ignored=True)]
        return [to_event(item, f"data[{i}]") for i, item in enumerate(data)]
    raise Refused(400, "field 'data' must be a transaction (Webhook v2) or a list of them (Webhook v1)")
