"""The template editor and the price table, through Flask's test client on a service whose
worker really sends to the fake eSMS: an override saved in the admin is what the next real SMS
says (in this process and in a separate web process started before the save), a refused text
names its mistake and keeps what was typed, every version is kept and can be restored, "back to
the default" returns to the YAML, and the cost per send follows the prices the owner entered."""
from __future__ import annotations

import html
import re
import subprocess
import sys

import pytest
import requests

from bridge.store import prices as price_store
from bridge.store import templates as template_store
from bridge.store.db import Database
from tests.conftest import BANK_ENV, HEALTH_TOKEN, ROOT, SECRET, ServiceProcess, esms_settings, signed_headers, wait_until
from tests.orders import order_body
from tests.test_admin import Admin, PASSWORD

RULE = "order-awaiting-transfer"      # bacs on-hold: the order body's own rule
EDITED = "{{ shop_name }}: don {{ order_number }} cho chuyen khoan {{ total }}, noi dung {{ payment_code }}"
CUSTOMER = "0912345678"


@pytest.fixture
def svc(service_factory, fake_esms):
    return service_factory(start_scheduler=True, admin_password=PASSWORD, **esms_settings(fake_esms))


@pytest.fixture
def admin(svc):
    a = Admin(svc)
    assert a.sign_in().status_code == 302
    return a


def customer_sms(fake_esms) -> list[str]:
    return [a["Content"] for a in fake_esms.accepted if a["Phone"] == CUSTOMER]


def new_order(svc, oid: int) -> None:
    assert svc.post_json(order_body(oid), topic="order.created").status_code == 200


def flashes(page: str, kind: str) -> str:
    return html.unescape(" ".join(re.findall(rf'<div class="flash {kind}"[^>]*>(.*?)</div>', page, re.S)))


def test_a_saved_template_is_the_next_sms_and_back_to_default_restores_the_yaml(admin, svc, fake_esms):
    new_order(svc, 7001)
    wait_until(lambda: len(customer_sms(fake_esms)) == 1, what="the SMS with the YAML text")
    default_text = customer_sms(fake_esms)[0]
    assert default_text.startswith("Shop Demo: Don #7001")

    r = admin.post(f"/admin/templates/{RULE}/save", {"template": EDITED}, follow_redirects=True)
    assert "Đã lưu mẫu tin order-awaiting-transfer" in flashes(r.text, "ok")
    assert "Đã sửa" in r.text and EDITED in html.unescape(r.text)
    new_order(svc, 7002)
    wait_until(lambda: len(customer_sms(fake_esms)) == 2, what="the SMS with the saved text")
    assert customer_sms(fake_esms)[1].startswith("Shop Demo: don 7002 cho chuyen khoan 513.000")

    r = admin.post(f"/admin/templates/{RULE}/default", follow_redirects=True)
    assert "trở về nội dung mặc định" in flashes(r.text, "ok")
    new_order(svc, 7003)
    wait_until(lambda: len(customer_sms(fake_esms)) == 3, what="the SMS with the YAML text again")
    assert customer_sms(fake_esms)[2] == default_text.replace("7001", "7003")
    # a message already written keeps its words
    sent = svc.db.scalar("SELECT text FROM messages WHERE order_id=7002 AND rule=?", (RULE,))
    assert sent.startswith("Shop Demo: don 7002")


def test_an_undefined_variable_is_refused_by_name_and_the_typed_text_is_kept(admin, svc):
    typed = "{{ shop_name }}: don {{ order_numbr }}"
    r = admin.post(f"/admin/templates/{RULE}/save", {"template": typed})
    assert r.status_code == 400
    assert "Chưa lưu: order_numbr không phải là biến" in flashes(r.text, "error")
    assert typed in html.unescape(r.text)          # what the owner typed is still in the box
    assert template_store.history(svc.db, RULE) == []
    assert svc.bridge.rules.template_of(svc.bridge.rules.by_name(RULE)).startswith("{{ shop_name }}: Đơn #")


