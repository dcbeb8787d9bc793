"""A transaction as SePay's list-transactions API returns it (SePay's documented answer in
fixtures/) reads as the same BankTransaction the webhook would give: same id, same facts."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bridge.providers.sepay.transactions import BadTransaction, from_api, from_webhook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def documented() -> dict:
    return json.loads((FIXTURES / "list_transactions.json").read_text())["transactions"][0]


def test_sepays_documented_list_entry_reads_with_every_field():
    tx = from_api(documented())
    assert (tx.source, tx.external_id, tx.bank, tx.account, tx.direction, tx.amount) == (
        "sepay", "49682", "Vietcombank", "0071000888888", "in", 18_067_000)
    assert (tx.memo, tx.reference, tx.balance, tx.code_hint, tx.virtual_account) == (
        "DUONG THUY ANH chuyen tien...", "677760.050523.080001", 1_200_541_768, "", "VCB0011ABC004")
    assert tx.bank_time == datetime(2023, 5, 5, 12, 59, 48, tzinfo=timezone.utc).timestamp()
    assert json.loads(tx.raw) == documented()


def test_the_webhook_and_the_list_give_one_transaction_the_same_identity_and_facts():
    pushed = json.loads((FIXTURES / "webhook_debit.json").read_text())
    listed = {"id": str(pushed["id"]), "bank_brand_name": pushed["gateway"], "account_number": pushed["accountNumber"],
              "transaction_date": pushed["transactionDate"], "amount_out": "1500000.00", "amount_in": "0.00",
              "accumulated": "17577000.00", "transaction_content": pushed["content"],
              "reference_number": pushed["referenceCode"], "code": None, "sub_account": None, "bank_account_id": "19"}
    a, b = from_webhook(pushed, ""), from_api(listed)
    same = ("external_id", "bank", "account", "direction", "amount", "memo", "reference", "balance", "bank_time",
            "code_hint", "virtual_account")
    assert [getattr(a, f) for f in same] == [getattr(b, f) for f in same]


@pytest.mark.parametrize("change, reason", [
    ({"id": "49682x"}, "field 'id' must be SePay's transaction id"),
    ({"id": None}, "field 'id' (SePay's transaction id) is required"),
    ({"amount_in": "abc"}, "field 'amount_in' must be an amount in VND"),
    ({"amount_in": "12.50"}, "must be a whole number of VND"),
    ({"amount_in": "0.00"}, "exactly one of 'amount_in' (0) and 'amount_out' (0)"),
    ({"amount_out": "5.00"}, "exactly one of"),
    ({"amount_in": "NaN"}, "finite amount"),
    ({"transaction_content": None}, "field 'transaction_content' (the transfer content) is required"),
    ({"account_number": 71000888888}, "field 'account_number' (the receiving account) must be text"),
    ({"transaction_date": "05/05/2023"}, "field 'transaction_date' must be a time like"),
])
def test_an_entry_that_is_not_what_sepay_documents_is_refused_with_the_field(change, reason):
    with pytest.raises(BadTransaction) as caught:
        from_api({**documented(), **change})
    assert reason in str(caught.value)


def test_an_entry_that_is_not_an_object_is_refused():
    with pytest.raises(BadTransaction, match="not a JSON object"):
        from_api(["49682"])
