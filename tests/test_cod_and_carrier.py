"""COD confirmation and the carrier's word together, each through its real entrance: the shop's
signed webhook, the customer's answer on the /c/ page and by SMS on the shop's phone, the fake
GHN's calls, the reminder job on the drivable clock; then what the owner reads on the dashboard,
the order page and /metrics. The areas were built side by side against shared tables; this is
where one's writing meets the other's reading."""
from __future__ import annotations

import json
import time

import pytest
import requests
from zoneinfo import ZoneInfo

from bridge import cod, months
from tests.conftest import wait_until
from tests.fakes.ghn import FakeGhn
from tests.test_admin import PASSWORD, Admin
from tests.test_admin_cod import month_row
from tests.test_cod_confirm import HOUR, asked, link, make, place, post
from tests.test_metrics_logs import scrape

GHN_TOKEN = "test-ghn-webhook-token"


@pytest.fixture
def ghn():
    with FakeGhn() as fake:
        yield fake


def test_a_confirmed_order_refused_at_the_door_shows_in_the_figures_and_a_shipped_one_closes(
        service_factory, tmp_path, woo, fake_smsgate, ghn):
    svc = make(service_factory, tmp_path, woo, fake_smsgate, ghn_webhook_token=GHN_TOKEN,
               admin_password=PASSWORD, timezone="Asia/Ho_Chi_Minh")
    url = f"{svc.url}/inbound/ghn?token={GHN_TOKEN}"
    for oid, phone in ((951, "0912 000 951"), (952, "0912 000 952"), (953, "0912 000 953")):
        place(svc, woo, oid, phone=phone)
    # 951 confirms on the page, 953 cancels by SMS, 952 never answers
    assert post(link(svc, 951), "confirm").status_code == 303
    assert fake_smsgate.receive("+84912000953", "Huy don").status_code == 200
    wait_until(lambda: asked(svc, 953)["state"] == "cancelled", what="the SMS cancel")
    t0 = time.time() - 600

    def ship(oid: int, statuses: tuple[str, ...], start: float) -> None:
        for i, status in enumerate(statuses):
            body = ghn.event(f"GHN{oid}", status, "create" if i == 0 else "switch_status",
                             client_order_code=str(oid), cod=450_000, at=start + i * 10)
            assert ghn.push(url, body) == [200]

    # both remaining parcels leave the shop; 951 (confirmed) comes back refused
    ship(951, ("ready_to_pick", "picking", "picked", "delivering", "delivery_fail", "returning", "returned"), t0)
    ship(952, ("ready_to_pick", "picked"), t0)
    assert svc.db.one("SELECT status, flag FROM shipments WHERE tracking='GHN951'")["flag"] == "returned"
    # the unanswered order shipped: its question closes, its link no longer changes it
    assert cod.run(svc.bridge)["closed"] == 1 and asked(svc, 952)["state"] == "closed"
    answered = post(link(svc, 952), "cancel")
    assert answered.status_code == 303 and asked(svc, 952)["state"] == "closed"
    assert "không thể thay đổi tại đây nữa" in requests.get(answered.headers["Location"] if
                                                             answered.headers["Location"].startswith("http") else
                                                             svc.url + answered.headers["Location"], timeout=5).text
    assert not [m for m in svc.messages(order_id=952, kind="order_update")
                if '"cancelled"' in (m["payload"] or "")]
    # time passes: a shipped order is never reminded nor put on the call list
    svc.clock.advance(30 * HOUR)
    assert cod.run(svc.bridge) == {"closed": 0, "reminded": 0, "call": 0}

    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    this = months.of(svc.clock(), ZoneInfo("Asia/Ho_Chi_Minh"))
    figures = month_row(admin.get("/admin/").text, "cod-months", this)
    assert figures == {"asked": "3", "confirmed": "1", "cancelled": "1", "unanswered": "1", "refused": "1",
                       "refused-confirmed": "1"}
    order_page = admin.get("/admin/orders/951").text
    assert "GHN951" in order_page and "đã hoàn về shop" in order_page
    m = scrape(svc.url)
    assert m[("woobridge_cod_orders", (("month", this), ("outcome", "refused_confirmed")))] == 1
    assert m[("woobridge_cod_orders", (("month", this), ("outcome", "unanswered")))] == 1


