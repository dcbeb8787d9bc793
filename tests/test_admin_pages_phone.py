"""The messages, inbound and orders pages in Chromium at a phone's width and a desktop's, with
what a real shop accumulates: long Vietnamese names, long URLs and ids, more messages than a page
holds, an order with a long story. Nothing may be wider than the screen, the list of messages
stays a list (not 10,000 px of table), and what a thumb taps is at least 44 px high.
Screenshots go to tests/artifacts/admin-e-*-{phone,desktop}.jpg."""
from __future__ import annotations

import json
import uuid

import pytest
import requests

from bridge.outbox import FORWARD, Draft, Job, enqueue, enqueue_job
from bridge.payments.handler import shop_action
from bridge.phones import normalize_phone
from bridge.smstext import prepare
from bridge.store.db import now
from bridge.envparse import bank_accounts as _accounts
from tests.browser import assert_fits, browser, new_page, shot, sign_in  # noqa: F401 - browser is a fixture
from tests.conftest import wait_until
from tests.orders import order_body

PASSWORD = "mat-khau-cua-shop"
LONG_NAME = ("Nguyễn Hoàng Phương Thảo Bích Ngọc", "Trần Thị Thanh Huyền Trang")
LONG_URL = ("https://cua-hang-thoi-trang-phuong-thao.example.vn/thanh-toan/don-hang/10231/"
            "?key=wc_order_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789&utm_source=sms&utm_campaign=khuyen-mai-cuoi-nam")
# where a keyword rule forwards texts: a long URL on this machine (nothing listens on port 9)
CRM_URL = ("http://127.0.0.1:9/crm/webhooks/woo-bridge/tin-nhan-den/cua-hang-thoi-trang-phuong-thao"
           "?token=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOp")
VCB = ("SD TK 0181003749261 +{amount:,}VND luc 23-11-2026 09:{minute:02d}:40. SD 9,{minute:02d}0,000VND. "
       "Ref MBVCB.88{minute:02d}.{memo}.CT tu 1047263815 NGUYEN HOANG PHUONG THAO toi 0181003749261 CUA H...")


@pytest.fixture
def shop(service_factory):
    svc = service_factory(admin_password=PASSWORD, bank_accounts=_accounts("Vietcombank:0181003749261"),
                          payment_expire_hours=0)
    # an order with a long story: created, changed five times, paid (twice: once too many), written back
    body = json.loads(order_body(10231, total=1_290_000, phone="0912 345 678"))
    body["billing"].update(first_name=LONG_NAME[0], last_name="Nguyễn",
                           email="nguyen.hoang.phuong.thao.bich.ngoc.1990@congty-thoi-trang-viet.example.vn")

    def transfer(minute: int) -> None:
        text = VCB.format(amount=1_290_000, minute=minute, memo="DH10231 chuyen khoan tien ao dam cho chi Thao")
        r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": "Vietcombank",
                                                            "message": text, "guid": uuid.uuid4().hex}, timeout=5)
        assert r.status_code == 200

    def change(minute: int, topic: str, status: str) -> None:
        body.update(status=status, date_modified_gmt=f"2026-11-23T02:{minute:02d}:00")
        assert svc.post_json(json.dumps(body).encode(), topic=topic).status_code == 200

    change(0, "order.created", "on-hold")
    change(1, "order.updated", "on-hold")
    transfer(10)
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM transactions") == 1, what="the transfer read")
    for minute, status in enumerate(("processing", "completed", "refunded", "processing"), start=2):
        change(minute, "order.updated", status)
    transfer(20)
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM transactions") == 2, what="both transfers read")
    with svc.db.tx() as c:
        shop_action(c, "browser:note", 10231, {"action": "note", "note": "woo-bridge: " + LONG_URL}, "payment-note")
        enqueue_job(c, Job(kind=FORWARD, dedupe_key="browser:forward", rule="forward-to-crm", event="sms.forward",
                           audience="webhook", target=CRM_URL, target_label=CRM_URL,
                           payload={"text": "x" * 300, "url": CRM_URL}, summary="Vietcombank: " + "+1,290,000VND " * 8,
                           order_id=10231))
        # more messages than a page holds, with long names and links
        for i in range(62):
            name = LONG_NAME[i % 2]
            enqueue(c, Draft.to_phone(
                normalize_phone(f"09123450{i:02d}"), dedupe_key=f"browser:{i}", rule="order-processing-thong-bao",
                event="order.status", audience="customer", channels=("esms", "zalo", "smsgate"),
                sms=prepare(f"Chào {name}, đơn hàng #{10_000 + i} của bạn đang được xử lý. Theo dõi đơn tại "
                            f"{LONG_URL}&i={i} . Cảm ơn bạn đã mua sắm tại Cửa hàng Thời trang Phương Thảo!", True),
                order_id=10231 if i < 3 else None, payload={"button_url": LONG_URL, "button_title": "Xem đơn hàng"},
                due_at=now() + 3600 if i % 5 else None))
    for i in range(8):
        svc.bridge.received.accept(source="smsgate", external_id=f"in-{i}", device="dien-thoai-cua-hang-chi-nhanh-1",
                                   sim=1, sender="+84912345678" if i % 2 else "Vietcombank", recipient=None,
                                   text=f"Cho mình hỏi đơn DH10231 đã giao chưa ạ? {LONG_URL}", received_at=None,
                                   raw="{}", package="com.vietcombank.mobile.banking.notification.service",
                                   title="Thông báo biến động số dư tài khoản")
    svc.settle()
    svc.bridge.worker.drain()
    with svc.db.tx() as c:   # a provider id as long as some providers make them
        c.execute("UPDATE messages SET provider_id=? WHERE rowid=(SELECT MAX(rowid) FROM messages WHERE kind='message')",
                  ("esms-" + "9f8e7d6c5b4a" * 6,))
    return svc


