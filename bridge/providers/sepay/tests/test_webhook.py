"""The SePay webhook on its own: who may call it (API key or HMAC, as SEPAY_AUTH says), and what a
pushed transaction becomes (fixtures/ hold SePay's sample and our own in its shape)."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from bridge.config import Settings
from bridge.events import BankTransaction
from bridge.providers.base import Refused, Request
from bridge.providers.sepay.webhook import signature, webhook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY, SECRET = "test-sepay-api-key", "test-sepay-webhook-secret"
APIKEY = Settings(sepay_api_key=KEY, sepay_webhook_secret=SECRET)
HMAC = replace(APIKEY, sepay_auth="hmac")


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def request(body: bytes, **headers: str) -> Request:
    return Request("POST", "/inbound/sepay", {}, Headers({"Content-Type": "application/json", **headers}), body)


def with_key(body: bytes, key: str = KEY) -> Request:
    return request(body, Authorization=f"Apikey {key}")


def signed(body: bytes, secret: str = SECRET, at: float | None = None, ts: str | None = None) -> Request:
    ts = ts or str(int(time.time() if at is None else at))
    return request(body, **{"X-SePay-Signature": signature(secret, ts, body), "X-SePay-Timestamp": ts})


def parse(body: bytes) -> BankTransaction:
    req = with_key(body)
    webhook.validate(req, APIKEY)
    [event] = webhook.parse(req, APIKEY)
    return event


def refused(req: Request, settings: Settings = APIKEY) -> Refused:
    with pytest.raises(Refused) as caught:
        webhook.validate(req, settings)
        webhook.parse(req, settings)
    return caught.value


# -- who is calling ----------------------------------------------------------------------------
def test_the_api_key_sepay_was_given_is_enough():
    webhook.validate(with_key(fixture("webhook_official_sample")), APIKEY)
    webhook.validate(request(b"{}", Authorization=f"apikey  {KEY}"), APIKEY)   # the scheme in any case


@pytest.mark.parametrize("req, reason", [
    (with_key(b"{}", "guess"), "Authorization: Apikey does not match SEPAY_API_KEY"),
    (with_key(b"{}", ""), "does not match"),
    (request(b"{}"), "missing 'Authorization: Apikey <SEPAY_API_KEY>'"),
    (request(b"{}", Authorization=f"Bearer {KEY}"), "missing 'Authorization: Apikey"),
    (signed(b"{}"), "set SEPAY_AUTH=hmac"),            # SePay set up with HMAC, we with the API key
])
def test_a_missing_or_wrong_api_key_is_refused(req, reason):
    r = refused(req)
    assert r.status == 401 and reason in r.reason


def test_a_signed_request_is_accepted_with_sepay_auth_hmac():
    body = fixture("webhook_with_code")
    webhook.validate(signed(body), HMAC)
    req = signed(body)
    req.headers["X-SePay-Signature"] = req.headers["X-SePay-Signature"][7:]     # the bare hex too
    webhook.validate(req, HMAC)


@pytest.mark.parametrize("make, reason", [
    (lambda b: signed(b, secret="guess"), "X-SePay-Signature does not match"),
    (lambda b: signed(b, at=time.time() - 301), "away from our clock"),
    (lambda b: signed(b, at=time.time() + 600), "away from our clock"),
    (lambda b: signed(b, ts="2023-03-25T14:02:37"), "is not Unix seconds"),
    (lambda b: request(b, **{"X-SePay-Timestamp": str(int(time.time()))}), "both X-SePay-Signature"),
    (lambda b: with_key(b), "set SEPAY_AUTH=apikey"),    # SePay set up with the API key, we with HMAC
])
def test_a_wrong_unsigned_or_stale_signature_is_refused(make, reason):
    r = refused(make(fixture("webhook_with_code")), HMAC)
    assert r.status == 401 and reason in r.reason


def test_a_captured_signed_request_cannot_be_altered_or_replayed_later():
    body = fixture("webhook_with_code")
    captured = signed(body, at=time.time() - 60)
    webhook.validate(captured, HMAC)                      # as sent: within the window (its id deduplicates it)
    other = json.dumps({**json.loads(body), "transferAmount": 5_130_000}).encode()
    r = refused(Request("POST", "/inbound/sepay", {}, captured.headers, other), HMAC)
    assert "does not match" in r.reason                   # another body under its signature
    later = Headers(captured.headers)
    later["X-SePay-Timestamp"] = str(int(time.time()))    # a fresh timestamp under the old signature
    assert "does not match" in refused(Request("POST", "/inbound/sepay", {}, later, body), HMAC).reason
    stale = signed(body, at=time.time() - 3600)           # the same delivery an hour later
    assert "away from our clock" in refused(stale, HMAC).reason


def test_the_signature_needs_the_webhook_secret_not_the_api_key():
    assert "does not match" in refused(signed(b"{}", secret=KEY), HMAC).reason


# -- what it says ------------------------------------------------------------------------------
def test_sepays_own_sample_becomes_a_credit_with_every_field():
    event = parse(fixture("webhook_official_sample"))
    assert event == BankTransaction(
        source="sepay", external_id="92704", bank="Vietcombank", account="0123499999", direction="in",
        amount=2_277_000, memo="chuyen tien mua iphone", raw=fixture("webhook_official_sample").decode(),
        reference="MBVCB.3278907687", balance=19_077_000,
        bank_time=datetime(2023, 3, 25, 7, 2, 37, tzinfo=timezone.utc).timestamp(),   # 14:02:37 in Vietnam
        code_hint="", virtual_account="")


def test_a_debit_is_a_transaction_out():
    event = parse(fixture("webhook_debit"))
    assert (event.direction, event.amount, event.balance) == ("out", 1_500_000, 17_577_000)
    assert "SD TK 0123499999" in event.raw           # the full bank SMS (`description`) is kept in raw


def test_sepays_code_is_only_a_hint_beside_the_memo():
    event = parse(fixture("webhook_with_code"))
    assert (event.code_hint, event.memo, event.bank) == ("DH20101", "NGUYEN VAN AN chuyen tien DH20101", "MBBank")


def test_a_virtual_account_credit_names_it():
    event = parse(fixture("webhook_sub_account"))
    assert (event.account, event.virtual_account, event.balance) == ("96247SHOPDEMO", "96247SHOPDEMO01", 0)


def test_a_whole_amount_written_as_a_float_is_still_dong():
    body = json.dumps({**json.loads(fixture("webhook_official_sample")), "transferAmount": 2277000.0}).encode()
    assert parse(body).amount == 2_277_000


def changed(**fields) -> bytes:
    data = json.loads(fixture("webhook_official_sample"))
    for k, v in fields.items():
        if v is ...:
            del data[k]
        else:
            data[k] = v
    return json.dumps(data).encode()


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "body is not valid JSON"),
    (b"\xff\xfe", "body is not UTF-8"),
    (b"[]", "body must be a JSON object"),
    (changed(id=...), "field 'id' (SePay's transaction id) is required"),
    (changed(id="92704"), "field 'id' must be SePay's transaction id"),
    (changed(id=True), "field 'id' must be"),
    (changed(id=-3), "field 'id' must be"),
    (changed(transferAmount=...), "field 'transferAmount' (an amount in VND) is required"),
    (changed(transferAmount="2277000"), "field 'transferAmount' must be a number"),
    (changed(transferAmount=12.5), "must be a whole number of VND"),
    (changed(transferAmount=0), "field 'transferAmount' must be more than 0"),
    (changed(transferAmount=-5000), "must be more than 0"),
    (changed(transferAmount=1e300), "not a plausible amount"),
    (changed(transferType="IN"), "field 'transferType' must be \"in\" or \"out\""),
    (changed(transferType=...), "field 'transferType'"),
    (changed(accountNumber=...), "field 'accountNumber' (the receiving account) is required"),
    (changed(accountNumber=123499999), "field 'accountNumber' (the receiving account) must be text"),
    (changed(gateway=...), "field 'gateway'"),
    (changed(content=...), "field 'content' (the transfer content) is required"),
    (changed(content=["DH1"]), "field 'content' (the transfer content) must be text"),
    (changed(code=20101), "field 'code'"),
    (changed(subAccount=5), "field 'subAccount'"),
    (changed(accumulated="19077000"), "field 'accumulated' must be a number"),
    (changed(transactionDate="25/03/2023 14:02"), "field 'transactionDate' must be a time like"),
    (changed(transactionDate="1970-01-01 07:00:00"), "not a plausible time"),
    (changed(description=7), "field 'description'"),
])
def test_a_body_that_is_not_a_sepay_transaction_is_refused_with_the_field(body, reason):
    r = refused(with_key(body))
    assert r.status == 400 and reason in r.reason, r.reason


def test_optional_fields_may_be_absent():
    event = parse(changed(code=..., subAccount=..., referenceCode=..., accumulated=..., description=...,
                          transactionDate=...))
    assert (event.code_hint, event.virtual_account, event.reference, event.balance, event.bank_time) == (
        "", "", "", None, None)


def test_answers_are_what_sepay_reads():
    assert webhook.answer([object()], [{"inbox": 3, "duplicate": True}]) == (
        {"success": True, "inbox": 3, "duplicate": True}, 200)
    assert webhook.refusal(401, "Authorization: Apikey does not match SEPAY_API_KEY") == (
        {"success": False, "error": "Authorization: Apikey does not match SEPAY_API_KEY"}, 401)
