"""Cash on delivery: the customer confirms or cancels (bridge/cod.py) through the real app.

Orders arrive as signed WooCommerce webhooks from the fake shop (tests/fakes/woocommerce.py),
which the write-backs are made to and which echoes them back; the question goes out through
the fake SMSGate phone, whose inbound webhook carries the customer's SMS replies; the page is
asked over HTTP; time moves with the service's drivable clock."""
from __future__ import annotations

import json
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from bridge import cod
from bridge.reasons import english
from tests.conftest import SECRET, smsgate_settings, wait_until, woo_settings

PHONE, OTHER = "0912 345 678", "0987 654 321"
E164 = "+84912345678"
HOUR = 3600.0
RULES = """
rules:
  - name: cod-confirm
    event: order.cod_confirm
    payment_methods: [cod]
    to: customer
    channel: {channel}
    unicode: false
    template: >-
      {{ shop_name }}: {% if reminder %}Nhac lai: {% endif %}Don #{{ order_number }} {{ total }}.
      Xac nhan: {{ confirm_link }} hoac tra loi 1 (dong y) / 2 (huy)
"""


def make(service_factory, tmp_path, woo, smsgate, channel: str = "smsgate", urgent: bool = True, **changes):
    d = tmp_path / "mappings"
    d.mkdir(exist_ok=True)
    rules = RULES.replace("{channel}", channel) + ("" if urgent else "    urgent: false\n")
    (d / "rules.yaml").write_text(rules, encoding="utf-8")
    changes.setdefault("quiet_hours", None)
    svc = service_factory(mappings_dir=str(d), **{**woo_settings(woo), **smsgate_settings(smsgate), **changes})
    smsgate.webhook_url = svc.url + "/inbound/smsgate"
    woo.webhooks.clear()
    woo.add_webhook(1, svc.url + "/webhooks/woocommerce", secret=SECRET)
    return svc


@pytest.fixture
def shop(service_factory, tmp_path, woo, fake_smsgate):
    return lambda **changes: make(service_factory, tmp_path, woo, fake_smsgate, **changes)


