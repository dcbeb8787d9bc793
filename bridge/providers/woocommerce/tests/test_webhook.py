"""Every delivery captured from a real WooCommerce 9.2.5 shop (../fixtures, see SOURCE.md) through
the webhook's validate and parse: what the core is handed, in our words, for each of them."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from bridge import reasons
from bridge.config import Settings, settings_with
from bridge.events import (CUSTOMER_CREATED, CUSTOMER_UPDATED, ORDER_CHANGED, ORDER_DELETED, PASSWORD_RESET,
                           ShopDelivery, ShopPing)
from bridge.providers.base import Refused, Request
from bridge.providers.woocommerce.shop import stored_delivery
from bridge.providers.woocommerce.webhook import delivery, sign, webhook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SECRET = "test-webhook-secret"   # the secret the lab shop signed the captures with
SETTINGS = settings_with(Settings(), woo_webhook_secret=SECRET)
SAMPLES = sorted(p.name[: -len(".body")] for p in FIXTURES.glob("*.body"))


def captured(name: str) -> tuple[Headers, bytes]:
    return Headers(json.loads((FIXTURES / f"{name}.headers.json").read_text())), (FIXTURES / f"{name}.body").read_bytes()


def request(headers: Headers, body: bytes) -> Request:
    return Request(method="POST", path=webhook.rule, args={}, headers=headers, body=body, remote_addr="127.0.0.1")


def accepted(name: str) -> ShopDelivery | ShopPing:
    """What the core stores when acknowledging the capture, then reads when deciding it."""
    req = request(*captured(name))
    webhook.validate(req, SETTINGS)
    events = webhook.parse(req, SETTINGS)
    assert len(events) == 1
    if isinstance(events[0], ShopPing):
        return events[0]
    stored = events[0]
    assert stored.kind == "" and stored.order is None   # read when decided, not before the answer
    decided = stored_delivery(dict(stored.headers), stored.raw)
    assert (decided.topic, decided.resource_id, decided.replay_key) == (stored.topic, stored.resource_id,
                                                                      stored.replay_key)
    return decided


def test_every_capture_is_here():
    assert len(SAMPLES) == 29 and (FIXTURES / "orders_api" / "get-order-20.json").is_file()


def test_the_creation_ping_is_accepted_unsigned_and_stored_as_a_ping():
    ping = accepted("000-ping-unsigned-form")
    assert isinstance(ping, ShopPing) and ping.webhook_id == "8"
    d = ping.delivery
    assert (d.topic, d.resource, d.webhook, d.delivery_id, d.replay_key, d.resource_id) == ("ping", "ping", "8", None,
                                                                                           None, None)
    assert d.raw == b"webhook_id=8"


@pytest.mark.parametrize("name", [n for n in SAMPLES if n.split("-")[1].startswith("order.")])
def test_every_order_delivery_names_its_order_and_its_delivery(name):
    headers, body = captured(name)
    d = accepted(name)
    order_id = int(re.search(r"-o(\d+)-", name).group(1))
    assert isinstance(d, ShopDelivery) and d.topic == headers["X-WC-Webhook-Topic"] and d.resource == "order"
    assert d.resource_id == order_id and d.webhook == headers["X-WC-Webhook-ID"]
    assert d.delivery_id == headers["X-WC-Webhook-Delivery-ID"] and d.replay_key and not d.problem
    assert d.source_url == "http://127.0.0.1:8080/" and d.raw == body
    if d.topic == "order.deleted":
        assert d.kind == ORDER_DELETED and d.order is None
    else:
        assert d.kind == ORDER_CHANGED and d.order.id == order_id and d.order.number == str(order_id)
        assert d.order.status == json.loads(body)["status"] and d.order.currency == "VND"


@pytest.mark.parametrize("name,phone", [
    ("002-order.created-o20-bacs-on-hold-phone-spaces", "+84912345678"),
    ("004-order.created-o21-cod-processing-phone-plus84", "+84912345678"),
    ("006-order.created-o22-bacs-on-hold-phone-84-no-plus", "+84912345678"),
    ("010-order.created-o24-cod-processing-phone-parens-dashes", "+84987654321"),
    ("012-order.created-o25-bacs-on-hold-phone-old-11-digit", "+84389123456"),
    ("014-order.created-o26-cod-processing-phone-invalid", None),
    ("016-order.created-o27-bacs-on-hold-phone-empty", None),
])
def test_the_phone_a_customer_typed_is_normalized_or_refused(name, phone):
    assert accepted(name).order.phone.e164 == phone


def test_an_order_carries_the_facts_a_message_needs():
    order = accepted("002-order.created-o20-bacs-on-hold-phone-spaces").order
    assert (order.status, order.total_minor, order.payment_method, order.customer_name) == (
        "on-hold", 513_000, "bacs", "Nguyễn Văn An")
    assert order.order_key == "wc_order_bnPZIU7YDw4bK"
    assert (order.items[0].name, order.items[0].quantity) == ("Áo thun cotton Sài Gòn", 2)
    refunded = accepted("021-order.updated-o23-full-refund-refunded").order
    assert refunded.status == "refunded" and refunded.refunded_minor == refunded.total_minor == 370_000


@pytest.mark.parametrize("name,kind", [("022-customer.created-c2-rest-create", CUSTOMER_CREATED),
                                       ("023-customer.updated-c2-rest-create-companion", CUSTOMER_UPDATED),
                                       ("024-customer.updated-c2-billing-phone-edit", CUSTOMER_UPDATED)])
def test_customer_deliveries(name, kind):
    d = accepted(name)
    assert d.kind == kind and d.resource == "customer" and d.resource_id == 2 and d.customer.id == 2


def test_a_tampered_body_or_another_secret_is_refused():
    headers, body = captured("001-order.updated-o20-checkout-bacs-on-hold")
    with pytest.raises(Refused) as tampered:
        webhook.validate(request(headers, body.replace(b"513000", b"1")), SETTINGS)
    assert tampered.value.status == 401 and "does not match" in tampered.value.reason
    with pytest.raises(Refused):
        webhook.validate(request(headers, body), settings_with(SETTINGS, woo_webhook_secret="another"))
    unsigned = Headers([(k, v) for k, v in headers.items() if k != "X-WC-Webhook-Signature"])
    with pytest.raises(Refused) as missing:
        webhook.validate(request(unsigned, body), SETTINGS)
    assert missing.value.status == 401 and "missing X-WC-Webhook-Signature" in missing.value.reason


def test_a_signed_delivery_without_topic_or_json_object_is_refused():
    body = b"[1, 2]"
    headers = Headers({"Content-Type": "application/json", "X-WC-Webhook-Signature": sign(body, SECRET)})
    with pytest.raises(Refused, match="missing X-WC-Webhook-Topic"):
        webhook.parse(request(headers, body), SETTINGS)
    headers["X-WC-Webhook-Topic"] = "order.updated"
    with pytest.raises(Refused, match="must be a JSON object"):
        webhook.parse(request(headers, body), SETTINGS)


def test_the_same_delivery_has_the_same_replay_key_and_a_different_body_another():
    headers, body = captured("017-order.updated-o20-on-hold-to-processing")
    again = delivery(headers, body, json.loads(body))
    assert again.replay_key == accepted("017-order.updated-o20-on-hold-to-processing").replay_key
    other = json.loads(body) | {"status": "completed"}
    raw = json.dumps(other).encode()
    assert delivery(headers, raw, other).replay_key != again.replay_key


def test_an_unusable_body_is_kept_with_the_reason_not_refused():
    headers = {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-ID": "9", "X-WC-Webhook-Delivery-ID": "x"}
    d = delivery(headers, b'{"id": 31}', {"id": 31})
    assert d.problem == "order.updated: field 'status' is missing" and d.resource_id == 31


def test_a_password_reset_names_the_login_and_other_actions_are_ignored():
    headers = {"X-WC-Webhook-Topic": "action.woocommerce_reset_password_notification"}
    d = delivery(headers, b'{"action": "x", "arg": " lan "}', {"action": "x", "arg": " lan "})
    assert d.kind == PASSWORD_RESET and d.login == "lan"
    d = delivery({"X-WC-Webhook-Topic": "action.woocommerce_new_order"}, b"{}", {})
    assert d.kind == "" and reasons.english(d.ignored) == "topic action.woocommerce_new_order carries no order status; ignored"
