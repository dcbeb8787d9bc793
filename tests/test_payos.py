"""payOS through the real app and a fake payOS over real HTTP (tests/fakes/payos.py, held to the
official SDK): one link per bank-transfer order whatever answer is lost, the link on the pay page
and in messages only while the order awaits payment, a paid link confirming its order once
(webhook or reconcile, whichever comes first), and the link cancelled when the order is paid
another way or cancelled."""
from __future__ import annotations

import uuid

import pytest
import requests
from payos import PayOS
from payos.types import CreatePaymentLinkRequest

from bridge import providers
from bridge.__main__ import main
from bridge.payments.vietqr import svg
from tests.conftest import wait_until, woo_settings
from tests.fakes.payos import FakePayos, sign
from tests.orders import order_body

ACCOUNT = "0071009998887"
VCB = ("SD TK {account} +{amount:,}VND luc 23-11-2026 10:{minute:02d}:40. SD {balance:,}VND. Ref MBVCB.77{minute:02d}."
       "{memo}.CT tu 1047263815 VO MINH KHANG toi {account} CUA H...")


@pytest.fixture
def payos():
    with FakePayos(account=ACCOUNT) as fake:
        yield fake


@pytest.fixture
def shop(service_factory, payos, woo):
    """The service with payOS on (passes every 0.2 s), the fake shop for write-backs."""
    def make(**changes):
        svc = service_factory(start_scheduler=True, **{
            **payos.settings(), **woo_settings(woo), "payos_every": 0.2, "payos_timeout": 0.5,
            "payos_reconcile_every": 3600.0, "bank_accounts": (("Vietcombank", ACCOUNT),), **changes})
        payos.webhook_url = svc.url + "/inbound/payos"
        return svc
    return make


def new_order(svc, woo, order_id: int, total: int = 513_000, status: str = "on-hold",
              modified: str = "2026-11-23T02:41:58") -> None:
    if order_id not in woo.orders:
        woo.add_order(order_id, total, status=status)
    r = svc.post_json(order_body(order_id, status=status, total=total, modified=modified))
    assert r.status_code == 200, r.text


def link_row(svc, order_id: int):
    return svc.db.one("SELECT * FROM payos_links WHERE order_id=?", (order_id,))


def open_link(svc, order_id: int):
    return wait_until(lambda: (r := link_row(svc, order_id)) is not None and r["state"] == "open" and r,
                      what=f"payOS link of order {order_id}")


def paid_once(svc, woo, order_id: int) -> None:
    wait_until(lambda: svc.db.one("SELECT paid_at FROM orders WHERE id=?", (order_id,))["paid_at"],
               what=f"order {order_id} paid")
    wait_until(lambda: [c for c in woo.status_changes if c[0] == order_id], timeout=15, what="WooCommerce told")
    assert [c for c in woo.status_changes if c[0] == order_id] == [(order_id, "on-hold", "processing")]
    confirms = svc.db.query("SELECT source FROM transactions WHERE order_id=? AND decision='confirm'", (order_id,))
    assert len(confirms) == 1


def bank_sms(svc, memo: str, amount: int = 513_000, minute: int = 5) -> None:
    text = VCB.format(account=ACCOUNT, amount=amount, minute=minute, balance=9_000_000 + amount, memo=memo)
    r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": "Vietcombank",
                                                        "message": text, "guid": uuid.uuid4().hex}, timeout=5)
    assert r.status_code == 200, r.text


def test_the_official_sdk_talks_to_the_fake(payos):
    """The fake's answers carry signatures the SDK checks itself, and its webhooks verify with the SDK."""
    sdk = PayOS(payos.client_id, payos.api_key, payos.checksum_key, base_url=payos.url + "/", max_retries=0)
    made = sdk.payment_requests.create(CreatePaymentLinkRequest(order_code=77, amount=2000, description="DH77",
                                                                return_url="http://x/r", cancel_url="http://x/c"))
    assert made.order_code == 77 and made.checkout_url.endswith(made.payment_link_id)
    assert sdk.payment_requests.get(77).status == "PENDING"
    payos.pay(77, deliver=False)
    link = sdk.payment_requests.get(made.payment_link_id)      # signed over its transactions list too
    assert link.status == "PAID" and link.transactions[0].amount == 2000
    body = {"code": "00", "desc": "success", "success": True, "data": payos.paid[0],
            "signature": sign(payos.paid[0], payos.checksum_key)}
    assert sdk.webhooks.verify(body).order_code == 77


