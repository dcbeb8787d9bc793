"""The dashboard in Chromium at a phone's width and a desktop's: a new shop's set-up checklist
(with held transfer messages, long names and a long PUBLIC_URL), then the same shop with every
step done, where the checklist gives way to one line. Nothing may be wider than the screen;
screenshots under tests/artifacts/."""
from __future__ import annotations

import json

import pytest

from bridge import setup_checklist
from bridge.envparse import bank_accounts
from tests.admin_walk import push
from tests.browser import assert_fits, browser, new_page, shot, sign_in  # noqa: F401 - browser is a fixture
from tests.conftest import esms_settings, wait_until
from tests.fakes.woocommerce import FakeWooCommerce
from tests.orders import order_body
from tests.test_setup_checklist import Served

PASSWORD = "mat-khau-cua-shop"
LONG_URL = "https://cua-hang-thoi-trang-va-my-pham-chinh-hang-nguyen-thi-lan.example.vn:8443/woo-bridge"
BANK = dict(transfer_bank="Vietcombank", transfer_account="0181003749261",
            transfer_holder="CONG TY TNHH THUONG MAI DICH VU THOI TRANG NGUYEN THI LAN")


@pytest.fixture
def woo():
    with FakeWooCommerce() as fake:
        yield fake


def seed(svc, woo, fake_esms) -> None:
    """Orders from customers with long names (their transfer messages held), one paid by a bank
    SMS (a latency row), a message per status and channel."""
    for n in range(12):
        oid = 930 + n
        woo.add_order(oid, 513000 + n)
        body = json.loads(order_body(oid, total=513000 + n, phone=f"0987 111 2{n:02d}",
                                     status="on-hold" if n % 3 else "processing"))
        body["billing"]["first_name"] = "Nguyễn Thị Phương Thảo Hoàng Lan Anh"
        body["billing"]["last_name"] = "Trần Lê"
        assert svc.post_json(json.dumps(body).encode(), topic="order.created").status_code == 200
    sms = ("SD TK 0181003749261 +513,001VND luc 23-11-2026 09:12:40. SD 6,801,000VND. Ref MBVCB.9911.DH931 tra "
           "tien hang.CT tu 1047263815 NGUYEN THI PHUONG THAO toi 0181003749261 CUA H...")
    push(svc, sms)
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM transactions") == 1, what="the bank SMS read")


def test_the_dashboard_checklist_on_a_phone_and_a_desktop_then_all_green(browser, service_factory, woo, fake_esms):
    shop = dict(admin_password=PASSWORD, woo_url=woo.url, woo_consumer_key="ck_test", woo_consumer_secret="cs_test",
                bank_accounts=bank_accounts("Vietcombank:0181003749261"), **esms_settings(fake_esms))
    svc = service_factory(start_scheduler=True, public_url=LONG_URL, transfer_bank="", transfer_account="",
                          transfer_holder="", **shop)
    seed(svc, woo, fake_esms)
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE status='held'") >= 5
    for width in ("phone", "desktop"):
        context, page, refused = new_page(browser, width)
        sign_in(page, svc.url, PASSWORD)
        page.goto(svc.url + "/admin/")
        assert page.locator("#setup h2").inner_text() == "Danh sách việc cần làm để cài đặt"
        assert page.locator("#step-bank").get_attribute("data-state") == "todo"
        assert page.locator("#step-public_url").get_attribute("data-state") == "todo"
        assert page.locator("#step-bank .held-list li").count() == 5
        assert "8443" in page.locator("#step-public_url").inner_text()
        assert_fits(page, f"dashboard with the checklist at {width}")
        shot(page, "dashboard-checklist", width)
        # a held message opens on its own page, where the owner can cancel it
        page.locator("#step-bank .held-list a").first.click()
        assert "/admin/messages/" in page.url
        assert not refused, refused
        context.close()
    svc.close()

    # the owner sets the bank details and a public address that reaches the service, and restarts
    first = service_factory(**BANK, **shop)
    front = Served(first.app)
    try:
        done = service_factory(start_scheduler=True, db_path=first.settings.db_path, public_url=front.url,
                               **BANK, **shop)
        wait_until(lambda: setup_checklist.last_check(done.db) and setup_checklist.last_check(done.db)["state"]
                   == "reached", what="the PUBLIC_URL check at start")
        wait_until(lambda: not done.db.scalar("SELECT COUNT(*) FROM messages WHERE status='held'"),
                   what="the held messages released")
        for width in ("phone", "desktop"):
            context, page, refused = new_page(browser, width)
            sign_in(page, done.url, PASSWORD)
            page.goto(done.url + "/admin/")
            if width == "phone":   # the last step left: the shop's webhooks, one click on the page the step links to
                assert page.locator("#setup [data-state=todo]").count() == 1
                page.locator("#step-woocommerce a").click()
                page.click("form[action$='/woocommerce/connect'] button")
                page.goto(done.url + "/admin/")
            assert page.locator("#setup").count() == 0
            assert "Đã cài đặt xong" in page.locator("#setup-done").inner_text()
            assert_fits(page, f"dashboard all set at {width}")
            shot(page, "dashboard-all-set", width)
            assert not refused, refused
            context.close()
    finally:
        front.close()
