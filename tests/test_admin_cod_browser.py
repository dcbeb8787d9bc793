"""The owner's COD pages in Chromium at a phone's width and a desktop's, with a busy day's rows
(tests/cod_rows.py: long names, a tracking code longer than the screen is wide, a raw carrier
call): the dashboard's block (customers to call with a number to tap, a parcel to look at and
its "seen" button), the order with every answer and the carrier's story, the /admin/cod lists.
Nothing may be wider than the screen; screenshots under tests/artifacts/."""
from __future__ import annotations

import json

import pytest

from tests import cod_rows
from tests.browser import ARTIFACTS, assert_fits, browser, new_page, shot, sign_in  # noqa: F401 - browser is a fixture
from tests.orders import order_body
from tests.test_admin import PASSWORD

NAMES = ("Nguyễn Thị Bích Ngọc Phương Thảo", "Trần Hoàng Khánh Linh Như Quỳnh", "Lê Võ Minh Khang Đức Trí",
         "Phạm Huỳnh Thanh Tâm Ngọc Diệp", "Đặng Nguyễn Bảo Châu Thiên Kim", "Hồ Thị Mai Anh Thư",
         "Vũ Đức Thắng Quang Huy")


@pytest.fixture
def shop(service_factory):
    svc = service_factory(admin_password=PASSWORD)
    for i, name in enumerate(NAMES):
        body = json.loads(order_body(5101 + i, total=1_250_000 + i * 1000, status="processing",
                                     phone=f"0912 345 {i:03d}"))
        body["billing"]["first_name"], body["billing"]["last_name"] = name.split(" ", 1)[1], name.split(" ", 1)[0]
        body["payment_method"], body["payment_method_title"] = "cod", "Trả tiền mặt khi nhận hàng"
        assert svc.post_json(json.dumps(body).encode(), topic="order.created").status_code == 200
    ids = cod_rows.busy_shop(svc, list(range(5101, 5101 + len(NAMES))), svc.clock())
    return svc, ids


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_the_cod_pages_fit_and_the_owner_calls_and_marks_a_parcel_seen(browser, shop, width):
    svc, ids = shop
    context, page, refused = new_page(browser, width)
    sign_in(page, svc.url, PASSWORD)
    page.goto(svc.url + "/admin/")
    block = page.locator("#cod")
    assert block.locator("h3", has_text="Cần gọi cho khách").is_visible()
    assert block.locator("#cod-calls tbody tr").count() == 2
    tel = block.locator("#cod-calls a.tel").first
    assert tel.get_attribute("href").startswith("tel:+849") and tel.bounding_box()["height"] >= 43.5
    assert block.locator("#cod-parcels tbody tr").count() == 3
    assert block.locator("#cod-parcels", has_text="Đơn đã hủy nhưng vận đơn vẫn còn").is_visible()
    answers = block.locator("#cod-answers tbody tr")
    assert block.locator("h3", has_text="Câu trả lời cần xem").is_visible() and answers.count() == 2
    assert answers.first.locator("a.tel").get_attribute("href").startswith("tel:+849")
    assert "sáng em đi làm không có nhà" in answers.first.inner_text()
    assert_fits(page, f"the dashboard's COD block at {width}")
    ARTIFACTS.mkdir(exist_ok=True)
    block.screenshot(path=str(ARTIFACTS / f"admin-dashboard-cod-{width}.png"))
    # the parcel back at the shop: seen, it leaves the block
    returned = block.locator("#cod-parcels tr", has_text="GHTK")
    returned.get_by_role("button", name="Đã xem").click()
    page.wait_for_url(svc.url + "/admin/")
    assert page.locator(".flash.ok").is_visible()
    assert page.locator("#cod-parcels tbody tr").count() == 2
    # the unclear reply read: it leaves the list, the change of mind stays
    page.locator("#cod-answers tbody tr").first.get_by_role("button", name="Đã xem").click()
    page.wait_for_url(svc.url + "/admin/")
    assert page.locator("#cod-answers tbody tr").count() == 1
    assert "sáng em đi làm" not in page.locator("#cod-answers").inner_text()
    # the customer's order from the call list: every answer, the parcel and what the carrier said
    page.goto(svc.url + f"/admin/orders/{ids['first']}")
    assert page.locator("#cod-answers tbody tr").count() == 3
    assert page.locator("#cod-answers tr.not-applied").count() == 2
    assert page.locator("#shipment-events tbody tr").count() == 5
    assert cod_rows.LONG_TRACKING in page.locator("#shipments").inner_text()
    assert_fits(page, f"an order with its COD answers and parcel at {width}")
    shot(page, "order-cod", width)
    page.goto(svc.url + "/admin/cod")
    assert page.locator("#states a.on").get_attribute("data-state") == "call"
    assert_fits(page, f"/admin/cod at {width}")
    shot(page, "cod-call", width)
    page.click("#unmatched-link")
    page.wait_for_url("**/admin/cod/unmatched")
    assert page.locator("#unmatched tbody tr").count() == 2
    assert_fits(page, f"/admin/cod/unmatched at {width}")
    shot(page, "cod-unmatched", width)
    assert not refused, refused
    context.close()
