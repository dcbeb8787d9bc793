"""The real captured WooCommerce deliveries, replayed in arrival order over real HTTP.

What a shop owner would notice: every customer gets one SMS per status change, in the right
words, to the right normalized number; out-of-order and identical deliveries never double
an SMS; coalesced changes notify the final status; a repeated delivery changes nothing.
"""
from __future__ import annotations

import pytest
import requests

from bridge import reasons
from bridge.store import deliveries
from tests.conftest import load_delivery, woo_samples

SAMPLES = woo_samples()


def replay_all(svc):
    answers = {}
    for name in SAMPLES:
        r = svc.post_delivery(name)
        assert r.status_code == 200, (name, r.status_code, r.text)
        answers[name] = r.json()
    return answers


def test_samples_are_all_there():
    assert len(SAMPLES) == 29 and SAMPLES[0] == "000-ping-unsigned-form"


def test_replay_produces_one_sms_per_customer_visible_change(service_factory):
    svc = service_factory()
    answers = replay_all(svc)
    assert answers["000-ping-unsigned-form"] == {"ok": True, "ping": 8}

    customer = svc.messages(audience="customer")
    got = [(m["order_id"] or f"c{m['customer_id']}", m["rule"], m["recipient"], m["status"]) for m in customer]
    assert got == [
        (20, "order-awaiting-transfer", "+84912345678", "pending"),
        (21, "order-processing", "+84912345678", "pending"),
        (22, "order-awaiting-transfer", "+84912345678", "pending"),
        (23, "order-processing", "+84912345678", "pending"),
        (24, "order-processing", "+84987654321", "pending"),
        (25, "order-awaiting-transfer", "+84389123456", "pending"),
        (26, "order-processing", None, "failed"),
        (27, "order-awaiting-transfer", None, "failed"),
        (20, "order-processing", "+84912345678", "pending"),
        (20, "order-completed", "+84912345678", "pending"),
        (21, "order-cancelled", "+84912345678", "pending"),
        (22, "order-failed", "+84912345678", "pending"),
        (23, "order-refunded", "+84912345678", "pending"),
        ("c2", "customer-welcome", "+84987654321", "pending"),
        (26, "order-processing", "+84905123456", "pending"),   # the shop fixed the phone (027)
        (27, "order-completed", None, "failed"),               # coalesced processing+completed (028)
    ]
    owner = svc.messages(audience="owner")
    assert [m["order_id"] for m in owner] == [20, 21, 22, 23, 24, 25, 26, 27]
    assert {m["recipient"] for m in owner} == {"+84901234567"}


def test_message_texts_carry_the_order_facts(service_factory):
    svc = service_factory()
    replay_all(svc)
    transfer = svc.messages(order_id=20, rule="order-awaiting-transfer")[0]
    # unicode: false in the rule: diacritics removed, đ -> d, amounts the Vietnamese way
    assert transfer["text"] == ("Shop Demo: Don #20 513.000d. Vui long chuyen khoan 513.000d den Vietcombank "
                                "STK 0071009998887 (CONG TY TNHH SHOP DEMO), noi dung: DH20. "
                                f"Ma QR: {svc.url}/pay/wc_order_bnPZIU7YDw4bK")
    assert transfer["encoding"] == "GSM-7" and transfer["segments"] == 2 and transfer["length"] == len(transfer["text"])
    refund = svc.messages(order_id=23, rule="order-refunded")[0]
    assert "370.000d" in refund["text"]
    cod = svc.messages(order_id=21, rule="order-processing")[0]
    assert "chuan bi 199.000d khi nhan hang" in cod["text"] or "khi nhan hang" in cod["text"]
    welcome = svc.messages(rule="customer-welcome")[0]
    # this rule keeps diacritics (unicode: true): UCS-2, 70 characters per segment
    assert "Chào mừng Nguyễn Thị Lan" in welcome["text"] and welcome["encoding"] == "UCS-2"
    failed = svc.messages(order_id=26, audience="customer")[0]
    assert failed["status"] == "failed" and reasons.code_of(failed["reason"]) == "outbox.phone_invalid" and "12345" in reasons.english(failed["reason"])


