"""One SePay transaction in our words (a BankTransaction), whether the webhook pushed it or the
list-transactions API returned it: the same transaction gives the same `external_id` both ways, so
the one the reconcile job finds again is a duplicate of the one the webhook delivered.

Types are checked strictly. A payment decided from a field that is not what SePay documents
(an amount as text, a fractional dong, an id that is not a number) would be a guess; refusing it
with the field's name lets the owner see what SePay actually sent (the refusal is recorded).
"""
from __future__ import annotations

import json
import math
import time
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from ...events import BankTransaction
from ..common import AHEAD, EARLIEST

# UNCERTAIN (PAYMENT_SOURCES.md §1): SePay's payload does not say which zone `transactionDate`
# is in; its CLI filters in Vietnam time and the banks it reads are Vietnamese, so we read it
# as Vietnam local time. One constant, so a confirmed answer changes one line.
SEPAY_TIME_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"           # "2023-03-25 14:02:37"


class BadTransaction(ValueError):
    """A transaction SePay sent that we will not decide a payment from; the message names the field."""


def _id(data: dict[str, Any], name: str, text_ok: bool) -> str:
    value = data.get(name)
    if value is None:
        raise BadTransaction(f"field {name!r} (SePay's transaction id) is required")
    if isinstance(value, str) and text_ok and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise BadTransaction(f"field {name!r} must be SePay's transaction id (a positive whole number), "
                             f"not {str(value)[:40]!r}")
    return str(value)


def _dong(data: dict[str, Any], name: str, text_ok: bool, required: bool = True) -> int | None:
    """A sum of VND: a JSON number (the webhook), or a decimal text like "18067000.00" (the API)."""
    value = data.get(name)
    if value is None:
        if required:
            raise BadTransaction(f"field {name!r} (an amount in VND) is required")
        return None
    if isinstance(value, str) and text_ok:
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise BadTransaction(f"field {name!r} must be an amount in VND, not {value[:40]!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise BadTransaction(f"field {name!r} must be a number (an amount in VND), not {str(value)[:40]!r}")
    if isinstance(value, float) and not math.isfinite(value) or isinstance(value, Decimal) and not value.is_finite():
        raise BadTransaction(f"field {name!r} must be a finite amount in VND")
    if value != int(value):
        raise BadTransaction(f"field {name!r} must be a whole number of VND, not {value}")
    if abs(value) >= 10**15:
        raise BadTransaction(f"field {name!r} = {value} is not a plausible amount in VND")
    return int(value)


def _text(data: dict[str, Any], name: str, what: str, required: bool = False) -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise BadTransaction(f"field {name!r} ({what}) is required")
        return ""
    if not isinstance(value, str):
        raise BadTransaction(f"field {name!r} ({what}) must be text, not {type(value).__name__}")
    return value


def bank_time(data: dict[str, Any], name: str) -> float | None:
    """`YYYY-MM-DD HH:MM:SS` in SEPAY_TIME_ZONE as Unix seconds (None when SePay gives none)."""
    value = _text(data, name, "the bank's time of the transaction")
    if not value:
        return None
    try:
        at = datetime.strptime(value.strip(), DATE_FORMAT).replace(tzinfo=SEPAY_TIME_ZONE).timestamp()
    except ValueError:
        raise BadTransaction(f"field {name!r} must be a time like 2023-03-25 14:02:37, not {value[:40]!r}") from None
    if not EARLIEST <= at <= time.time() + AHEAD:
        raise BadTransaction(f"field {name!r} = {value[:40]!r} is not a plausible time (before 2000 or more "
                             "than a day ahead)")
    return at


def from_webhook(data: dict[str, Any], raw: str) -> BankTransaction:
    """A webhook body (one transaction, camelCase fields) as a BankTransaction; `description` (the
    full bank SMS text, often empty) stays in `raw` for a person to read."""
    direction = data.get("transferType")
    if direction not in ("in", "out"):
        raise BadTransaction(f"field 'transferType' must be \"in\" or \"out\", not {str(direction)[:20]!r}")
    amount = _dong(data, "transferAmount", text_ok=False)
    if amount is None or amount <= 0:
        raise BadTransaction(f"field 'transferAmount' must be more than 0, not {amount}")
    _text(data, "description", "the bank's full message")
    return BankTransaction(
        source="sepay", external_id=_id(data, "id", text_ok=False),
        bank=_text(data, "gateway", "the bank's name", required=True),
        account=_text(data, "accountNumber", "the receiving account", required=True),
        direction=direction, amount=amount,
        memo=_text(data, "content", "the transfer content", required=True), raw=raw,
        reference=_text(data, "referenceCode", "the bank's reference"),
        balance=_dong(data, "accumulated", text_ok=False, required=False),
        bank_time=bank_time(data, "transactionDate"),
        code_hint=_text(data, "code", "SePay's reading of a payment code"),
        virtual_account=_text(data, "subAccount", "the virtual account"))


def from_api(item: dict[str, Any]) -> BankTransaction:
    """One entry of `GET /userapi/transactions/list` (snake_case, ids and amounts as text) as a
    BankTransaction: the same transaction the webhook pushes under the same id."""
    if not isinstance(item, dict):
        raise BadTransaction("a transaction in the list is not a JSON object")
    amount_in = _dong(item, "amount_in", text_ok=True, required=False) or 0
    amount_out = _dong(item, "amount_out", text_ok=True, required=False) or 0
    if (amount_in > 0) == (amount_out > 0) or min(amount_in, amount_out) < 0:
        raise BadTransaction(f"exactly one of 'amount_in' ({amount_in}) and 'amount_out' ({amount_out}) must be "
                             "more than 0")
    return BankTransaction(
        source="sepay", external_id=_id(item, "id", text_ok=True),
        bank=_text(item, "bank_brand_name", "the bank's name", required=True),
        account=_text(item, "account_number", "the receiving account", required=True),
        direction="in" if amount_in else "out", amount=amount_in or amount_out,
        memo=_text(item, "transaction_content", "the transfer content", required=True),
        raw=json.dumps(item, ensure_ascii=False),
        reference=_text(item, "reference_number", "the bank's reference"),
        balance=_dong(item, "accumulated", text_ok=True, required=False),
        bank_time=bank_time(item, "transaction_date"),
        code_hint=_text(item, "code", "SePay's reading of a payment code"),
        virtual_account=_text(item, "sub_account", "the virtual account"))
