"""A template that passes its check on the sample order and fails on a real one (an empty name
split, a name long enough to push the text past the limit) costs that one message, never the
payment or the order it was written for: the real service, a worker sending to the fake eSMS,
the fake WooCommerce marking orders paid over HTTP. And what the save check refuses: any error
the template raises, and any text longer than a message, refused before it is written out."""
from __future__ import annotations

import html
import json
import shutil
import tracemalloc
from pathlib import Path

import pytest

from bridge import alerts, reasons
from bridge.rules import MAX_TEXT, RulesError, load_rules, template_problem
from bridge.store import templates as template_store
from bridge.envparse import bank_accounts
from tests.conftest import ROOT, esms_settings, wait_until, woo_settings
from tests.orders import order_body
from tests.test_admin import Admin, PASSWORD, bank_sms
from tests.test_template_editor import flashes

SPLIT = "{{ customer_name.split()[-1] }}"   # the last word of the name: fine on the sample, not on ""
CUSTOMER, OWNER = "0912345678", "0901234567"


def service(service_factory, fake_esms, woo, **changes):
    """The real service: its worker sends to the fake eSMS and marks orders paid at the fake shop."""
    return service_factory(start_scheduler=True, admin_password=PASSWORD, **woo_settings(woo),
                           bank_accounts=bank_accounts("Vietcombank:0181003749261"), **esms_settings(fake_esms),
                           **changes)


@pytest.fixture
def svc(service_factory, fake_esms, woo):
    return service(service_factory, fake_esms, woo)


def nameless_order(svc, oid: int, first: str = "", last: str = "") -> None:
    body = json.loads(order_body(oid))
    body["billing"]["first_name"], body["billing"]["last_name"] = first, last
    assert svc.post_json(json.dumps(body).encode(), topic="order.created").status_code == 200


def sms_to(fake_esms, phone: str) -> list[str]:
    return [a["Content"] for a in fake_esms.accepted if a["Phone"] == phone]


def row(svc, rule: str) -> dict:
    rows = svc.messages(rule=rule)
    assert len(rows) == 1, rows
    return rows[0]


def code_of(stored: str) -> tuple[str, dict]:
    r = reasons.decode(stored)
    assert r is not None, stored
    return r.code, r.params


@pytest.fixture
def admin(svc):
    a = Admin(svc)
    assert a.sign_in().status_code == 302
    return a


def test_an_override_failing_on_the_paid_order_falls_back_and_the_payment_goes_through(admin, svc, woo, fake_esms):
    r = admin.post("/admin/templates/payment-confirmed/save",
                   {"template": "Da nhan {{ paid_amount }} cho don {{ order_number }}. Cam on chi " + SPLIT},
                   follow_redirects=True)
    assert "Đã lưu mẫu tin payment-confirmed" in flashes(r.text, "ok")
    woo.add_order(7202, 513000)
    nameless_order(svc, 7202)
    bank_sms(svc, "DH7202")
    wait_until(lambda: woo.status_changes == [(7202, "on-hold", "processing")], timeout=20,
               what="WooCommerce marked the order paid")
    assert svc.db.scalar("SELECT order_id FROM transactions WHERE amount=513000") == 7202
    # the customer hears the default text rather than nothing
    wait_until(lambda: any("Da nhan 513.000d cho don #7202" in t for t in sms_to(fake_esms, CUSTOMER)),
               timeout=20, what="the payment-confirmed SMS with the default text")
    wait_until(lambda: row(svc, "payment-confirmed")["status"] != "pending", what="the send recorded")
    sent = row(svc, "payment-confirmed")
    code, params = code_of(sent["reason"])   # the note stays once it is sent
    assert sent["status"] in ("queued", "sent", "delivered")
    assert code == "rules.override_failed" and params["rule"] == "payment-confirmed" and "-1" in params["error"]
    assert "could not be written for this order" in reasons.english(sent["reason"])
    # the owner is told which template failed and why
    assert alerts.watch(svc.bridge) >= 1
    alert = svc.messages(rule="alert:template")
    assert alert and "payment-confirmed" in alert[0]["text"] and "#7202" in alert[0]["text"]


def test_an_override_failing_on_a_new_order_falls_back_and_every_rule_still_sends(admin, svc, fake_esms):
    text = "Chao chi " + SPLIT + ", don {{ order_number }}: {{ total }} noi dung {{ payment_code }}"
    r = admin.post("/admin/templates/order-awaiting-transfer/save", {"template": text}, follow_redirects=True)
    assert "Đã lưu mẫu tin order-awaiting-transfer" in flashes(r.text, "ok")
    nameless_order(svc, 7101)
    wait_until(lambda: sms_to(fake_esms, CUSTOMER) and sms_to(fake_esms, OWNER), timeout=20,
               what="the transfer instructions and the owner's new-order SMS")
    assert sms_to(fake_esms, CUSTOMER)[0].startswith("Shop Demo: Don #7101 513.000d. Vui long chuyen khoan")
    assert "#7101" in sms_to(fake_esms, OWNER)[0]
    assert svc.db.scalar("SELECT state FROM deliveries WHERE resource_id=7101") == "processed"
    assert code_of(row(svc, "order-awaiting-transfer")["reason"])[0] == "rules.override_failed"


