"""Bad input at the WooCommerce endpoint: a clear status and JSON reason, recorded for the
admin, and nothing already accepted is lost."""
from __future__ import annotations

import json
import time

import requests

from tests.conftest import load_delivery, signed_headers

ORDER = "001-order.updated-o20-checkout-bacs-on-hold"


def rejections(svc):
    return [dict(r) for r in svc.db.query("SELECT * FROM rejections ORDER BY id")]


def test_wrong_signature_is_refused_and_recorded(service_factory):
    svc = service_factory()
    headers, body = load_delivery(ORDER)
    headers["X-WC-Webhook-Signature"] = "AAAA" + headers["X-WC-Webhook-Signature"][4:]
    r = requests.post(svc.url + "/webhooks/woocommerce", data=body, headers=headers, timeout=5)
    assert r.status_code == 401
    assert "does not match" in r.json()["error"]
    assert svc.db.scalar("SELECT COUNT(*) FROM deliveries") == 0
    rej = rejections(svc)
    assert rej[-1]["http_status"] == 401 and "does not match" in rej[-1]["reason"]
    assert svc.messages() == []


def test_secret_differs_from_the_one_that_signed(service_factory):
    svc = service_factory(woo_webhook_secret="another-secret")
    r = svc.post_delivery(ORDER)
    assert r.status_code == 401


def test_unsigned_order_webhook_is_never_accepted(service_factory):
    svc = service_factory()
    headers, body = load_delivery(ORDER)
    del headers["X-WC-Webhook-Signature"]
    r = requests.post(svc.url + "/webhooks/woocommerce", data=body, headers=headers, timeout=5)
    assert r.status_code == 401 and "missing X-WC-Webhook-Signature" in r.json()["error"]
    # a form body that only looks like a ping but carries a topic is not a ping either
    r = requests.post(svc.url + "/webhooks/woocommerce", data=b"webhook_id=9",
                      headers={"Content-Type": "application/x-www-form-urlencoded", "X-WC-Webhook-Topic": "order.updated"},
                      timeout=5)
    assert r.status_code == 401


def test_ping_answers_exactly_200(service_factory):
    svc = service_factory()
    headers, body = load_delivery("000-ping-unsigned-form")
    r = requests.post(svc.url + "/webhooks/woocommerce", data=body, headers=headers, timeout=5)
    assert r.status_code == 200 and r.json() == {"ok": True, "ping": 8}


def test_malformed_json_is_400_and_recorded(service_factory):
    svc = service_factory()
    body = b'{"id": 20, "status": "on-hold",'
    r = svc.post_json(body)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    assert rejections(svc)[-1]["body_excerpt"] == body
    r = svc.post_json(b'[1, 2, 3]')
    assert r.status_code == 400 and "JSON object" in r.json()["error"]


def test_a_signed_body_broken_after_woocommerces_leading_id_is_kept_with_the_reason(service_factory):
    """The acknowledgement reads only the id WooCommerce writes first (`{"id":20,"...`); the body
    is parsed when it is decided. A signed body that breaks after that is the shop's, and
    WooCommerce never sends it again: it is kept, marked error with the parser's reason, and its
    replay is still a replay."""
    svc = service_factory()
    body = b'{"id":20,"status":"on-hold","total":'
    r = svc.post_json(body, delivery_id="d-broken")
    assert r.status_code == 200 and r.json()["state"] == "received"
    row = svc.db.one("SELECT * FROM deliveries WHERE id=?", (r.json()["delivery"],))
    assert row["resource_id"] == 20 and row["state"] == "error", dict(row)
    assert row["reason"].startswith("order.updated: body is not valid JSON"), row["reason"]
    again = svc.post_json(body, delivery_id="d-broken").json()
    assert again == {"ok": True, "duplicate": True, "delivery": r.json()["delivery"]}
    assert svc.messages() == [] and rejections(svc) == []


def test_body_over_one_mebibyte_is_413(service_factory):
    svc = service_factory()
    body = b'{"id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    r = svc.post_json(body)
    assert r.status_code == 413 and "1 MiB" in r.json()["error"]
    assert rejections(svc)[-1]["http_status"] == 413
    assert svc.db.scalar("SELECT COUNT(*) FROM deliveries") == 0