@pytest.mark.parametrize("typed, said", [
    ("   ", "Chưa lưu: mẫu tin đang trống."),
    ("{{ shop_name.__class__ }}", "Chưa lưu: mẫu tin có lỗi"),          # the sandbox, as for the YAML
    ("{% if %}", "Chưa lưu: mẫu tin có lỗi"),
    ("x" * 4001, "dài 4001 ký tự"),
])
def test_other_mistakes_are_refused_with_what_is_wrong(admin, svc, typed, said):
    r = admin.post(f"/admin/templates/{RULE}/save", {"template": typed})
    assert r.status_code == 400 and said in flashes(r.text, "error")
    assert template_store.history(svc.db, RULE) == []


def test_every_version_is_kept_with_who_and_when_and_any_can_be_restored(admin, svc):
    admin.post(f"/admin/templates/{RULE}/save", {"template": "A {{ order_number }}"})
    admin.post(f"/admin/templates/{RULE}/save", {"template": "B {{ order_number }}"})
    first, = [v["id"] for v in template_store.history(svc.db, RULE) if v["template"] == "A {{ order_number }}"]
    page = admin.get("/admin/templates").text
    assert "Lịch sử (2 phiên bản đã lưu)" in page and "admin (127.0.0.1)" in page
    r = admin.post(f"/admin/templates/{RULE}/restore/{first}", follow_redirects=True)
    assert f"Đã khôi phục phiên bản {first}" in flashes(r.text, "ok")
    rule = svc.bridge.rules.by_name(RULE)
    assert svc.bridge.rules.template_of(rule) == "A {{ order_number }}"
    assert svc.bridge.rules.render(rule, {"order_number": "42"}) == "A 42"
    assert "Lịch sử (3 phiên bản đã lưu)" in r.text and f"khôi phục từ #{first}" in r.text
    # a version of another rule, or none at all, is refused by number
    r = admin.post("/admin/templates/order-processing/restore/" + str(first), follow_redirects=True)
    assert f"Không có phiên bản {first}" in flashes(r.text, "error")
    # saving the YAML text itself is the default again, not an override
    admin.post(f"/admin/templates/{RULE}/save", {"template": rule.template})
    assert template_store.current(svc.db) == {}


def test_prices_are_saved_refused_with_the_reason_and_shown_as_cost_per_send(admin, svc):
    page = admin.get("/admin/settings").text
    assert 'id="prices"' in page and 'name="vnd-esms"' in page and 'name="vnd-messenger"' in page
    assert 'name="vnd-woocommerce"' not in page and 'name="vnd-dry-run"' not in page   # not message channels
    r = admin.post("/admin/settings/prices", {"vnd-esms": "1.000", "per-esms": "part", "vnd-messenger": "0",
                                              "per-messenger": "message"}, follow_redirects=True)
    assert "Đã lưu bảng giá." in flashes(r.text, "ok")
    assert price_store.all_prices(svc.db)["esms"] == price_store.Price("esms", 1000, "part")
    assert 'name="vnd-esms" value="1000"' in r.text

    for bad, said in (("abc", "“abc”"), ("-5", "“-5”"), ("2000000", "“2000000”")):
        r = admin.post("/admin/settings/prices", {"vnd-esms": bad, "per-esms": "part"}, follow_redirects=True)
        assert "Chưa lưu bảng giá" in flashes(r.text, "error") and said in flashes(r.text, "error")
    r = admin.post("/admin/settings/prices", {"vnd-esms": "800", "per-esms": "week"}, follow_redirects=True)
    assert "theo phần tin SMS hoặc theo tin" in flashes(r.text, "error")
    assert price_store.all_prices(svc.db)["esms"].vnd == 1000     # nothing lost to the refused forms

    # customer-welcome keeps diacritics: a long welcome is 3 UCS-2 parts, 2 without diacritics
    long = "{{ shop_name }}: Chào mừng {{ customer_name }} đã đăng ký tài khoản. " * 3
    assert admin.post("/admin/templates/customer-welcome/save", {"template": long}).status_code == 302
    page = admin.get("/admin/templates").text
    section = html.unescape(page.split('id="rule-customer-welcome"')[1].split("</section>")[0])
    assert "3 phần tin SMS" in section and "UCS-2" in section
    assert "3.000đ" in section                        # 3 parts at 1.000đ on eSMS
    assert "0đ" in section                            # Messenger, per message
    assert "tiết kiệm 1.000đ mỗi lần gửi" in section  # bỏ dấu: 2 parts
    # the live preview answers with the same figures
    data = admin.post("/admin/templates/customer-welcome/preview", {"template": long},
                      headers={"X-Requested-With": "fetch"}).get_json()
    assert "3.000đ" in data["cost_html"] and data["without"]["segments"] == 2


