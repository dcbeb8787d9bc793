"""The admin page in a real browser: Debian's Chromium driven by Playwright against the service
over real HTTP, with the fake eSMS and fake WooCommerce behind it. Screenshots of each step go
to tests/artifacts/ (git-ignored) for a person to look at."""
from __future__ import annotations

import json

import pytest

from bridge.envparse import bank_accounts as _accounts
from tests.admin_walk import push
from tests.browser import WIDTHS, assert_fits, browser, new_page, shot  # noqa: F401 - browser is a fixture
from tests.conftest import esms_settings, wait_until
from tests.fakes.woocommerce import FakeWooCommerce
from tests.orders import order_body

PASSWORD = "mat-khau-cua-shop"


@pytest.fixture
def shop(service_factory, fake_esms):
    with FakeWooCommerce() as woo:
        svc = service_factory(start_scheduler=True, admin_password=PASSWORD, woo_url=woo.url,
                              woo_consumer_key="ck_test", woo_consumer_secret="cs_test",
                              bank_accounts=_accounts("Vietcombank:0181003749261"), **esms_settings(fake_esms))
        yield svc, woo


def go(page, label: str) -> None:
    """Through the header as the owner would: the inline links on a wide screen, the menu on a phone."""
    menu = page.locator("#menu summary")
    if menu.is_visible():
        menu.click()
        page.locator("#menu nav a", has_text=label).click()
    else:
        page.locator("nav.wide-nav a", has_text=label).click()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_an_owner_signs_in_finds_a_message_resends_it_confirms_a_payment_and_switches_language(
        browser, shop, fake_esms, width):
    svc, woo = shop
    woo.add_order(901, 513000)
    body = json.loads(order_body(901, phone="0987 111 222"))
    body["billing"]["first_name"] = "Thị Lan"
    body["billing"]["last_name"] = "Nguyễn"
    assert svc.post_json(json.dumps(body).encode(), topic="order.created").status_code == 200
    wait_until(lambda: len(fake_esms.accepted) == 2, what="customer SMS and owner alert")
    sms = ("SD TK 0181003749261 +513,000VND luc 23-11-2026 09:12:40. SD 6,801,000VND. Ref MBVCB.9911.chi Lan tra "
           "tien hang.CT tu 1047263815 NGUYEN THI LAN toi 0181003749261 CUA H...")
    push(svc, sms)
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM transactions") == 1, what="the bank SMS read")

    context, page, refused = new_page(browser, width)   # refused: what our CSP blocked (nothing of ours may be)

    # sign in (a wrong password first)
    page.goto(svc.url + "/admin/")
    assert "/admin/login" in page.url
    page.fill("input[name=password]", "sai")
    page.click("button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "Sai mật khẩu."
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(svc.url + "/admin/")
    assert page.locator("h1").inner_text() == "Tổng quan"
    assert page.locator("#review-count").inner_text() == "1"
    shot(page, "1-dashboard", width)

    # search a message without diacritics, open it, resend it
    go(page, "Tin nhắn")
    page.fill("input[name=q]", "lan")
    page.click("button:has-text('Lọc')")
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and "Nguyen Thi Lan" in rows.first.inner_text()   # the owner's new-order alert
    assert_fits(page)
    shot(page, "2-search", width)
    rows.first.locator("a").first.click()
    original = page.url.rsplit("/", 1)[1]
    page.click("#resend")
    page.wait_for_url(lambda url: url.rsplit("/", 1)[1] != original)
    assert "Đã gửi lại thành một tin mới." in page.locator(".flash.ok").inner_text()
    copy = page.url.rsplit("/", 1)[1]
    wait_until(lambda: len(fake_esms.accepted) == 3, what="the resent SMS at eSMS")
    first = next(a for a in fake_esms.accepted if a["RequestId"] == original)
    assert fake_esms.accepted[2]["RequestId"] == copy and fake_esms.accepted[2]["Content"] == first["Content"]
    shot(page, "3-resent", width)

    # the review queue: find the order by the customer's phone and confirm the payment
    go(page, "Thanh toán")
    page.click("a.button:has-text('Duyệt')")
    suggested = page.locator("ul.suggestions li").first   # the order of exactly this amount, ranked first
    assert "#901" in suggested.inner_text() and suggested.locator("button.confirm-suggested").is_visible()
    page.fill("#order-search", "0987111222")
    with page.expect_navigation():   # the search is a GET form: measure the answer, not the page leaving
        page.click("button:has-text('Tìm đơn')")
    assert_fits(page)
    shot(page, "4-review", width)
    page.click("button.confirm-order")
    assert "Đã xác nhận" in page.locator(".flash.ok").inner_text()
    wait_until(lambda: woo.status_changes == [(901, "on-hold", "processing")], timeout=15,
               what="WooCommerce marked the order paid")
    assert "Chờ duyệt (0)" in page.content()
    shot(page, "5-confirmed", width)

    # live template preview (the page's only script) and the language switch
    go(page, "Mẫu tin")
    section = page.locator("#rule-order-processing")
    section.locator("textarea").fill("Đơn {{ order_number }} đã xong")
    # a locator wait, not wait_for_function: the page's CSP (no 'unsafe-eval') refuses evaluated strings
    from playwright.sync_api import expect
    expect(section.locator(".preview-without")).to_have_text("Don 10231 da xong")
    page.click("button:has-text('English')")
    assert page.locator("h1").inner_text() == "Templates"
    go(page, "Dashboard")
    assert page.locator("h1").inner_text() == "Dashboard"
    shot(page, "6-english", width)
    assert refused == [], refused
    context.close()