def test_replaying_every_delivery_again_sends_nothing_more(service_factory):
    svc = service_factory()
    replay_all(svc)
    before = len(svc.messages())
    answers = replay_all(svc)
    assert len(svc.messages()) == before
    assert all(a.get("duplicate") for n, a in answers.items() if n != "000-ping-unsigned-form")


def test_a_replay_with_its_unsigned_headers_changed_is_still_the_same_delivery(service_factory):
    """The signature covers the body only: a captured delivery sent again with another resource
    or topic header is the delivery already stored (one row, nothing decided again), else each
    such copy of a password reset would send the customer another text."""
    svc = service_factory()
    replay_all(svc)
    before = (len(svc.messages()), svc.db.scalar("SELECT COUNT(*) FROM deliveries"))
    for name in SAMPLES[1:]:
        headers, body = load_delivery(name)
        for changed in ({"X-WC-Webhook-Resource": "x1"}, {"X-WC-Webhook-Resource": "Order "},
                        {"X-WC-Webhook-Topic": "customer.updated", "X-WC-Webhook-Resource": "customer"}):
            r = requests.post(svc.url + "/webhooks/woocommerce", data=body, headers={**headers, **changed}, timeout=10)
            assert r.status_code == 200 and r.json().get("duplicate"), (name, changed, r.text)
    svc.bridge.decide_pending()
    assert (len(svc.messages()), svc.db.scalar("SELECT COUNT(*) FROM deliveries")) == before


def test_identical_body_with_a_new_delivery_id_does_not_notify_twice(service_factory):
    svc = service_factory()
    headers, body = load_delivery("001-order.updated-o20-checkout-bacs-on-hold")
    first = svc.post_delivery("001-order.updated-o20-checkout-bacs-on-hold").json()
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE delivery_ref=?", (first["delivery"],)) == 2
    r = svc.post_json(body, topic="order.updated")  # same body, fresh delivery id, re-signed
    assert r.status_code == 200
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE delivery_ref=?", (r.json()["delivery"],)) == 0
    assert len(svc.messages(order_id=20)) == 2


def test_late_order_created_does_not_roll_back_a_newer_status(service_factory):
    svc = service_factory()
    svc.post_delivery("017-order.updated-o20-on-hold-to-processing")
    svc.post_delivery("018-order.updated-o20-processing-to-completed")
    r = svc.post_delivery("002-order.created-o20-bacs-on-hold-phone-spaces")  # older body arrives last
    assert svc.db.scalar("SELECT state FROM deliveries WHERE id=?", (r.json()["delivery"],)) == "stale"
    assert svc.db.one("SELECT status FROM orders WHERE id=20")["status"] == "completed"
    rules = [m["rule"] for m in svc.messages(order_id=20, audience="customer")]
    assert rules == ["order-processing", "order-completed"]
    reason = svc.db.one("SELECT reason FROM deliveries WHERE id=?", (r.json()["delivery"],))["reason"]
    assert reasons.code_of(reason) == "shop.stale" and "older than the one already seen" in reasons.english(reason)


def test_trash_and_restore_send_nothing(service_factory):
    svc = service_factory()
    for n in ("011-order.updated-o25-checkout-bacs-on-hold", "025-order.deleted-o25-trash",
              "026-order.restored-o25-untrash-on-hold"):
        assert svc.post_delivery(n).status_code == 200
    assert len(svc.messages(order_id=25, audience="customer")) == 1
    assert svc.db.one("SELECT deleted, status FROM orders WHERE id=25")["deleted"] == 0


@pytest.mark.parametrize("name", [n for n in SAMPLES if n != "000-ping-unsigned-form"])
def test_every_sample_is_stored_raw_before_the_answer(service_factory, name):
    svc = service_factory()
    headers, body = load_delivery(name)
    r = svc.post_delivery(name)
    assert r.status_code == 200
    row = deliveries.get(svc.db.conn(), svc.db.scalar("SELECT id FROM deliveries WHERE delivery_id=?",
                                                      (headers["X-WC-Webhook-Delivery-ID"],)))
    assert row is not None and deliveries.raw_body(row) == body and row["topic"] == headers["X-WC-Webhook-Topic"]
    assert row["state"] in ("processed", "ignored")