def test_one_link_per_order_even_when_payos_answers_too_late(shop, payos, woo):
    svc = shop()
    payos.lose_next_create()
    new_order(svc, woo, 1201)
    row = wait_until(lambda: (r := link_row(svc, 1201)) is not None and r["error"] and r, timeout=15,
                     what="the lost answer noticed")
    assert row["state"] == "creating" and "did not answer" in row["error"] and row["order_code"] == 1201
    assert payos.link_of(1201) is not None           # payOS made it; we never heard
    svc.clock.advance(3600)                           # the retry is due
    row = open_link(svc, 1201)
    assert [c["orderCode"] for c in payos.creates] == [1201, 1201]   # asked again under the same code
    assert len(payos.links) == 1
    link = payos.link_of(1201)
    assert row["link_id"] == link["id"] and row["checkout_url"] == f"{payos.url}/web/{link['id']}"
    assert (payos.creates[0]["amount"], payos.creates[0]["description"]) == (513_000, "DH1201")
    assert payos.creates[0]["returnUrl"] == f"{svc.url}/pay/wc_order_00001201"


def test_a_rate_limited_create_is_asked_again_later(shop, payos, woo):
    svc = shop()
    payos.rate_limit_next()
    new_order(svc, woo, 1208)
    row = wait_until(lambda: (r := link_row(svc, 1208)) is not None and r["error"] and r, what="429 noticed")
    assert "429" in row["error"] and row["state"] == "creating"
    svc.clock.advance(3600)
    open_link(svc, 1208)
    assert len(payos.links) == 1


def test_the_pay_page_and_messages_offer_the_link_only_while_the_order_awaits_payment(shop, payos, woo):
    svc = shop()
    new_order(svc, woo, 1202)
    row = open_link(svc, 1202)
    page = requests.get(svc.url + "/pay/wc_order_00001202", timeout=5).text
    assert row["checkout_url"] in page and svg(row["qr_code"]) in page     # payOS's QR, not ours
    assert providers.template_vars(svc.settings, order_id=1202)["payos_checkout_url"] == row["checkout_url"]
    # the shop cancels the order (or payment expiry does): the page stops offering the link at once,
    # and the link is cancelled at payOS
    new_order(svc, woo, 1202, status="cancelled", modified="2026-11-24T02:41:58")
    page = requests.get(svc.url + "/pay/wc_order_00001202", timeout=5).text
    assert row["checkout_url"] not in page and svg(row["qr_code"]) not in page
    assert providers.template_vars(svc.settings, order_id=1202)["payos_checkout_url"] == ""
    wait_until(lambda: payos.link_of(1202)["status"] == "CANCELLED", what="link cancelled at payOS")
    wait_until(lambda: link_row(svc, 1202)["state"] == "cancelled", what="link cancelled in our books")
    assert [c[0] for c in payos.cancels] == [row["link_id"]]
    assert payos.cancels[0][1]["cancellationReason"]


def test_registering_the_webhook_books_nothing_and_a_paid_link_confirms_its_order_once(shop, payos, woo, monkeypatch):
    svc = shop()
    for key, value in {"PAYOS_CLIENT_ID": payos.client_id, "PAYOS_API_KEY": payos.api_key,
                       "PAYOS_CHECKSUM_KEY": payos.checksum_key, "PAYOS_BASE_URL": payos.url,
                       "BRIDGE_DB": svc.settings.db_path}.items():
        monkeypatch.setenv(key, value)
    payos.webhook_url = ""
    assert main(["payos-confirm-webhook", svc.url + "/inbound/payos"]) == 0
    assert payos.webhook_url == svc.url + "/inbound/payos"            # its check (orderCode 123) got a 2xx
    assert svc.db.scalar("SELECT COUNT(*) FROM inbox") == 0           # and booked nothing
    new_order(svc, woo, 1203)
    open_link(svc, 1203)
    r = payos.pay(1203)
    assert r.status_code == 200 and r.json()["success"] is True
    paid_once(svc, woo, 1203)
    again = payos.push(payos.paid[-1])                                 # payOS delivers it again
    assert again.status_code == 200 and again.json()["duplicate"] is True
    wait_until(lambda: link_row(svc, 1203)["state"] == "paid", what="the paid link kept as paid")
    assert payos.cancels == []                                         # a paid link is left alone
    paid_once(svc, woo, 1203)


