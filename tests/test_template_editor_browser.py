"""The template editor in Debian's Chromium at both widths: the owner enters the eSMS price in
settings, edits a template and saves it, sees its characters, SMS parts and cost per send, opens
the one-click "bỏ dấu" preview of what it would save, and goes back to the default; nothing is
wider than a phone's screen and the page's CSP refuses nothing of ours."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import ARTIFACTS, assert_fits, browser, new_page, shot, sign_in  # noqa: F401 - browser is a fixture
from tests.conftest import esms_settings

PASSWORD = "mat-khau-cua-shop"
WELCOME = ("{{ shop_name }}: Chào mừng {{ customer_name }} đã đăng ký tài khoản tại cửa hàng của chúng tôi. "
           "Nhắn tin cho shop qua Zalo hoặc Messenger bất cứ lúc nào: https://shop.example/lien-he-voi-chung-toi")


@pytest.fixture
def svc(service_factory, fake_esms):
    return service_factory(admin_password=PASSWORD, shop_name="Cửa hàng Thời trang Nguyễn Thị Minh Khai Sài Gòn",
                           **esms_settings(fake_esms))


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_an_owner_prices_edits_saves_and_sees_what_bo_dau_saves(browser, svc, width):
    context, page, refused = new_page(browser, width)
    sign_in(page, svc.url, PASSWORD)

    page.goto(svc.url + "/admin/settings#prices")
    page.fill("input[name=vnd-esms]", "abc")
    page.click("form.price-form button[type=submit]")
    expect(page.locator(".flash.error")).to_contain_text("Chưa lưu bảng giá")
    page.fill("input[name=vnd-esms]", "800")
    page.fill("input[name=vnd-messenger]", "0")
    page.click("form.price-form button[type=submit]")
    expect(page.locator(".flash.ok")).to_have_text("Đã lưu bảng giá.")
    box = page.locator("form.price-form").bounding_box()
    assert box["x"] + box["width"] <= page.viewport_size["width"], "the price form is wider than the screen"
    page.locator("form.price-form").screenshot(path=str(ARTIFACTS / f"admin-prices-{width}.png"))

    page.goto(svc.url + "/admin/templates")
    section = page.locator("#rule-customer-welcome")
    area = section.locator("textarea")
    assert area.input_value().startswith("{{ shop_name }}: Chào mừng")          # the YAML text, not an empty box
    area.fill(WELCOME)
    expect(section.locator(".stat-parts")).to_have_text("4 phần tin SMS")       # live, before saving
    section.locator("button.save").click()
    expect(page.locator(".flash.ok")).to_contain_text("Đã lưu mẫu tin customer-welcome")
    section = page.locator("#rule-customer-welcome")
    expect(section.locator(".template-state")).to_contain_text("Đã sửa")
    expect(section.locator(".stat-encoding")).to_have_text("UCS-2")
    expect(section.locator(".price-rows")).to_contain_text("3.200đ")             # 4 parts at 800đ
    section.locator("details.strip summary").click()
    expect(section.locator(".strip-plain")).to_have_text("2 phần tin SMS")
    expect(section.locator(".strip-savings")).to_contain_text("tiết kiệm 1.600đ mỗi lần gửi")
    assert_fits(page, f"templates at {width}")
    area_box, section_box = section.locator("textarea").bounding_box(), section.bounding_box()
    assert area_box["width"] >= section_box["width"] * 0.85, "the text box is not full width"
    shot(page, "templates-edited", width)
    section.screenshot(path=str(ARTIFACTS / f"admin-template-welcome-{width}.png"))   # the one edited, close up

    section.locator("details.history summary").click()
    expect(section.locator(".history-list li")).to_have_count(1)
    section.locator("button.to-default").click()
    expect(page.locator(".flash.ok")).to_contain_text("trở về nội dung mặc định")
    expect(page.locator("#rule-customer-welcome .template-state")).to_contain_text("Mặc định (YAML)")
    assert_fits(page, f"templates after back to default at {width}")
    assert refused == [], refused
    context.close()