def _pages(svc) -> dict[str, str]:
    long_one = svc.db.one("SELECT id FROM messages WHERE provider_id LIKE 'esms-%'")["id"]
    job = svc.db.one("SELECT id FROM messages WHERE kind='order_update' LIMIT 1")["id"]
    forward = svc.db.one("SELECT id FROM messages WHERE kind='forward'")["id"]
    return {"messages": "/admin/messages", "messages-all": "/admin/messages?kind=all&status=scheduled",
            "message": f"/admin/messages/{long_one}", "message-job": f"/admin/messages/{job}",
            "message-forward": f"/admin/messages/{forward}", "inbound": "/admin/inbound",
            "orders": "/admin/orders", "orders-search": "/admin/orders?q=thao", "order": "/admin/orders/10231"}


# Runs through CDP like tests/browser.py's overflow check: visible controls a thumb taps that are
# lower than 44 px.
_SMALL_TAPS = """() => Array.from(document.querySelectorAll(
    'main button, main .button, main select, main input:not([type=hidden]), main td.msg-text a, main a.order-link,'
    + ' main td.o-number a, main td.msg-when a, main a.open'))
  .filter(el => el.getClientRects().length && el.getBoundingClientRect().height < 43.5)
  .map(el => el.tagName.toLowerCase() + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().height))"""


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_messages_inbound_and_orders_fit_the_screen(browser, shop, width):
    svc = shop
    context, page, refused = new_page(browser, width)
    sign_in(page, svc.url, PASSWORD)
    for name, path in _pages(svc).items():
        page.goto(svc.url + path)
        assert page.locator("h1").count() == 1, name
        assert_fits(page, f"{name} at {width}")
        assert page.evaluate(_SMALL_TAPS) == [], f"{name} at {width}"
        shot(page, f"e-{name}", width)
    assert refused == [], refused
    context.close()


def test_on_a_phone_the_messages_list_is_short_cards_and_the_whole_text_is_on_the_message_page(browser, shop):
    svc = shop
    context, page, _ = new_page(browser, "phone")
    sign_in(page, svc.url, PASSWORD)
    page.goto(svc.url + "/admin/messages")
    cards = page.locator("table.messages tbody tr")
    assert cards.count() == 50
    height = page.evaluate("() => document.documentElement.scrollHeight")
    assert height < 50 * 200, f"the list is {height} px tall"
    first = cards.first.locator("td.msg-text")
    box = first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] < 120   # clamped, on screen
    assert "đang được xử lý" in first.inner_text()
    first.locator("a").click()
    page.wait_for_url(lambda u: "/admin/messages/" in u)
    full = page.locator("#message-text").inner_text()
    assert full.endswith("Cảm ơn bạn đã mua sắm tại Cửa hàng Thời trang Phương Thảo!") and LONG_URL in full
    # a long id has a copy button
    assert page.locator("button.copy").count() >= 1
    # the order's timeline reads as sentences
    page.goto(svc.url + "/admin/orders/10231")
    text = page.locator("table.timeline").inner_text()
    for line in ("Cửa hàng gửi đơn hàng mới", "Thanh toán 1.290.000đ từ Vietcombank", "Thêm ghi chú riêng vào đơn #10231",
                 "Đánh dấu đã thanh toán đơn #10231"):
        assert line in text, line
    context.close()
