"""A payment payOS reports (its webhook's `data`, or one of a link's `transactions[]` when
reconcile finds a webhook we missed) as our BankTransaction.

Both carry the link id and the bank's reference, so both give the same `external_id`
(`<paymentLinkId>:<reference>`): a late webhook after reconcile (or the other way round) is the
same event, stored once.

`bank`: payOS pays into the shop's own bank account (the one linked in my.payos.vn), which must be
one of BANK_ACCOUNTS for the payment handler's receiving-account check. payOS names the account
(`accountNumber`) but not its bank, so the bank is the one BANK_ACCOUNTS (or TRANSFER_BANK/
TRANSFER_ACCOUNT) gives that account; failing that, the bank whose NAPAS BIN payOS gave when the
link was made; failing that "payOS", which no receiving account has, so a person looks at it."""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from ...bank_registry import BINS
from ...events import BankTransaction
from ...payments.transfer import bank_of
from ..common import AHEAD, EARLIEST

PAYOS_TIME = ZoneInfo("Asia/Ho_Chi_Minh")   # payOS prints Vietnam's local time ("2023-02-04 18:25:00")
BANK_OF_BIN = {b: name for name, b in BINS.items()}


def receiving_bank(settings: Any, account: str, bin_: str | None) -> str:
    """The bank of the configured account payOS paid into, else the bank of the link's BIN, else
    "payOS" (no configured account has it: the credit waits for a person)."""
    return bank_of("", account, settings.receiving_accounts) or BANK_OF_BIN.get(bin_ or "", "payOS")


def bank_time(value: Any) -> float | None:
    """payOS's transactionDateTime as Unix seconds (Vietnam time unless it carries an offset)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    at = (t if t.tzinfo else t.replace(tzinfo=PAYOS_TIME)).timestamp()
    # a moment no payment has (year 1, next year): no bank time rather than a wrong one
    return at if EARLIEST <= at <= time.time() + AHEAD else None


def bank_transaction(settings: Any, link: Mapping[str, Any], tx: Mapping[str, Any], link_id: str) -> BankTransaction:
    """`link`: our row for the payment link (its order number becomes the order hint, signed by
    payOS through the orderCode we gave that link); `tx`: payOS's fields for one payment."""
    account = str(tx.get("accountNumber") or "")
    payer = " ".join(str(tx.get(k) or "") for k in ("counterAccountName", "counterAccountNumber",
                                                     "counterAccountBankName")).split()
    return BankTransaction(
        source="payos", external_id=f"{link_id}:{tx.get('reference') or ''}",
        bank=receiving_bank(settings, account, link["bin"]), account=account, direction="in",
        amount=int(tx["amount"]), memo=str(tx.get("description") or ""), raw=dict(tx),
        reference=str(tx.get("reference") or ""), bank_time=bank_time(tx.get("transactionDateTime")),
        order_hint=str(link["number"]), payer=" ".join(payer),
        virtual_account=str(tx.get("virtualAccountNumber") or ""))
