"""The payOS webhook on its own: our signature is the official SDK's (payos on PyPI, the oracle),
a wrong or missing one is refused with the reason, payOS's URL check books nothing, and a paid
link becomes the BankTransaction the payment handler decides."""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from payos import PayOS
from payos._crypto import CryptoProvider

from bridge.config import Settings
from bridge.events import Acknowledged, BankTransaction
from bridge.providers.base import Refused, Request
from bridge.providers.payos.settings import ENV, config_errors
from bridge.providers.payos.signature import sign_data, signed_string
from bridge.providers.payos.transactions import receiving_bank
from bridge.providers.payos.webhook import webhook
from bridge.store import payos as store
from bridge.store.db import Database

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675"
CONFIGURED = Settings(payos_client_id="client", payos_api_key="api", payos_checksum_key=KEY,
                      bank_accounts=(("Vietcombank", "0071009998887"),))


def docs_sample() -> dict:
    return json.loads((FIXTURES / "webhook_docs_sample.json").read_text(encoding="utf-8"))


def signed(body: dict, key: str = KEY) -> dict:
    return {**body, "signature": sign_data(body["data"], key)}


def request(body: dict | bytes) -> Request:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return Request("POST", "/inbound/payos", {}, {"Content-Type": "application/json"}, raw)


def sdk(key: str = KEY) -> PayOS:
    return PayOS("client", "api", key)


def test_our_signature_of_the_docs_sample_is_the_sdks():
    data = docs_sample()["data"]
    assert sign_data(data, KEY) == CryptoProvider().create_signature_from_object(data, KEY)
    assert signed_string(data).startswith("accountNumber=12345678&amount=3000&code=00&counterAccountBankId=&")


def test_the_sdk_verifies_what_we_sign():
    verified = sdk().webhooks.verify(signed(docs_sample()))
    assert (verified.order_code, verified.amount, verified.reference) == (123, 3000, "TF230204212323")


flat = st.dictionaries(st.text(st.characters(codec="utf-8", exclude_characters="&="), min_size=1, max_size=12),
                       st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=30),
                                 st.sampled_from(["null", "undefined", ""])), max_size=12)


@hsettings(max_examples=300, deadline=None)
@given(flat)
def test_any_flat_data_signs_as_the_sdk_signs_it(data):
    assert sign_data(data, KEY) == CryptoProvider().create_signature_from_object(data, KEY)


def test_a_list_value_signs_as_the_sdk_signs_it():
    data = {"orderCode": 5, "items": [{"quantity": 1, "name": "Áo", "price": 1000}], "note": None}
    assert sign_data(data, KEY) == CryptoProvider().create_signature_from_object(data, KEY)


def test_a_signed_notification_passes():
    webhook.validate(request(signed(docs_sample())), CONFIGURED)


@pytest.mark.parametrize("change, status, words", [
    (lambda b: b.update(signature=sign_data(b["data"], "another-key")), 401, "PAYOS_CHECKSUM_KEY"),
    (lambda b: b["data"].update(amount=3_000_000), 401, "does not match"),     # altered after signing
    (lambda b: b.pop("signature"), 401, "'signature' is missing"),
    (lambda b: b.update(data=[b["data"]]), 400, "'data'"),
])
def test_a_notification_that_does_not_verify_is_refused_with_the_reason(change, status, words):
    body = signed(docs_sample())
    change(body)
    with pytest.raises(Refused) as refused:
        webhook.validate(request(body), CONFIGURED)
    assert refused.value.status == status and words in refused.value.reason
    if status == 401 and "signature" in body:   # the SDK agrees: it does not verify either
        with pytest.raises(Exception, match="integrity|signature"):
            sdk().webhooks.verify(body)


def test_not_json_is_400_and_unconfigured_payos_is_404():
    with pytest.raises(Refused) as refused:
        webhook.validate(request(b"orderCode=123"), CONFIGURED)
    assert refused.value.status == 400
    with pytest.raises(Refused) as refused:
        webhook.validate(request(signed(docs_sample())), Settings())
    assert refused.value.status == 404 and "PAYOS_CHECKSUM_KEY" in refused.value.reason