@pytest.fixture
def failing_defaults(tmp_path: Path) -> Path:
    """The shipped rules, with two YAML texts that pass the check at start and fail on real
    orders: payment-confirmed splits the name, owner-new-order repeats it (13 characters on the
    sample: 1,820; a longer real name is over the limit)."""
    d = tmp_path / "mappings"
    d.mkdir()
    text = (ROOT / "mappings" / "notifications.yaml").read_text(encoding="utf-8")
    paid = "Cảm ơn {{ customer_name }}!\n"
    assert paid in text and "      {{ items|truncate(60) }}\n" in text
    text = text.replace(paid, "Cảm ơn chị " + SPLIT + "!\n")
    text = text.replace("      {{ items|truncate(60) }}\n", "      {{ customer_name * 140 }}\n")
    (d / "notifications.yaml").write_text(text, encoding="utf-8")
    shutil.copy(ROOT / "mappings" / "devices.yaml.example", d / "devices.yaml.example")
    return d


def test_a_default_failing_on_real_data_is_recorded_and_nothing_else_is_lost(service_factory, fake_esms, woo,
                                                                              failing_defaults):
    svc = service(service_factory, fake_esms, woo, mappings_dir=str(failing_defaults))
    woo.add_order(7301, 513000)
    nameless_order(svc, 7301, last="Nguyễn Thị Minh Khai Phương")   # 27 characters * 140: over the limit
    wait_until(lambda: sms_to(fake_esms, CUSTOMER), timeout=20, what="the transfer instructions")
    assert svc.db.scalar("SELECT state FROM deliveries WHERE resource_id=7301") == "processed"
    owner = row(svc, "owner-new-order")
    assert owner["status"] == "failed" and owner["text"] == ""
    code, params = code_of(owner["reason"])
    assert code == "rules.template_failed" and str(MAX_TEXT) in params["error"]
    assert reasons.english(owner["reason"]).startswith("template could not be written for this order: ")

    nameless_order(svc, 7302)
    woo.add_order(7302, 513000)
    bank_sms(svc, "DH7302")
    wait_until(lambda: (7302, "on-hold", "processing") in woo.status_changes, timeout=20,
               what="WooCommerce marked the order paid")
    assert svc.db.scalar("SELECT order_id FROM transactions WHERE order_id=7302") == 7302
    paid = svc.messages(rule="payment-confirmed")
    assert len(paid) == 1 and paid[0]["status"] == "failed"
    assert code_of(paid[0]["reason"])[0] == "rules.template_failed"
    # visible in the admin, in the owner's language, and the owner is told
    a = Admin(svc)
    assert a.sign_in().status_code == 302
    page = html.unescape(a.get(f"/admin/messages/{paid[0]['id']}").text)
    assert "list object has no element -1" in page
    assert alerts.watch(svc.bridge) >= 1
    texts = " ".join(m["text"] for m in svc.messages(rule="alert:template"))
    assert "payment-confirmed" in texts and "owner-new-order" in texts


# -- the save check --------------------------------------------------------------------------
@pytest.mark.parametrize("text, said", [
    ("{{ 1 // 0 }}", "ZeroDivisionError"),
    ("{{ order_number|int / 0 }}", "ZeroDivisionError"),
    ("{{ '{0:>99999999}'.format('a') }}", "99999999 characters"),
    ("{{ '%99999999s' % 'a' }}", "99999999 characters"),
    ("{{ 'x' * 50000000 }}", "50000000 characters"),
    ("{% for a in range(3000) %}{% for b in range(3000) %}x{% endfor %}{% endfor %}", "range() of 3000"),
    ("{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}", "over 2000 characters"),
    ("{{ 'a'|center(99999999) }}", "99999999 characters"),
    ("{{ ('a' * 2000)|replace('a', 'b' * 2000) }}", "4000000 characters"),
    ("{% set n = namespace(t='a' * 1000) %}{% for i in range(30) %}{% set n.t = n.t + n.t %}{% endfor %}",
     "a message is at most 2000"),
    ("{{ (['a' * 1000] * 999)|join }}", "999000 characters"),
])
def test_the_save_check_refuses_any_error_and_any_text_longer_than_a_message(admin, svc, text, said):
    tracemalloc.start()
    try:
        r = admin.post("/admin/templates/order-processing/save", {"template": text}, follow_redirects=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.status_code == 400   # the editor again, with what was typed and why it was refused
    assert "Chưa lưu: mẫu tin có lỗi" in flashes(r.text, "error") and said in flashes(r.text, "error")
    assert template_store.count(svc.db, "order-processing") == 0
    assert peak < 20_000_000   # refused before it is written out (the text alone would be 4 to 100 MB)


def test_the_sandbox_offers_no_text_generator(admin, svc):
    r = admin.post("/admin/templates/order-processing/save", {"template": "{{ lipsum(20000) }}"}, follow_redirects=True)
    assert r.status_code == 400 and "lipsum không phải là biến" in flashes(r.text, "error")
    assert template_store.count(svc.db, "order-processing") == 0


def test_a_text_as_long_as_a_message_may_be_is_saved(admin, svc):
    text = "{{ order_number }} " + "x" * (MAX_TEXT - 10)
    r = admin.post("/admin/templates/order-processing/save", {"template": text}, follow_redirects=True)
    assert "Đã lưu mẫu tin order-processing" in flashes(r.text, "ok")


def test_a_yaml_template_raising_anything_stops_the_start_naming_the_rule(tmp_path):
    (tmp_path / "rules.yaml").write_text("rules:\n  - name: bad\n    event: order.new\n    channel: dry-run\n"
                                         "    template: 'Don {{ 1 // 0 }}'\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"rule 'bad': field 'template': ZeroDivisionError"):
        load_rules(tmp_path, ("dry-run",), {"order.new": {}})
    assert template_problem("{{ '{:>5}'.format('a') }} {{ '%5s' % 'b' }} {{ 'x' * 3 }}", {}) is None