def test_a_parcel_not_picked_up_keeps_the_question_open_and_a_cancel_flags_its_label(
        service_factory, tmp_path, woo, fake_smsgate, ghn):
    svc = make(service_factory, tmp_path, woo, fake_smsgate, ghn_webhook_token=GHN_TOKEN,
               admin_password=PASSWORD, timezone="Asia/Ho_Chi_Minh")
    url = f"{svc.url}/inbound/ghn?token={GHN_TOKEN}"
    place(svc, woo, 961, phone="0912 000 961")
    place(svc, woo, 962, phone="0912 000 962")
    t0 = time.time() - 600
    # 961: GHN only changed the parcel's COD (a call with no status); 962: a label, not picked up yet
    assert ghn.push(url, ghn.event("GHN961", "", "update_cod", client_order_code="961", cod=450_000, at=t0)) == [200]
    assert ghn.push(url, ghn.event("GHN962", "ready_to_pick", "create", client_order_code="962", cod=450_000,
                                   at=t0)) == [200]
    assert cod.run(svc.bridge)["closed"] == 0
    assert asked(svc, 961)["state"] == asked(svc, 962)["state"] == "asked"
    assert "<form" in requests.get(link(svc, 961), timeout=5).text
    # both customers cancel: applied; the label not picked up yet is flagged for the owner, the parcel
    # whose status nobody told us is not flagged on a guess
    assert fake_smsgate.receive("+84912000961", "2").status_code == 200
    assert post(link(svc, 962), "cancel").status_code == 303
    assert asked(svc, 961)["state"] == asked(svc, 962)["state"] == "cancelled"
    flags = {r["tracking"]: r["flag"] for r in svc.db.query("SELECT tracking, flag FROM shipments")}
    assert flags == {"GHN961": "", "GHN962": "order_cancelled"}
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    parcels = admin.get("/admin/").text.split('id="cod-parcels"', 1)[1].split("</table>", 1)[0]
    assert parcels.count("Đơn đã hủy nhưng vận đơn vẫn còn: hãy hủy vận đơn với đơn vị vận chuyển") == 1
    assert "order_cancelled" not in parcels.replace('data-tracking', '')
    assert "hãy hủy vận đơn" in admin.get("/admin/orders/962").text
    r = admin.post("/admin/shipments/seen", {"carrier": "ghn", "tracking": "GHN962"}, follow_redirects=True)
    assert not any("GHN962" in rest.split("</table>", 1)[0] for rest in r.text.split('id="cod-parcels"', 1)[1:])
    assert svc.db.scalar("SELECT flag FROM shipments WHERE tracking='GHN962'") == ""


def test_an_order_cancelled_in_the_shop_flags_its_label_not_picked_up_once(
        service_factory, tmp_path, woo, fake_smsgate, ghn):
    svc = make(service_factory, tmp_path, woo, fake_smsgate, ghn_webhook_token=GHN_TOKEN,
               admin_password=PASSWORD, timezone="Asia/Ho_Chi_Minh")
    url = f"{svc.url}/inbound/ghn?token={GHN_TOKEN}"
    o = place(svc, woo, 971, phone="0912 000 971")
    t0 = time.time() - 600
    assert ghn.push(url, ghn.event("GHN971", "ready_to_pick", "create", client_order_code="971", cod=450_000,
                                   at=t0)) == [200]
    o["status"] = "cancelled"
    assert svc.post_json(json.dumps(o).encode(), topic="order.updated").status_code == 200
    assert svc.db.scalar("SELECT flag FROM shipments WHERE tracking='GHN971'") == "order_cancelled"
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    parcels = admin.get("/admin/").text.split('id="cod-parcels"', 1)[1].split("</table>", 1)[0]
    assert "GHN971" in parcels and "Đơn đã hủy nhưng vận đơn vẫn còn" in parcels
    assert admin.post("/admin/shipments/seen", {"carrier": "ghn", "tracking": "GHN971"}).status_code in (200, 302)
    # the shop saves the cancelled order again (a note): the owner's "seen" stands
    o["customer_note"] = "gọi trước khi giao"
    assert svc.post_json(json.dumps(o).encode(), topic="order.updated").status_code == 200
    assert svc.db.scalar("SELECT flag FROM shipments WHERE tracking='GHN971'") == ""