@pytest.fixture
def with_link(tmp_path):
    """A database holding the link we made for order #123 (orderCode 123)."""
    db = Database(str(tmp_path / "bridge.db"))
    db.migrate()
    with db.tx() as c:
        store.reserve(c, 9123, 123, "123", 3000, "DH123", 0.0)
        store.opened(c, 9123, {"link_id": "124c33293c43417ab7879e14c8d9eb18", "checkout_url": "https://pay/x",
                               "qr_code": "000201", "bin": "970436", "account": "12345678", "status": "PENDING"}, 0.0)
    yield replace(CONFIGURED, db_path=db.path)
    db.close()


def test_payoss_url_check_books_nothing(tmp_path):
    """The sample payOS sends when the URL is registered names a link we never made: 200, nothing booked."""
    s = replace(CONFIGURED, db_path=str(tmp_path / "none.db"))
    req = request(signed(docs_sample()))
    webhook.validate(req, s)
    [event] = webhook.parse(req, s)
    assert isinstance(event, Acknowledged) and event.ignored and "orderCode 123" in event.what
    body, status = webhook.answer([event], [{"event": event.what, "ignored": True}])
    assert status == 200 and body["success"] is True


def test_a_paid_link_becomes_a_bank_transaction_for_its_order(with_link):
    body = signed(docs_sample())
    body["data"].update(accountNumber="0071009998887", counterAccountName="NGUYEN VAN AN")
    body = signed(body)
    req = request(body)
    webhook.validate(req, with_link)
    [tx] = webhook.parse(req, with_link)
    assert isinstance(tx, BankTransaction)
    assert (tx.source, tx.external_id, tx.direction, tx.amount, tx.memo, tx.reference, tx.order_hint) == (
        "payos", "124c33293c43417ab7879e14c8d9eb18:TF230204212323", "in", 3000, "VQRIO123", "TF230204212323", "123")
    assert (tx.bank, tx.account, tx.payer) == ("Vietcombank", "0071009998887", "NGUYEN VAN AN")
    # 18:25 in Vietnam (UTC+7) is 11:25 UTC
    assert tx.bank_time == datetime(2023, 2, 4, 11, 25, tzinfo=timezone.utc).timestamp()


def test_a_notification_for_another_link_under_our_code_or_a_failed_payment_books_nothing(with_link):
    other = signed({**docs_sample(), "data": {**docs_sample()["data"], "paymentLinkId": "not-ours"}})
    failed = signed({**docs_sample(), "data": {**docs_sample()["data"], "code": "01", "desc": "Thất bại"}})
    for body in (other, failed):
        [event] = webhook.parse(request(body), with_link)
        assert isinstance(event, Acknowledged) and event.ignored


def test_a_broken_order_code_or_amount_is_400(with_link):
    for field, value in (("orderCode", "12a"), ("orderCode", True), ("amount", -5), ("amount", "3.5")):
        body = copy.deepcopy(docs_sample())
        body["data"][field] = value
        with pytest.raises(Refused) as refused:
            webhook.parse(request(signed(body)), with_link)
        assert refused.value.status == 400 and field in refused.value.reason


def test_the_receiving_bank_is_the_configured_accounts_then_the_links_bin():
    assert receiving_bank(CONFIGURED, "007 1009 998887", None) == "Vietcombank"
    assert receiving_bank(CONFIGURED, "12345678", "970436") == "Vietcombank"     # BIN of the link
    assert receiving_bank(CONFIGURED, "12345678", None) == "payOS"               # a person looks at it


def test_some_keys_without_the_others_is_a_configuration_error():
    assert config_errors(Settings()) == [] and config_errors(CONFIGURED) == []
    [error] = config_errors(Settings(payos_client_id="x", payos_checksum_key="y"))
    assert "missing: PAYOS_API_KEY" in error


def test_the_checkout_page_template_must_say_where_the_id_goes():
    parse = ENV["PAYOS_CHECKOUT_URL"][1]
    assert parse("https://pay.payos.vn/web/{id}") == "https://pay.payos.vn/web/{id}"
    with pytest.raises(ValueError, match="{id}"):
        parse("https://pay.payos.vn/web/")
