"""Casso's deliveries (the fixtures, from its documents and samples) as the events the core gets:
v1 with its Secure-Token, every shape's fields in our words, and what is refused and why."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from werkzeug.datastructures import Headers

from bridge.config import Settings
from bridge.events import Acknowledged, BankTransaction
from bridge.providers.base import Refused, Request
from bridge.providers.casso.transactions import from_body, to_event
from bridge.providers.casso.webhook import webhook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SETTINGS = Settings(casso_secure_token="eogrBiWqaq", casso_webhook_key="v2-key")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def request(body: dict | bytes, headers: dict[str, str]) -> Request:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return Request("POST", "/inbound/casso", {}, Headers(headers), raw)


def events(name: str, settings: Settings = SETTINGS) -> list:
    f = fixture(name)
    req = request(f["body"], f.get("headers", {}))
    return webhook.parse(req, settings)


# -- v1: the secret as a header ---------------------------------------------------------------
def test_v1_with_its_secure_token_is_accepted():
    f = fixture("v1_sample.json")
    webhook.validate(request(f["body"], f["headers"]), SETTINGS)
    webhook.validate(request(f["body"], {"secure-token": "eogrBiWqaq"}), SETTINGS)   # any header case


@pytest.mark.parametrize("headers, reason", [
    ({"Secure-Token": "eogrBiWqaX"}, "wrong Secure-Token"),
    ({"Secure-Token": ""}, "wrong Secure-Token"),
    ({}, "missing Secure-Token"),
    ({"Authorization": "Bearer eogrBiWqaq"}, "missing Secure-Token"),
])
def test_v1_without_the_right_token_is_refused(headers, reason):
    with pytest.raises(Refused) as refused:
        webhook.validate(request(fixture("v1_sample.json")["body"], headers), SETTINGS)
    assert refused.value.status == 401 and reason in refused.value.reason


def test_an_unset_token_opens_nothing():
    with pytest.raises(Refused):
        webhook.validate(request(fixture("v1_sample.json")["body"], {"Secure-Token": ""}),
                         Settings(casso_secure_token=""))


# -- what each shape becomes ------------------------------------------------------------------
def test_v1_sample_as_a_bank_transaction():
    [tx] = events("v1_sample.json")
    assert tx == BankTransaction(
        source="casso", external_id="1", bank="", account="123456789", direction="in", amount=200500,
        memo="DH35", raw=fixture("v1_sample.json")["body"]["data"][0], reference="TF80307914", balance=15900500,
        bank_time=None)   # `when` is a day only: no time is made up


def test_v1_names_no_bank_and_none_is_made_up():
    """v1 has no bank name: the core takes the bank of the account Casso read, when BANK_ACCOUNTS
    has it (tests/test_casso.py pays an order that way)."""
    assert [tx.bank for tx in events("v1_documented.json")] == ["", ""]


def test_v1_documented_fields_two_transactions_in_one_delivery():
    first, second = events("v1_documented.json")
    assert [first.external_id, second.external_id] == ["3267", "3268"]
    assert (first.account, first.memo, first.reference) == ("0071009998887", "DH1042 chuyen tien", "TF210403249039850")
    assert first.bank_time is None
    assert second.bank_time == datetime(2021, 4, 3, 10, 15, tzinfo=VN).timestamp()
    assert second.balance == 9070904


def test_v2_names_the_bank_as_our_registry_does():
    body = fixture("v2_sample.json")["body"]
    body["data"].update(bankName="Ngân hàng TMCP Việt Nam Thịnh Vượng", bankAbbreviation="VPB")
    assert webhook.parse(request(body, {}), SETTINGS)[0].bank == "VPBank"     # the abbreviation is known
    body["data"].update(bankName="Timo Plus by Viet Capital Bank", bankAbbreviation="TIMO")
    assert webhook.parse(request(body, {}), SETTINGS)[0].bank == "Timo Plus by Viet Capital Bank"


def test_v2_sample_as_a_bank_transaction():
    [tx] = events("v2_sample.json")
    assert (tx.external_id, tx.bank, tx.account, tx.direction, tx.amount) == ("218897", "MBBank", "123456789", "in",
                                                                              16775000)
    assert (tx.reference, tx.balance, tx.memo) == ("FT24364030863634", 16775000, "hoi lai 100 bao mun dua")
    assert tx.bank_time == datetime(2024, 12, 23, 7, 0, tzinfo=VN).timestamp()
    assert tx.payer == "" and tx.virtual_account == ""


def test_v2_payer_and_virtual_account_are_kept_for_the_reviewer():
    body = fixture("v2_sample.json")["body"]
    body["data"].update(counterAccountName="TRAN THI B", counterAccountNumber="0451000123456",
                        counterAccountBankName="Vietcombank", virtualAccountNumber="VQRQA1234")
    [tx] = webhook.parse(request(body, {}), SETTINGS)
    assert tx.payer == "TRAN THI B 0451000123456 (Vietcombank)"
    assert tx.virtual_account == "VQRQA1234"


def test_the_test_transaction_is_acknowledged_never_a_transaction():
    [ack] = events("v2_test_transaction.json")
    assert isinstance(ack, Acknowledged) and ack.ignored and ack.source == "casso"
    v1_test = {"error": 0, "data": [{"id": 0, "amount": 1000, "description": "test", "when": "2024-10-03"}]}
    assert isinstance(webhook.parse(request(v1_test, {}), SETTINGS)[0], Acknowledged)


def test_a_debit_is_money_out():
    [tx] = events("v2_debit.json")
    assert (tx.direction, tx.amount, tx.balance) == ("out", 1200000, 15575000)
    assert tx.payer == "CONG TY TNHH NCC 0123456789 (Vietcombank)"


@pytest.mark.parametrize("error", [1, 500, -1])
def test_a_casso_error_is_acknowledged_and_books_nothing(error):
    body = {**fixture("v1_documented.json")["body"], "error": error}
    [ack] = webhook.parse(request(body, {}), SETTINGS)
    assert isinstance(ack, Acknowledged) and ack.ignored and str(error) in ack.what


def test_an_api_record_reads_the_same_way():
    """The reconcile job's records: `bankCodeName` is Casso's code, not a bank name we know, and
    is passed on as given (the core then goes by the account, as for v1)."""
    record = fixture("api_transactions.json")["body"]["data"]["records"][0]
    tx = to_event(record, "records[0]")
    assert (tx.external_id, tx.bank, tx.account, tx.direction, tx.amount, tx.balance) == \
        ("5789", "acb_digi", "8007041027107", "out", 193000, 1070904)
    assert tx.bank_time is None      # "2021-04-15T00:00:00" is a day, not a midnight transfer
    camel = {**record, "cusumBalance": 5, "corresponsiveName": "LE VAN C", "corresponsiveAccount": "99"}
    del camel["cusum_balance"]
    again = to_event(camel, "records[0]")
    assert (again.balance, again.payer) == (5, "LE VAN C 99")


# -- what cannot be read is refused with the reason -------------------------------------------
@pytest.mark.parametrize("body, reason", [
    ({"error": 0, "data": "x"}, "field 'data' must be"),
    ({"error": 0}, "field 'data' must be"),
    ({"error": "0", "data": []}, "field 'error' must be a number"),
    ({"error": 0, "data": [1]}, "data[0] must be a JSON object"),
    ({"error": 0, "data": {"amount": 1000}}, "data.id"),
    ({"error": 0, "data": {"id": True, "amount": 1000}}, "data.id"),
    ({"error": 0, "data": {"id": -3, "amount": 1000}}, "data.id"),
    ({"error": 0, "data": {"id": 9}}, "data.amount is required"),
    ({"error": 0, "data": {"id": 9, "amount": 1000.5}}, "whole number of VND"),
    ({"error": 0, "data": {"id": 9, "amount": "1000"}}, "whole number of VND"),
    ({"error": 0, "data": {"id": 9, "amount": 1e300}}, "whole number of VND"),
    ({"error": 0, "data": {"id": 9, "amount": 0}}, "amount is 0"),
    ({"error": 0, "data": {"id": 9, "amount": 1000, "description": ["x"]}}, "description must be text"),
    ({"error": 0, "data": {"id": 9, "amount": 1000, "accountNumber": {"a": 1}}}, "accountNumber must be text"),
    ({"error": 0, "data": {"id": 9, "amount": 1000, "runningBalance": "lots"}}, "runningBalance must be a whole"),
    ({"error": 0, "data": {"id": 9, "amount": 1000, "transactionDateTime": "hôm qua"}}, "is not a time"),
    ({"error": 0, "data": {"id": 9, "amount": 1000, "transactionDateTime": "0001-01-01 07:00:00"}}, "plausible"),
    ({"error": 0, "data": {"id": 9, "amount": 1000, "transactionDateTime": "2999-01-01 07:00:00"}}, "plausible"),
    ({"error": 0, "data": {"id": "٣", "amount": 1000}}, "data.id"),
    ({"error": 0, "data": [{"id": 1, "amount": 5}, {"id": 2, "amount": 5, "when": "02/11/2020"}]},
     "data[1].when"),
    ([{"id": 1}], "must be a JSON object"),
])
def test_what_cannot_be_read_is_refused_with_the_reason(body, reason):
    with pytest.raises(Refused) as refused:
        webhook.parse(request(json.dumps(body).encode(), {}), SETTINGS)
    assert refused.value.status == 400 and reason in refused.value.reason, refused.value.reason


def test_an_empty_list_is_acknowledged():
    [ack] = from_body({"error": 0, "data": []})
    assert isinstance(ack, Acknowledged)
