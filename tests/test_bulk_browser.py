"""The bulk send pages in Chromium at a phone's width (390 px) and a desktop's: a CSV uploaded and
customers picked by their orders, the preview with its lists of skipped numbers, the progress of a
started bulk and the opt-out list all fit the screen, tap targets are at least 44 px high, and the
Vietnamese interface shows no English sentence. Screenshots: tests/artifacts/admin-bulk-*.jpg."""
from __future__ import annotations

import re

import pytest

from tests.admin_walk import Catalogue, english_in
from tests.browser import assert_fits, browser, new_page, shot, sign_in  # noqa: F401 - browser is a fixture
from tests.conftest import esms_settings, smsgate_settings, write_mappings
from tests.orders import order_body

PASSWORD = "mat-khau-bulk-browser"
LONG = "Nguyễn Hoàng Phương Thảo Bích Ngọc Trần Thị Thanh Huyền Trang"
CSV = ("sdt,ten khach,ma giam gia\n0912000001," + LONG + ",KHUYENMAI2026TETNGUYENDAN\n"
       "0912000001,Lặp lại,X\n12345678901234567890123456789012345678901234567890,Sai số,Y\n"
       + "\n".join(f"09120001{i:02d},Khách {i},M{i}" for i in range(60))).encode()
_SMALL_TAPS = """() => Array.from(document.querySelectorAll('main button, main .button, main select,'
  + ' main input:not([type=hidden]):not([type=checkbox]):not([type=radio]), main label.check'))
  .filter(el => el.getClientRects().length && el.getBoundingClientRect().height < 43.5)
  .map(el => el.tagName.toLowerCase() + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().height))"""


@pytest.fixture
def shop(service_factory, tmp_path, fake_smsgate, fake_esms):
    svc = service_factory(admin_password=PASSWORD, quiet_hours=None,
                          mappings_dir=str(write_mappings(tmp_path, channel="smsgate")),
                          **{**smsgate_settings(fake_smsgate), **esms_settings(fake_esms)})
    for i in range(5):
        assert svc.post_json(order_body(8100 + i, status="processing", phone=f"0912 000 20{i}"),
                             topic="order.created").status_code == 200
    return svc


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_bulk_pages_fit_the_screen_and_speak_vietnamese(browser, shop, tmp_path, width):
    svc = shop
    catalogue = Catalogue()
    context, page, refused = new_page(browser, width)
    sign_in(page, svc.url, PASSWORD)

    def check(name: str) -> None:
        assert page.locator("h1").count() == 1, name
        assert_fits(page, f"{name} at {width}")
        assert page.evaluate(_SMALL_TAPS) == [], f"{name} at {width}"
        assert english_in(page.content(), catalogue) == [], name
        shot(page, f"bulk-{name}", width)

    page.goto(svc.url + "/admin/bulk")
    assert page.locator("header a", has_text="Gửi hàng loạt").count() >= 1
    check("new")
    # a CSV with a long name, a duplicate and an invalid number
    (tmp_path / "khach.csv").write_bytes(CSV)
    page.set_input_files("input[name=csv]", str(tmp_path / "khach.csv"))
    page.fill("textarea[name=template]", "Chào {{ ten_khach }}, mã {{ ma_gia_giam if false else ma_giam_gia }}")
    page.click("form.bulk-new button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/bulk/\d+$"))
    assert page.locator("#n-duplicates").inner_text() == "1" and page.locator("#n-invalid").inner_text() == "1"
    check("preview")
    page.click("#bulk-start")
    page.wait_for_selector("#progress")
    check("progress")
    # customers picked by their orders, through the brandname: the page says what a brandname delivers
    page.goto(svc.url + "/admin/bulk")
    page.check("input[name=source][value=orders]")
    page.check("input[name=status][value=processing]")
    page.select_option("select[name=channel]", "esms")
    page.fill("textarea[name=template]", "{{ customer_name }}: đơn {{ order_number }} ({{ total }})")
    page.click("form.bulk-new button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/bulk/\d+$"))
    assert page.locator("#n-valid").inner_text() == "5"
    assert "đăng ký mẫu" in page.locator("#brandname-note").inner_text()
    check("orders-preview")
    # the opt-out list with one number added by hand
    page.goto(svc.url + "/admin/bulk/optouts")
    page.fill("input[name=phone]", "0912 000 100")
    page.click("#optout-add")
    page.wait_for_selector("tr[data-phone='+84912000100']")
    check("optouts")
    assert refused == [], refused
    context.close()
