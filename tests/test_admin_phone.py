"""Every admin page on a phone: Debian's Chromium walks the pages a person reaches (found from
the header, as tests/admin_walk.py does) at 390x844 and at 1366x900, with a busy shop's data
(names longer than the screen, long addresses, many rows), and fails on a page wider than the
screen or a button, link or field smaller than a fingertip (44 px). Screenshots of both widths go
to tests/artifacts/admin-<page>-<width>.jpg for a person to look at."""
from __future__ import annotations

import pytest

from bridge.envparse import bank_accounts
from tests.admin_walk import LONG_URL, MISSING, cod_day, discover, pause_a_phone, seed
from tests.browser import WIDTHS, assert_fits, browser, new_page, shot, sign_in  # noqa: F401 - browser is a fixture
from tests.conftest import esms_settings, smsgate_settings, woo_settings
from tests.test_admin import PASSWORD

# What a finger taps, as the contract's CSS makes it (base.html): visible and at least 44 px high
_SMALL = """() => {
  const out = [];
  for (const el of document.querySelectorAll('button, .button, header a, summary, select, input:not([type=hidden]):not([type=checkbox]):not([type=radio])')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.height && r.height < 43.5 && out.length < 5)
      out.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className : '')
               + ' "' + (el.textContent || el.value || '').trim().slice(0, 30) + '" h=' + Math.round(r.height));
  }
  return out;
}"""


@pytest.fixture
def shop(service_factory, fake_esms, fake_smsgate, woo):
    svc = service_factory(start_scheduler=True, admin_password=PASSWORD, public_url=LONG_URL, **woo_settings(woo),
                          bank_accounts=bank_accounts("Vietcombank:0181003749261"),
                          **{**smsgate_settings(fake_smsgate), **esms_settings(fake_esms),
                             "owner_phones": ("0901 234 567",)})
    seed(svc, woo, orders=60)
    pause_a_phone(svc)
    cod_day(svc)
    return svc


def test_every_admin_page_fits_a_phone_and_a_desktop(browser, shop):
    svc = shop
    context, page, refused = new_page(browser, "desktop")
    sign_in(page, svc.url, PASSWORD)

    def get(path: str) -> str:
        page.goto(svc.url + path)
        return page.content()

    pages = discover(get)
    context.close()
    # the order whose confirmation and parcel the COD rows describe, and every COD list
    cod_order = svc.db.scalar("SELECT order_id FROM cod_answers ORDER BY id LIMIT 1")
    walked = {p for _, p in pages}
    cod_pages = (("orders-cod", f"/admin/orders/{cod_order}"), ("cod-unmatched", "/admin/cod/unmatched"),
                 ("cod-all", "/admin/cod?state=all"))
    pages += [(name, path) for name, path in cod_pages if path not in walked]
    assert {"dashboard", "payments", "payments-detail", "settings", "404"} <= {n for n, _ in pages}, pages
    problems: list[str] = []   # every page is walked and shot; what fails is said at the end, all of it
    for width in ("phone", "desktop"):
        context, page, refused = new_page(browser, width)
        pixels = WIDTHS[width][0]
        page.goto(svc.url + "/admin/login")   # the one page before signing in
        shot(page, "login", str(pixels))
        assert_fits(page, f"/admin/login at {pixels} px")
        sign_in(page, svc.url, PASSWORD)
        for name, path in pages:
            response = page.goto(svc.url + path)
            assert response.status == (404 if path == MISSING else 200), path
            shot(page, name, str(pixels))
            try:
                assert_fits(page, f"{path} at {pixels} px")
            except AssertionError as wide:
                problems.append(str(wide).splitlines()[0])
            small = page.evaluate(_SMALL) if width == "phone" else []
            if small:
                problems.append(f"{path}: tap targets under 44 px: {small}")
        if width == "phone":   # the header's menu opens without script and fits too
            page.goto(svc.url + "/admin/payments")
            assert page.locator("header nav.wide-nav").is_hidden()
            page.click("#menu summary")
            assert page.locator("#menu nav a").first.is_visible()
            shot(page, "menu", str(pixels))
            assert_fits(page, "the open menu")
            page.locator("#menu nav a", has_text="Cài đặt").click()
            page.wait_for_url("**/admin/settings")
            assert page.locator(".endpoints button.copy").count() >= 1   # the addresses have copy buttons
        assert refused == [], refused
        context.close()
    assert problems == [], "\n".join(problems)


def test_a_payment_is_confirmed_from_a_phone(browser, shop):
    """The review queue on a phone: the suggested order's button is on screen and confirms."""
    svc = shop
    context, page, refused = new_page(browser, "phone")
    sign_in(page, svc.url, PASSWORD)
    tx = svc.db.scalar("SELECT MIN(id) FROM transactions WHERE decision='underpaid'")
    page.goto(f"{svc.url}/admin/payments/{tx}?q=DH4002")
    button = page.locator("button.confirm-order").first
    box = button.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 44
    button.click()
    assert "Đã xác nhận" in page.locator(".flash.ok").inner_text()
    assert svc.db.scalar("SELECT review_action FROM transactions WHERE id=?", (tx,)) == "confirmed"
    assert_fits(page, "the payments page after confirming")
    assert refused == [], refused
    context.close()