def test_an_override_saved_elsewhere_reaches_a_running_web_and_worker_without_a_restart(tmp_path, fake_esms):
    """Web (RUN_SCHEDULER=0) and `python -m bridge worker` as their own processes, started before
    the owner's edit; the edit is written to the database by a third party (here the test)."""
    env = {
        "BRIDGE_DB": str(tmp_path / "bridge.db"), "MAPPINGS_DIR": str(ROOT / "mappings"), "WOO_WEBHOOK_SECRET": SECRET,
        "ESMS_CALLBACK_TOKEN": "tok", "ESMS_API_KEY": fake_esms.api_key, "ESMS_SECRET_KEY": fake_esms.secret_key,
        "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_BASE_URL": fake_esms.base_url, "OWNER_PHONES": "",
        "WORKER_INTERVAL": "0.2", "RUN_SCHEDULER": "0", "HEALTH_TOKEN": HEALTH_TOKEN,
        **BANK_ENV,   # the transfer text prints the account: without one it would be held
    }
    web = ServiceProcess(env).start()
    worker = subprocess.Popen([sys.executable, "-m", "bridge", "worker"], cwd=ROOT, env={**web.env, "RUN_SCHEDULER": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = Database(env["BRIDGE_DB"])
    try:
        def order(oid: int) -> None:
            body = order_body(oid)
            assert requests.post(web.url + "/webhooks/woocommerce", data=body,
                                 headers=signed_headers(body, "order.created"), timeout=5).status_code == 200

        order(8001)
        wait_until(lambda: len(customer_sms(fake_esms)) == 1, timeout=20, what="the YAML text")
        template_store.save(db, RULE, "Lan 1: don {{ order_number }}", "test")
        order(8002)
        wait_until(lambda: len(customer_sms(fake_esms)) == 2, timeout=20, what="the first edit")
        template_store.save(db, RULE, "Lan 2: don {{ order_number }}", "test")
        order(8003)
        wait_until(lambda: len(customer_sms(fake_esms)) == 3, timeout=20, what="the second edit")
        template_store.save(db, RULE, None, "test")
        order(8004)
        wait_until(lambda: len(customer_sms(fake_esms)) == 4, timeout=20, what="the default again")
    finally:
        worker.terminate()
        worker.wait(10)
        web.stop()
        db.close()
    texts = customer_sms(fake_esms)
    assert ": Don #8001 " in texts[0] and texts[3] == texts[0].replace("8001", "8004")
    assert texts[1:3] == ["Lan 1: don 8002", "Lan 2: don 8003"]


def test_a_saved_text_that_no_longer_fits_its_rule_is_said_at_start(service_factory, tmp_path, caplog):
    """The YAML is checked at every start; a text saved in the admin for a rule whose event has
    changed since (no order variables any more) is named in the log, and the page shows why."""
    first, later = tmp_path / "m1", tmp_path / "m2"
    for d, event in ((first, "order.new"), (later, "customer.created")):
        d.mkdir()
        (d / "rules.yaml").write_text(f"rules:\n  - name: hello\n    event: {event}\n    channel: dry-run\n"
                                      "    template: 'Chao {{ shop_name }}'\n", encoding="utf-8")
    svc = service_factory(mappings_dir=str(first), admin_password=PASSWORD)
    template_store.save(svc.db, "hello", "Don {{ order_number }}", "test")
    with caplog.at_level("WARNING"):
        again = service_factory(mappings_dir=str(later), admin_password=PASSWORD)
    assert "rule 'hello': the text saved in the admin: 'order_number' is undefined" in caplog.text
    admin = Admin(again)
    admin.sign_in()
    assert "order_number" in html.unescape(admin.get("/admin/templates").text.split('class="preview-error')[1][:300])
