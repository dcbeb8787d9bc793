"""The customer's cash-on-delivery confirm page (/c/<token>) in a real browser, at a phone's
width and a desktop's: it fits, the strict CSP refuses nothing of ours, a tap on "Xác nhận"
confirms and the page then says so."""
from __future__ import annotations

import pytest

from tests.browser import assert_fits, browser, new_page, shot  # noqa: F401 - browser is a fixture
from tests.test_cod_confirm import asked, link, make, place


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_the_confirm_page_fits_and_a_tap_confirms(browser, service_factory, tmp_path, woo, fake_smsgate, width):
    svc = make(service_factory, tmp_path, woo, fake_smsgate, shop_name="Shop Áo Dài Sài Gòn Thanh Lịch")
    place(svc, woo, 851)
    context, page, refused = new_page(browser, width)
    try:
        page.goto(link(svc, 851))
        assert page.locator("h1").inner_text() == "Đơn hàng #851"
        assert_fits(page, f"the confirm page at {width}")
        shot(page, "cod-confirm", width)
        page.click("button.yes")
        page.wait_for_selector("#decided")
        assert "Bạn đã xác nhận đơn hàng" in page.locator("#decided").inner_text()
        assert_fits(page, f"the confirmed page at {width}")
        shot(page, "cod-confirmed", width)
        assert asked(svc, 851)["state"] == "confirmed" and refused == []
        page.goto(link(svc, 851)[:-3] + "abc")
        assert "Link không hợp lệ" in page.locator("h1").inner_text()
        assert_fits(page, f"the invalid link page at {width}")
    finally:
        context.close()