def test_a_wrong_signature_is_refused_and_recorded(shop, payos, woo):
    svc = shop()
    new_order(svc, woo, 1207)
    open_link(svc, 1207)
    payos.pay(1207, deliver=False)
    r = payos.push(payos.paid[-1], key="not-the-checksum-key")
    assert r.status_code == 401 and "PAYOS_CHECKSUM_KEY" in r.json()["error"] and r.json()["success"] is False
    assert svc.db.one("SELECT endpoint, http_status FROM rejections")["endpoint"] == "/inbound/payos"
    assert svc.db.one("SELECT paid_at FROM orders WHERE id=1207")["paid_at"] is None


def test_an_order_paid_by_bank_sms_gets_its_link_cancelled(shop, payos, woo):
    svc = shop()
    new_order(svc, woo, 1204)
    row = open_link(svc, 1204)
    bank_sms(svc, "DH1204")
    paid_once(svc, woo, 1204)
    wait_until(lambda: payos.link_of(1204)["status"] == "CANCELLED", what="link cancelled at payOS")
    wait_until(lambda: link_row(svc, 1204)["state"] == "cancelled", what="link cancelled in our books")
    assert [c[0] for c in payos.cancels] == [row["link_id"]]


def test_a_missed_webhook_is_caught_up_by_reconcile_once(shop, payos, woo):
    svc = shop(payos_reconcile_every=0.3)
    new_order(svc, woo, 1205)
    open_link(svc, 1205)
    payos.pay(1205, deliver=False)                    # payOS's notification never reaches us
    paid_once(svc, woo, 1205)
    assert svc.db.one("SELECT source FROM inbox")["source"] == "payos"
    late = payos.push(payos.paid[-1])                 # and then it does arrive
    assert late.status_code == 200 and late.json()["duplicate"] is True
    paid_once(svc, woo, 1205)


def test_an_order_whose_payment_code_is_too_long_gets_no_link(shop, payos, woo):
    svc = shop(payos_description_max=6)
    new_order(svc, woo, 12060)
    row = wait_until(lambda: link_row(svc, 12060), what="the order considered")
    assert row["state"] == "failed" and "DH12060" in row["error"] and "PAYOS_DESCRIPTION_MAX" in row["error"]
    assert payos.creates == []


def test_without_payos_keys_nothing_changes(service_factory):
    svc = service_factory(start_scheduler=True)
    assert not {j.id for j in svc.bridge.scheduler.get_jobs()} & {"payos_links", "payos_reconcile"}
    r = requests.post(svc.url + "/inbound/payos", json={"data": {}, "signature": "x"}, timeout=5)
    assert r.status_code == 404 and "PAYOS_CHECKSUM_KEY" in r.json()["error"]
    assert providers.template_vars(svc.settings, order_id=1)["payos_checkout_url"] == ""
    assert not [line for line in svc.bridge.banner().splitlines() if "payOS" in line]


def test_a_link_whose_create_answer_was_lost_is_still_cancelled_with_its_order(shop, payos, woo):
    svc = shop()
    payos.lose_next_create()
    new_order(svc, woo, 1209)
    wait_until(lambda: (r := link_row(svc, 1209)) is not None and r["error"], timeout=15, what="the lost answer noticed")
    new_order(svc, woo, 1209, status="cancelled", modified="2026-11-24T02:41:58")
    svc.clock.advance(3600)
    wait_until(lambda: payos.link_of(1209)["status"] == "CANCELLED", what="the link we never heard of cancelled")
    wait_until(lambda: link_row(svc, 1209)["state"] == "cancelled", what="cancelled in our books")
    assert len(payos.creates) == 1            # the cancelled order was not asked for a link again