def place(svc, woo, oid: int, method: str = "cod", status: str = "processing", phone: str = PHONE,
          topic: str = "order.created") -> dict:
    o = woo.add_order(oid, 450_000, status=status, payment_method=method, phone=phone,
                      created=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
    o["billing"]["email"] = phone.replace(" ", "") + "@example.test"   # one customer per phone
    o["shipping"] = {**(o.get("shipping") or {}), "address_1": "12 Lê Lợi", "city": "Quận 3", "state": "TP Hồ Chí Minh"}
    woo.orders[oid] = o
    assert svc.post_json(json.dumps(o).encode(), topic=topic).status_code == 200
    return o


def asked(svc, oid: int) -> dict | None:
    row = svc.db.one("SELECT * FROM cod_confirmations WHERE order_id=?", (oid,))
    return dict(row) if row else None


def answers(svc, oid: int) -> list[dict]:
    return [dict(r) for r in svc.db.query("SELECT * FROM cod_answers WHERE order_id=? ORDER BY id", (oid,))]


def link(svc, oid: int, rule: str = "cod-confirm") -> str:
    (m,) = [m for m in svc.messages(order_id=oid, rule=rule) if m["event"] == "order.cod_confirm"][:1]
    found = re.search(r"(http://\S+/c/(\S+))", m["text"])
    assert found, m["text"]
    return found.group(1)


def drained(svc) -> None:
    wait_until(lambda: svc.bridge.worker.drain() == 0 and not svc.db.scalar(
        "SELECT COUNT(*) FROM messages WHERE status IN ('pending', 'sending')"), what="the outbox drained")


def notes(woo, oid: int) -> list[str]:
    return [n["note"] for n in woo.notes[oid]]


def post(url: str, answer: str, **extra) -> requests.Response:
    return requests.post(url, data={"answer": answer, **extra}, allow_redirects=False, timeout=5)


# -- asking ------------------------------------------------------------------------------------
def test_a_new_cod_order_is_asked_once_with_a_short_signed_link(shop, woo, fake_smsgate):
    svc = shop()
    place(svc, woo, 801)
    k = asked(svc, 801)
    assert (k["state"], k["phone"], k["rule"]) == ("asked", E164, "cod-confirm")
    url = link(svc, 801)
    token = url.rsplit("/", 1)[1]
    assert 18 <= len(token) <= 26 and re.fullmatch(r"[0-9A-Za-z_-]+", token)
    drained(svc)
    assert any(url in m["text"] for m in fake_smsgate.accepted)
    # the shop tells us about the order again (an update): nobody is asked twice
    assert svc.post_json(json.dumps(woo.orders[801]).encode(), topic="order.updated").status_code == 200
    assert len(svc.messages(order_id=801, event="order.cod_confirm")) == 1
    # a bank transfer, and an order that arrives already cancelled, are never asked
    place(svc, woo, 802, method="bacs", status="on-hold")
    place(svc, woo, 803, status="cancelled")
    assert asked(svc, 802) is None and asked(svc, 803) is None


def test_imported_old_orders_are_never_asked(shop, woo):
    from bridge.providers.woocommerce import reconcile
    svc = shop()
    woo.add_order(804, 450_000, status="processing", payment_method="cod", created="2026-11-22T10:00:00")
    s = reconcile.run(svc.bridge, since="2026-11-22T00:00:00", notify=False)
    assert s.processed == 1 and asked(svc, 804) is None and svc.messages(order_id=804) == []


def test_the_default_rule_is_off_and_renders(service_factory, woo):
    from bridge.context import sample_contexts
    svc = service_factory(**woo_settings(woo))
    rule = next(r for r in svc.bridge.rules.rules if r.name == "cod-confirm")
    assert not rule.enabled and rule.payment_methods == ("cod",) and not rule.unicode
    text = svc.bridge.rules.render(rule, sample_contexts(svc.settings)["order.cod_confirm"])
    assert "/c/" in text and "#10231" in text


# -- the page ----------------------------------------------------------------------------------
def test_the_page_shows_the_order_and_get_changes_nothing(shop, woo):
    svc = shop()
    place(svc, woo, 811)
    url = link(svc, 811)
    for _ in range(3):   # link previews of chat apps fetch it, and so does the customer
        r = requests.get(url, timeout=5)
        assert r.status_code == 200
    assert "Đơn hàng #811" in r.text and "Xác nhận" in r.text and "Hủy đơn" in r.text
    assert "Quận 3, TP Hồ Chí Minh" in r.text and "12 Lê Lợi" not in r.text and "450.000" in r.text
    assert "nonce-" in r.headers["Content-Security-Policy"] and r.headers["Cache-Control"] == "no-store"
    assert asked(svc, 811)["state"] == "asked" and answers(svc, 811) == []


def test_confirm_on_the_page_writes_a_note_once_and_a_later_cancel_is_only_recorded(shop, woo):
    svc = shop()
    place(svc, woo, 812)
    url = link(svc, 812)
    first = post(url, "confirm")
    assert first.status_code == 303
    again = post(url, "confirm")                      # a double tap
    assert again.status_code == 303
    k = asked(svc, 812)
    assert (k["state"], k["answer"], k["answered_via"]) == ("confirmed", "confirm", "page")
    assert [(a["answer"], a["applied"]) for a in answers(svc, 812)] == [("confirm", 1)]
    page = requests.get(url, timeout=5).text
    assert "Bạn đã xác nhận đơn hàng" in page and "<form" not in page
    drained(svc)
    (note,) = [n for n in notes(woo, 812) if "xác nhận" in n]
    assert "Khách xác nhận đơn qua trang xác nhận" in note
    assert woo.orders[812]["status"] == "processing"          # COD_CONFIRMED_STATUS empty: kept
    # the customer changes their mind later: recorded for the owner, never applied
    late = post(url, "cancel", reason="đổi ý")
    assert late.status_code == 303 and "ghi-nhan=1" in late.headers["Location"]
    assert post(url, "cancel", reason="đổi ý").status_code == 303     # that one twice: recorded once
    shown = requests.get(requests.compat.urljoin(url, late.headers["Location"]), timeout=5).text
    assert "Đã ghi nhận, cửa hàng sẽ liên hệ" in shown
    assert [(a["answer"], a["applied"]) for a in answers(svc, 812)] == [("confirm", 1), ("cancel", 0)]
    assert "after the order was already confirmed" in english(answers(svc, 812)[1]["reason"])
    drained(svc)
    assert asked(svc, 812)["state"] == "confirmed" and woo.orders[812]["status"] == "processing"
    assert len(woo.notes[812]) == 1


def test_confirmed_status_moves_the_order_from_the_status_we_saw(shop, woo):
    svc = shop(cod_confirmed_status="on-hold")
    place(svc, woo, 813)
    assert post(link(svc, 813), "confirm").status_code == 303
    drained(svc)
    assert woo.orders[813]["status"] == "on-hold"
    assert (813, "processing", "on-hold") in woo.status_changes


def test_cancel_on_the_page_cancels_in_the_shop_with_the_reason(shop, woo):
    svc = shop()
    place(svc, woo, 814)
    assert post(link(svc, 814), "cancel", reason="Đặt nhầm size").status_code == 303
    drained(svc)
    assert woo.orders[814]["status"] == "cancelled"
    assert any("Khách hủy đơn qua trang xác nhận" in n and "Lý do: Đặt nhầm size" in n for n in notes(woo, 814))
    k = asked(svc, 814)
    assert k["state"] == "cancelled" and "Đặt nhầm size" in english(k["reason"])


def test_forged_garbled_and_other_orders_tokens_are_refused_and_recorded(shop, woo):
    svc = shop()
    place(svc, woo, 815)
    place(svc, woo, 816, phone=OTHER)
    url15, url16 = link(svc, 815), link(svc, 816)
    token15, token16 = url15.rsplit("/", 1)[1], url16.rsplit("/", 1)[1]
    base = url15.rsplit("/", 1)[0]
    flipped = token15[:-1] + ("A" if token15[-1] != "A" else "B")
    other = token15[:-cod.MAC_CHARS] + token16[-cod.MAC_CHARS:]    # order 815's id with 816's MAC
    for bad in (flipped, other, "zz", "x" * 40):
        r = requests.get(f"{base}/{bad}", timeout=5)
        assert r.status_code == 404 and "Link không hợp lệ" in r.text
        assert post(f"{base}/{bad}", "cancel").status_code == 404
    assert asked(svc, 815)["state"] == "asked" and asked(svc, 816)["state"] == "asked"
    rows = svc.db.query("SELECT endpoint, http_status, reason FROM rejections WHERE endpoint LIKE '/c/%'")
    assert rows and all(r["http_status"] == 404 and "COD_LINK_SECRET" in r["reason"] for r in rows)
    assert not any(token15 in r["endpoint"] or token16 in r["endpoint"] for r in rows)


def test_a_cross_site_post_is_refused(shop, woo):
    svc = shop()
    place(svc, woo, 817)
    url = link(svc, 817)
    r = requests.post(url, data={"answer": "cancel"}, headers={"Origin": "https://evil.example"},
                      allow_redirects=False, timeout=5)
    assert r.status_code == 403
    r = requests.post(url, data={"answer": "cancel"}, headers={"Referer": "https://evil.example/x"},
                      allow_redirects=False, timeout=5)
    assert r.status_code == 403 and asked(svc, 817)["state"] == "asked"
    ours = requests.post(url, data={"answer": "confirm"}, headers={"Origin": svc.url}, allow_redirects=False,
                         timeout=5)
    assert ours.status_code == 303 and asked(svc, 817)["state"] == "confirmed"


def test_once_the_order_is_finished_or_shipped_the_link_no_longer_changes_it(shop, woo):
    svc = shop()
    place(svc, woo, 818)
    place(svc, woo, 819, phone=OTHER)
    url18, url19 = link(svc, 818), link(svc, 819)
    # the shop completes 818; the carrier picks up 819's parcel
    woo.orders[818]["status"] = "completed"
    assert svc.post_json(json.dumps(woo.orders[818]).encode(), topic="order.updated").status_code == 200
    with svc.db.tx() as c:
        c.execute("INSERT INTO shipments(carrier, tracking, order_id, status, carrier_status, first_seen_at,"
                  " updated_at) VALUES ('ghn', 'GHN819', 819, 'in_transit', 'transporting', ?, ?)",
                  (time.time(), time.time()))
    for url, oid in ((url18, 818), (url19, 819)):
        page = requests.get(url, timeout=5).text
        assert "không thể thay đổi tại đây" in page and "<form" not in page
        late = post(url, "cancel")
        assert late.status_code == 303 and "ghi-nhan" not in late.headers["Location"]   # no "the shop will call"
        assert asked(svc, oid)["state"] == "closed"
        assert [(a["answer"], a["applied"]) for a in answers(svc, oid)] == [("cancel", 0)]
    drained(svc)
    assert woo.orders[819]["status"] == "processing" and woo.notes[819] == []


# -- SMS replies on the shop's own phone -------------------------------------------------------
def test_an_sms_reply_confirms_once_and_the_customer_hears_it(shop, woo, fake_smsgate):
    svc = shop()
    place(svc, woo, 821)
    for _ in range(2):   # the phone's webhook retried: the same SMS twice
        r = fake_smsgate.receive(E164, "  Xác nhận! ", message_id="in-821")
        assert r.status_code == 200
    k = asked(svc, 821)
    assert (k["state"], k["answered_via"]) == ("confirmed", "sms")
    assert [(a["answer"], a["applied"], a["sender"]) for a in answers(svc, 821)] == [("confirm", 1, E164)]
    drained(svc)
    assert any("qua SMS" in n for n in notes(woo, 821))
    acks = [m for m in svc.messages(order_id=821, event="cod.answer")]
    assert len(acks) == 1 and acks[0]["channel"] == "smsgate" and "Da xac nhan don #821" in acks[0]["text"]
    inbox = svc.db.one("SELECT * FROM inbox WHERE external_id='in-821'")
    assert inbox["handled_by"] == "cod"
    # a second, different answer the next day: recorded, not applied; the customer is told
    r = fake_smsgate.receive(E164, "huy don", message_id="in-821b")
    assert r.status_code == 200
    assert [(a["answer"], a["applied"]) for a in answers(svc, 821)] == [("confirm", 1), ("cancel", 0)]
    drained(svc)
    assert woo.orders[821]["status"] == "processing"
    assert len(svc.messages(order_id=821, event="cod.answer")) == 2


@pytest.mark.parametrize("text", ["2", "Hủy đơn", "huy don.", "Hủy đơn hàng!", "HUY DON vi dat nham"])
def test_an_sms_reply_cancels_in_the_shop(shop, woo, fake_smsgate, text):
    svc = shop()
    place(svc, woo, 822)
    assert fake_smsgate.receive(E164, text).status_code == 200
    assert asked(svc, 822)["state"] == "cancelled"
    drained(svc)
    assert woo.orders[822]["status"] == "cancelled"
    if text == "HUY DON vi dat nham":
        assert any("Lý do: vi dat nham" in n and "HUY" not in n for n in notes(woo, 822)), notes(woo, 822)


@pytest.mark.parametrize("text, answer", [("1", "confirm"), ("ok", "confirm"), ("Có", "confirm"),
                                          ("XAC NHAN", "confirm"), ("đồng ý", "confirm"), ("2", "cancel"),
                                          ("không", None), ("ko", None), ("no", None), ("ok huy", None),
                                          ("khong huy", None), ("Huy day shop oi, mai giao buoi chieu nhe", None),
                                          ("Có size L k?", None), ("co gi lien he e", None), ("huy", None),
                                          ("Huy", None),
                                          ("Hủy đơn hả shop? em không hủy đâu", None),
                                          ("Huỷ đơn à, không nhé em vẫn lấy", None), ("huy don cu, giu don moi", None),
                                          ("huy don k", None), ("Hủy đơn chưa shop", None),
                                          ("Hủy đơn vì đặt nhầm size", "cancel"),
                                          ("HUY DON vi dat nham", "cancel"), ("Hủy đơn hàng", "cancel"),
                                          ("12", None), ("2 cái", None), ("1.", "confirm"), ("OK!!", "confirm"),
                                          ("giao buổi chiều nhé", None), ("có thể giao chiều không", None),
                                          ("", None)])
def test_reply_reading(text, answer):
    assert cod.parse_reply(text) == answer


def test_replies_from_another_number_never_touch_an_order(shop, woo, fake_smsgate):
    svc = shop()
    place(svc, woo, 823)
    assert fake_smsgate.receive("+84987654321", "2").status_code == 200
    assert fake_smsgate.receive("Vietcombank", "1").status_code == 200
    assert asked(svc, 823)["state"] == "asked" and answers(svc, 823) == []


@pytest.mark.parametrize("text", ["giao buổi chiều được không shop", "Huy day shop oi, mai giao buoi chieu nhe",
                                  "ko", "không", "Có size L k?", "co gi lien he e"])
def test_an_unclear_reply_waits_for_a_person(shop, woo, fake_smsgate, text):
    svc = shop()
    place(svc, woo, 824)
    assert fake_smsgate.receive(E164, text).status_code == 200
    assert asked(svc, 824)["state"] == "asked"
    assert [(a["answer"], a["applied"]) for a in answers(svc, 824)] == [("unclear", 0)]
    row = svc.db.one("SELECT * FROM inbox ORDER BY id DESC LIMIT 1")
    assert row["handled_by"] == "cod" and "not understood" in english(row["reason"])


def test_several_open_orders_for_one_phone_are_not_guessed(shop, woo, fake_smsgate):
    svc = shop()
    place(svc, woo, 825)
    place(svc, woo, 826)
    assert fake_smsgate.receive(E164, "1").status_code == 200
    assert asked(svc, 825)["state"] == asked(svc, 826)["state"] == "asked"
    assert [(a["answer"], a["applied"]) for a in answers(svc, 825) + answers(svc, 826)] == \
        [("confirm", 0), ("confirm", 0)]
    row = svc.db.one("SELECT * FROM inbox ORDER BY id DESC LIMIT 1")
    assert "#825, #826" in english(row["reason"])
    # the page still decides each one
    assert post(link(svc, 825), "confirm").status_code == 303
    assert asked(svc, 825)["state"] == "confirmed" and asked(svc, 826)["state"] == "asked"
    assert fake_smsgate.receive(E164, "2").status_code == 200       # now only 826 waits
    assert asked(svc, 826)["state"] == "cancelled"


# -- reminder and "call this customer" ----------------------------------------------------------
def test_one_reminder_then_call_and_one_owner_alert(shop, woo, fake_smsgate):
    svc = shop(cod_remind_after_hours=4, cod_call_after_hours=24, cod_alert_owner=True, owner_phones=("0901 234 567",))
    place(svc, woo, 831)
    assert cod.run(svc.bridge) == {"closed": 0, "reminded": 0, "call": 0}
    svc.clock.advance(4 * HOUR + 60)
    assert cod.run(svc.bridge)["reminded"] == 1
    assert cod.run(svc.bridge)["reminded"] == 0
    (reminder,) = [m for m in svc.messages(order_id=831) if m["dedupe_key"] == "cod:831:remind:+84912345678"]
    assert "Nhac lai" in reminder["text"] and "/c/" in reminder["text"] and reminder["due_at"] <= svc.clock()
    drained(svc)
    assert svc.db.scalar("SELECT status FROM messages WHERE id=?", (reminder["id"],)) in ("queued", "sent", "delivered")
    svc.clock.advance(20 * HOUR)
    assert cod.run(svc.bridge)["call"] == 1 and asked(svc, 831)["state"] == "call"
    assert cod.run(svc.bridge)["call"] == 0
    alerts = [m for m in svc.messages(audience="owner") if m["rule"] == "alert:cod-call"]
    assert len(alerts) == 1 and "831" in alerts[0]["text"]
    # the customer answers after all: still taken
    assert fake_smsgate.receive(E164, "ok").status_code == 200
    assert asked(svc, 831)["state"] == "confirmed"


def test_an_order_answered_or_finished_meanwhile_is_neither_reminded_nor_called(shop, woo):
    svc = shop()
    place(svc, woo, 832)
    place(svc, woo, 833, phone=OTHER)
    assert post(link(svc, 832), "confirm").status_code == 303
    woo.orders[833]["status"] = "cancelled"
    assert svc.post_json(json.dumps(woo.orders[833]).encode(), topic="order.updated").status_code == 200
    assert asked(svc, 833)["state"] == "closed"      # as soon as the shop's event says so
    svc.clock.advance(30 * HOUR)
    assert cod.run(svc.bridge) == {"closed": 0, "reminded": 0, "call": 0}
    assert asked(svc, 832)["state"] == "confirmed" and asked(svc, 833)["state"] == "closed"


def test_the_reminder_waits_for_the_end_of_quiet_hours(shop, woo, fake_smsgate):
    later = time.time() + 5 * HOUR
    local = datetime.fromtimestamp(later, ZoneInfo("Asia/Ho_Chi_Minh"))
    minute = local.hour * 60 + local.minute
    svc = shop(cod_remind_after_hours=4, quiet_hours=(minute, (minute + 120) % 1440))
    place(svc, woo, 834)
    svc.clock.advance(5 * HOUR)
    assert cod.run(svc.bridge)["reminded"] == 1
    (reminder,) = [m for m in svc.messages(order_id=834) if m["dedupe_key"] == "cod:834:remind:+84912345678"]
    assert reminder["status"] == "scheduled" and reminder["due_at"] >= later + 100 * 60
    # the customer answers before the morning: the reminder is withdrawn with the reason
    assert fake_smsgate.receive(E164, "1").status_code == 200
    row = svc.db.one("SELECT status, reason FROM messages WHERE id=?", (reminder["id"],))
    assert row["status"] == "cancelled" and "customer answered" in english(row["reason"])


def test_a_held_reminder_is_withdrawn_when_the_order_moves_on(shop, woo):
    later = time.time() + 5 * HOUR
    local = datetime.fromtimestamp(later, ZoneInfo("Asia/Ho_Chi_Minh"))
    minute = local.hour * 60 + local.minute
    svc = shop(cod_remind_after_hours=4, quiet_hours=(minute, (minute + 120) % 1440))
    place(svc, woo, 835)
    svc.clock.advance(5 * HOUR)
    assert cod.run(svc.bridge)["reminded"] == 1
    woo.orders[835]["status"] = "completed"
    assert svc.post_json(json.dumps(woo.orders[835]).encode(), topic="order.updated").status_code == 200
    (reminder,) = [m for m in svc.messages(order_id=835) if m["dedupe_key"] == "cod:835:remind:+84912345678"]
    assert reminder["status"] == "cancelled" and "can no longer be confirmed" in english(reminder["reason"])


# -- Messenger quick replies ----------------------------------------------------------------------
PSID, STRANGER = "7712345678901234", "7798765432109876"


@pytest.fixture
def graph():
    from tests.fakes.graph import FakeGraph
    with FakeGraph() as g:
        yield g


def messenger_shop(service_factory, tmp_path, woo, smsgate, graph):
    svc = make(service_factory, tmp_path, woo, smsgate, channel="[messenger, smsgate]", messenger_page="shopdemo",
               messenger_page_token=graph.page_token, messenger_app_secret=graph.app_secret,
               messenger_verify_token="verify-me", graph_base_url=graph.base_url, secret_key="test-secret-key")
    graph.webhook_url = svc.url + "/webhooks/messenger"
    return svc


def bind(svc, woo, graph, psid: str, oid: int, phone: str) -> None:
    """The customer opened the m.me link of an earlier (bank-transfer) order: their PSID has its phone."""
    from bridge.providers.messenger.contacts import make_ref
    place(svc, woo, oid, method="bacs", status="on-hold", phone=phone)
    r = graph.referral(psid, make_ref(svc.settings, order_id=oid))
    assert r.status_code == 200 and r.json()["bound"] == 1, r.text


def test_messenger_quick_replies_answer_once_and_only_from_the_orders_psid(service_factory, tmp_path, woo,
                                                                          fake_smsgate, graph):
    svc = messenger_shop(service_factory, tmp_path, woo, fake_smsgate, graph)
    bind(svc, woo, graph, PSID, 840, PHONE)
    bind(svc, woo, graph, STRANGER, 842, OTHER)
    place(svc, woo, 841)
    drained(svc)
    question = graph.sent_to(PSID)[-1]["message"]
    assert "/c/" in question["text"]
    replies = question["quick_replies"]
    assert [(q["content_type"], q["title"]) for q in replies] == [("text", "Xác nhận"), ("text", "Hủy đơn")]
    confirm, cancel = replies[0]["payload"], replies[1]["payload"]
    # typed chat is a conversation, never an answer ("Chị có cần xuất hóa đơn không?" "ko"); a typed
    # "huy don" or "ok" is kept for the owner to confirm with the customer, never applied
    for typed in ("ko", "huy don", "ok"):
        assert graph.user_message(PSID, typed).status_code == 200
    assert asked(svc, 841)["state"] == "asked"
    assert [(a["answer"], a["applied"], a["sender"]) for a in answers(svc, 841)] == [("unclear", 0, PSID)] * 2
    assert "typed in the chat, not the button" in english(answers(svc, 841)[0]["reason"])
    assert svc.db.scalar("SELECT COUNT(*) FROM inbox WHERE sender=? AND handled_by='cod'", (PSID,)) == 2
    # someone else's PSID, and a PSID nobody bound, send the order's payload: nothing happens to it
    assert graph.quick_reply(STRANGER, "Hủy đơn", cancel).status_code == 200
    assert graph.quick_reply("7700000000000001", "Hủy đơn", cancel).status_code == 200
    assert asked(svc, 841)["state"] == "asked" and answers(svc, 841)[2:] == []
    refused = svc.db.one("SELECT * FROM inbox WHERE sender=? ORDER BY id DESC LIMIT 1", (STRANGER,))
    assert "does not belong" in english(refused["reason"])
    # the customer taps Xác nhận; Meta delivers the event twice, and the customer taps again
    assert graph.quick_reply(PSID, "Xác nhận", confirm, mid="m_qr_1").status_code == 200
    assert graph.quick_reply(PSID, "Xác nhận", confirm, mid="m_qr_1").status_code == 200
    assert graph.quick_reply(PSID, "Xác nhận", confirm).status_code == 200
    k = asked(svc, 841)
    assert (k["state"], k["answered_via"]) == ("confirmed", "messenger")
    assert [(a["answer"], a["applied"], a["sender"]) for a in answers(svc, 841)[2:]] == [("confirm", 1, PSID)]
    # then Hủy đơn: recorded for the owner, not applied
    assert graph.quick_reply(PSID, "Hủy đơn", cancel).status_code == 200
    assert [(a["answer"], a["applied"]) for a in answers(svc, 841)[2:]] == [("confirm", 1), ("cancel", 0)]
    drained(svc)
    assert any("qua Messenger" in n for n in notes(woo, 841)) and woo.orders[841]["status"] == "processing"
    acks = [s["message"]["text"] for s in graph.sent_to(PSID) if "#841" in s["message"].get("text", "")
            and "/c/" not in s["message"]["text"]]
    assert any("Đã xác nhận đơn #841" in a for a in acks)


def test_the_graph_fake_refuses_malformed_quick_replies(graph):
    graph.add_user(PSID)
    url = f"{graph.base_url}/me/messages"
    auth = {"Authorization": f"Bearer {graph.page_token}"}

    def send(quick):
        return requests.post(url, json={"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                                        "message": {"text": "?", "quick_replies": quick}}, headers=auth, timeout=5)
    assert send([{"content_type": "text", "title": "x" * 21, "payload": "p"}]).status_code == 400
    assert send([{"content_type": "text", "title": "ok", "payload": "p"}] * 14).status_code == 400
    assert send([{"content_type": "text", "title": "ok"}]).status_code == 400
    assert send([{"content_type": "text", "title": "Xác nhận", "payload": "COD:confirm:1"}]).status_code == 200


def test_a_cancel_the_shop_refuses_is_left_alone_and_the_owner_is_told(shop, woo, fake_smsgate):
    from bridge import alerts
    svc = shop(owner_phones=("0901 234 567",))
    place(svc, woo, 861)
    woo.change(861, "completed", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))   # by hand, unheard of
    assert fake_smsgate.receive(E164, "2").status_code == 200
    assert asked(svc, 861)["state"] == "cancelled"
    drained(svc)
    (job,) = svc.messages(order_id=861, kind="order_update")
    assert job["status"] == "failed" and "changed by the shop meanwhile" in english(job["reason"])
    assert woo.orders[861]["status"] == "completed"
    alerts.watch(svc.bridge)
    (alert,) = [m for m in svc.messages(audience="owner") if m["rule"] == "alert:cod-writeback"]
    assert "861" in alert["text"]


# -- the shop moved the order on; the order's phone changed -----------------------------------------
def test_a_custom_shipping_status_closes_the_question_and_a_later_cancel_is_only_recorded(shop, woo, fake_smsgate):
    svc = shop(cod_confirmed_status="confirmed")
    place(svc, woo, 871)
    place(svc, woo, 872, phone=OTHER)
    for oid in (871, 872):   # the shop ships by hand through a carrier we do not hear from
        woo.orders[oid]["status"] = "shipping"
        assert svc.post_json(json.dumps(woo.orders[oid]).encode(), topic="order.updated").status_code == 200
        assert asked(svc, oid)["state"] == "closed"
    assert fake_smsgate.receive(E164, "2").status_code == 200
    assert post(link(svc, 872), "confirm").status_code == 303
    assert [(a["answer"], a["applied"]) for a in answers(svc, 871)] == [("cancel", 0)]
    assert [(a["answer"], a["applied"]) for a in answers(svc, 872)] == [("confirm", 0)]
    drained(svc)
    assert woo.orders[871]["status"] == woo.orders[872]["status"] == "shipping"
    assert svc.messages(order_id=871, kind="order_update") == svc.messages(order_id=872, kind="order_update") == []


def test_a_cancel_is_written_only_from_the_statuses_a_customer_may_answer_in(shop, woo, fake_smsgate):
    svc = shop(cod_confirmed_status="confirmed")
    place(svc, woo, 873)
    assert fake_smsgate.receive(E164, "2").status_code == 200
    (job,) = svc.messages(order_id=873, kind="order_update")
    assert json.loads(job["payload"])["from"] == ["pending", "on-hold", "processing"]


def test_replies_follow_the_orders_corrected_phone(shop, woo, fake_smsgate):
    svc = shop()
    place(svc, woo, 881)
    woo.orders[881]["billing"]["phone"] = OTHER
    assert svc.post_json(json.dumps(woo.orders[881]).encode(), topic="order.updated").status_code == 200
    assert asked(svc, 881)["phone"] == "+84987654321"
    assert fake_smsgate.receive(E164, "2").status_code == 200            # the old number: not theirs any more
    assert asked(svc, 881)["state"] == "asked" and answers(svc, 881) == []
    assert fake_smsgate.receive("+84987654321", "1").status_code == 200
    assert asked(svc, 881)["state"] == "confirmed"


def test_an_order_whose_phone_was_unusable_is_asked_once_it_is_corrected(shop, woo):
    svc = shop(cod_remind_after_hours=4)
    place(svc, woo, 882, phone="12345")
    assert asked(svc, 882)["phone"] == ""
    svc.clock.advance(5 * HOUR)
    assert cod.run(svc.bridge)["reminded"] == 0                       # a question that reached nobody
    woo.orders[882]["billing"]["phone"] = OTHER
    fixed_at = svc.clock()
    assert svc.post_json(json.dumps(woo.orders[882]).encode(), topic="order.updated").status_code == 200
    k = asked(svc, 882)
    assert (k["phone"], k["state"]) == ("+84987654321", "asked") and k["asked_at"] >= fixed_at
    (question,) = [m for m in svc.messages(order_id=882) if m["dedupe_key"] == "cod:882:ask:+84987654321"]
    assert question["recipient"] == "+84987654321" and "/c/" in question["text"]
    assert cod.run(svc.bridge)["reminded"] == 0                       # counted from the real question
    svc.clock.advance(4 * HOUR + 60)
    assert cod.run(svc.bridge)["reminded"] == 1


def test_answers_that_need_the_owner_are_listed_on_the_dashboard_until_seen(shop, woo, fake_smsgate):
    from tests.test_admin import PASSWORD, Admin
    svc = shop(admin_password=PASSWORD, timezone="Asia/Ho_Chi_Minh")
    place(svc, woo, 891)
    place(svc, woo, 892, phone=OTHER)
    assert fake_smsgate.receive(E164, "Huy day shop oi, mai giao buoi chieu nhe").status_code == 200
    assert post(link(svc, 892), "confirm").status_code == 303
    assert fake_smsgate.receive("+84987654321", "HUY DON").status_code == 200   # a change of mind
    assert fake_smsgate.receive("+84987654321", "HUY DON").status_code == 200   # the same again: once
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    html = admin.get("/admin/").text
    assert "Câu trả lời cần xem" in html
    listed = html.split('id="cod-answers"', 1)[1].split("</table>", 1)[0]
    rows = listed.split("<tr data-answer=")[1:]
    assert len(rows) == 2
    assert "#892" in rows[0] and 'href="tel:+84987654321"' in rows[0] and "hủy đơn" in rows[0] \
        and "HUY DON" in rows[0]
    assert "#891" in rows[1] and 'href="tel:+84912345678"' in rows[1] and "Huy day shop oi" in rows[1]
    answer_id = rows[1].split('"', 2)[1]
    assert admin.client.post("/admin/cod/answers/seen", data={"id": answer_id}).status_code == 400   # no token
    r = admin.post("/admin/cod/answers/seen", {"id": answer_id}, follow_redirects=True)
    assert "Đã đánh dấu đã xem câu trả lời." in r.text
    listed = r.text.split('id="cod-answers"', 1)[1].split("</table>", 1)[0]
    assert "#891" not in listed and "#892" in listed
    assert "không còn gì cần xem" in admin.post("/admin/cod/answers/seen", {"id": answer_id},
                                                follow_redirects=True).text
    assert 'id="cod-answers"' in admin.get("/admin/orders/891").text     # the order's story keeps it


# -- after the second review ------------------------------------------------------------------------
NEW = "+84987654321"


def test_after_a_phone_change_the_new_number_is_asked_then_reminded_and_the_old_link_stops(shop, woo, fake_smsgate):
    later = time.time() + 5 * HOUR
    local = datetime.fromtimestamp(later, ZoneInfo("Asia/Ho_Chi_Minh"))
    minute = local.hour * 60 + local.minute
    svc = shop(cod_remind_after_hours=4, quiet_hours=(minute, (minute + 120) % 1440))
    place(svc, woo, 951)
    old_link = link(svc, 951)
    svc.clock.advance(5 * HOUR)
    assert cod.run(svc.bridge)["reminded"] == 1                 # held for the quiet hours, to the old number
    woo.orders[951]["billing"]["phone"] = OTHER
    changed_at = svc.clock()
    assert svc.post_json(json.dumps(woo.orders[951]).encode(), topic="order.updated").status_code == 200
    mine = {m["dedupe_key"]: m for m in svc.messages(order_id=951)}
    assert mine[f"cod:951:remind:{E164}"]["status"] == "cancelled"
    assert "question goes to the new number" in english(mine[f"cod:951:remind:{E164}"]["reason"])
    question = mine[f"cod:951:ask:{NEW}"]
    assert question["recipient"] == NEW and question["status"] != "cancelled" and "/c/" in question["text"]
    k = asked(svc, 951)
    assert (k["phone"], k["state"], k["reminded_at"]) == (NEW, "asked", None) and k["asked_at"] >= changed_at
    # the link the old number holds no longer opens; the new one does
    assert requests.get(old_link, timeout=5).status_code == 404
    assert post(old_link, "cancel").status_code == 404 and asked(svc, 951)["state"] == "asked"
    new_link = re.search(r"http://\S+/c/\S+", question["text"]).group(0)
    assert new_link != old_link and requests.get(new_link, timeout=5).status_code == 200
    # the reminder, counted from the new question, goes to the new number
    svc.clock.advance(4 * HOUR + 60)
    assert cod.run(svc.bridge)["reminded"] == 1
    (reminder,) = [m for m in svc.messages(order_id=951) if m["dedupe_key"] == f"cod:951:remind:{NEW}"]
    assert reminder["recipient"] == NEW and reminder["status"] != "cancelled" and new_link in reminder["text"]
    assert asked(svc, 951)["reminded_at"] is not None


def test_a_question_held_for_quiet_hours_is_withdrawn_from_the_old_number(shop, woo, fake_smsgate):
    now_local = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    minute = now_local.hour * 60 + now_local.minute
    svc = shop(urgent=False, quiet_hours=((minute - 10) % 1440, (minute + 120) % 1440))
    place(svc, woo, 961)
    (first,) = svc.messages(order_id=961, event="order.cod_confirm")
    assert first["status"] == "scheduled" and first["recipient"] == E164
    woo.orders[961]["billing"]["phone"] = OTHER
    assert svc.post_json(json.dumps(woo.orders[961]).encode(), topic="order.updated").status_code == 200
    questions = {m["recipient"]: m["status"] for m in svc.messages(order_id=961, event="order.cod_confirm")}
    assert questions == {E164: "cancelled", NEW: "scheduled"}


def test_an_answer_after_the_question_closed_unanswered_is_kept_for_the_owner_without_a_false_reply(
        shop, woo, fake_smsgate):
    from tests.test_admin import PASSWORD, Admin
    svc = shop(admin_password=PASSWORD, timezone="Asia/Ho_Chi_Minh")
    place(svc, woo, 971)
    woo.orders[971]["status"] = "completed"
    assert svc.post_json(json.dumps(woo.orders[971]).encode(), topic="order.updated").status_code == 200
    assert asked(svc, 971)["state"] == "closed"
    assert fake_smsgate.receive(E164, "ok").status_code == 200
    assert [(a["answer"], a["applied"]) for a in answers(svc, 971)] == [("confirm", 0)]
    assert "after the order shipped or was finished" in english(answers(svc, 971)[0]["reason"])
    assert svc.messages(order_id=971, event="cod.answer") == []
    assert woo.orders[971]["status"] == "completed"
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    listed = admin.get("/admin/").text.split('id="cod-answers"', 1)[1].split("</table>", 1)[0]
    assert "#971" in listed and 'href="tel:+84912345678"' in listed


def test_an_order_first_seen_as_a_draft_is_asked_when_it_becomes_a_real_order(shop, woo):
    svc = shop()
    place(svc, woo, 975, status="checkout-draft")
    assert asked(svc, 975) is None and svc.messages(order_id=975, event="order.cod_confirm") == []
    woo.orders[975]["status"] = "processing"
    assert svc.post_json(json.dumps(woo.orders[975]).encode(), topic="order.updated").status_code == 200
    assert asked(svc, 975)["state"] == "asked"
    (question,) = svc.messages(order_id=975, event="order.cod_confirm")
    assert question["recipient"] == E164 and "/c/" in question["text"]
    # a finished order reopened by hand is the shop's to handle: never asked
    place(svc, woo, 976, status="completed", phone=OTHER)
    woo.orders[976]["status"] = "processing"
    assert svc.post_json(json.dumps(woo.orders[976]).encode(), topic="order.updated").status_code == 200
    assert asked(svc, 976) is None


def test_an_unclear_reply_from_a_phone_with_several_waiting_orders_is_kept_once(shop, woo, fake_smsgate):
    svc = shop()
    place(svc, woo, 977)
    place(svc, woo, 978)
    assert fake_smsgate.receive(E164, "giao buổi chiều nhé").status_code == 200
    assert answers(svc, 978) == []
    (kept,) = answers(svc, 977)
    assert (kept["answer"], kept["applied"]) == ("unclear", 0)
    assert "#977, #978" in english(kept["reason"]) and "not understood" in english(kept["reason"])