def test_unknown_topic_is_200_and_recorded_as_ignored(service_factory):
    svc = service_factory()
    body = json.dumps({"id": 15, "name": "Áo thun"}).encode()
    r = svc.post_json(body, topic="product.updated")
    assert r.status_code == 200 and r.json()["state"] == "received"   # stored; decided after the answer
    row = svc.db.one("SELECT * FROM deliveries WHERE id=?", (r.json()["delivery"],))
    assert row["state"] == "ignored" and "product.updated" in row["reason"]
    r = svc.post_json(json.dumps({"action": "woocommerce_order_status_changed", "arg": 20}).encode(),
                      topic="action.woocommerce_order_status_changed")
    assert r.status_code == 200
    assert svc.db.scalar("SELECT state FROM deliveries WHERE id=?", (r.json()["delivery"],)) == "ignored"
    assert svc.messages() == []


def test_deliveries_sharing_a_delivery_id_are_all_decided(service_factory, woo):
    """WooCommerce's delivery id is hash(webhook id, current second): two orders delivered by one
    webhook in the same second carry the same id. Both must be decided (the first version kept
    only the first); only the same body again is a replay."""
    svc = service_factory()
    woo.add_webhook(5, svc.url + "/webhooks/woocommerce", secret=svc.settings.woo_webhook_secret)
    woo.echo_puts = False
    orders = [woo.add_order(oid, 150000, status="processing", payment_method="cod") for oid in (41, 42, 43)]
    deadline = time.time() + 30
    while True:   # all three inside one wall-clock second, as one queue run sends them
        start = int(time.time())
        before = len(woo.deliveries)
        for o in orders:
            woo.deliver("order.updated", o)
        if int(time.time()) == start or time.time() > deadline:
            break
    sent = woo.deliveries[before:]
    assert len({d["delivery_id"] for d in sent}) == 1 and [d["code"] for d in sent] == [200, 200, 200]
    for oid in (41, 42, 43):
        assert [m["rule"] for m in svc.messages(order_id=oid, audience="customer")] == ["order-processing"]
    headers, body = signed_headers(json.dumps(orders[0]).encode(), "order.updated", sent[0]["delivery_id"],
                                   svc.settings.woo_webhook_secret), json.dumps(orders[0]).encode()
    headers["X-WC-Webhook-ID"] = "5"
    replay = requests.post(svc.url + "/webhooks/woocommerce", data=body, headers=headers, timeout=10).json()
    assert replay["duplicate"] is True


def test_same_delivery_id_is_processed_once(service_factory):
    svc = service_factory()
    first = svc.post_delivery(ORDER).json()
    second = svc.post_delivery(ORDER).json()
    assert second == {"ok": True, "duplicate": True, "delivery": first["delivery"]}
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE delivery_ref=?", (first["delivery"],)) == 2
    assert svc.db.scalar("SELECT COUNT(*) FROM deliveries") == 1


def test_signed_but_wrong_shape_is_kept_with_the_reason(service_factory):
    svc = service_factory()
    r = svc.post_json(json.dumps({"id": "abc", "status": "on-hold"}).encode(), topic="order.updated")
    assert r.status_code == 200  # accepted (signed by the shop) and kept for the admin, not silently dropped
    row = svc.db.one("SELECT * FROM deliveries WHERE id=?", (r.json()["delivery"],))
    assert row["state"] == "error" and "positive integer" in row["reason"]


def test_unknown_paths_and_methods_answer_json(service_factory):
    svc = service_factory()
    r = requests.get(svc.url + "/webhooks/woocommerce", timeout=5)
    assert r.status_code == 405 and "not allowed" in r.json()["error"]
    r = requests.get(svc.url + "/nope", timeout=5)
    assert r.status_code == 404 and r.json()["ok"] is False


def test_accepted_work_survives_an_error_in_a_later_request(service_factory):
    svc = service_factory()
    assert svc.post_delivery(ORDER).status_code == 200
    svc.post_json(b"{broken")
    assert svc.db.scalar("SELECT COUNT(*) FROM deliveries") == 1
    assert len(svc.messages(order_id=20)) == 2
