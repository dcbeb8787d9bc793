"""Messenger with SMS as the safety net, over real HTTP: a fake Graph API (which also plays Meta
posting signed webhook events), the fake eSMS, and the service with its worker running."""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from bridge import reasons
from bridge.outbox import advance_stalled, history
from bridge.providers.messenger.sender import graph_error
from bridge.sending import RATE_LIMITED, Outcome
from tests.conftest import esms_settings, wait_until
from tests.fakes.graph import FakeGraph, sign
from tests.orders import order_body

PHONE = "+84912345678"
RULES = """
rules:
  - name: order-status
    event: order.status
    status: [on-hold, processing, completed]
    to: customer
    channel: {channel}
    unicode: false
{extra}
    template: >-
      Shop Demo: don #{{{{ order_number }}}} {{{{ status_label }}}}.{{% if messenger_link %}} Messenger: {{{{ messenger_link }}}}{{% endif %}}
  - name: reset
    event: account.password_reset
    to: customer
    channel: {channel}
    unicode: false
    template: >-
      Shop Demo: yeu cau dat lai mat khau cho {{{{ username }}}}.
"""


@pytest.fixture
def graph():
    with FakeGraph() as g:
        yield g


def shop(service_factory, tmp_path, fake_esms, graph, channel="[messenger, esms]", extra="", **changes):
    d = tmp_path / "mappings"
    d.mkdir(exist_ok=True)
    (d / "rules.yaml").write_text(RULES.format(channel=channel, extra=extra), encoding="utf-8")
    settings = dict(mappings_dir=str(d), owner_phones=(), messenger_page="shopdemo",
                    messenger_page_token=graph.page_token, messenger_app_secret=graph.app_secret,
                    messenger_verify_token="verify-me", graph_base_url=graph.base_url, secret_key="test-secret-key",
                    **esms_settings(fake_esms))
    svc = service_factory(start_scheduler=True, **{**settings, **changes})
    graph.webhook_url = svc.url + "/webhooks/messenger"
    return svc


def past_every_deadline(svc, seconds: float = 60) -> None:
    """Move the service's clock past any fallback_after, then run the fallback pass and the
    worker as the scheduler would: what was due to fall back to SMS has been sent by now."""
    svc.clock.advance(seconds)
    advance_stalled(svc.db, svc.bridge.clock())
    svc.bridge.worker.drain()


def status_update(svc, oid: int, status: str, minute: int) -> None:
    body = order_body(oid, status=status, modified=f"2026-11-23T03:{minute:02d}:00")
    assert svc.post_json(body, topic="order.updated").status_code == 200


def ref_from_sms(text: str) -> str:
    link = re.search(r"https://m\.me/shopdemo\?ref=(\S+)", text)
    assert link, f"no Messenger link in {text!r}"
    return parse_qs(urlparse(link.group(0)).query)["ref"][0]


def linked_customer(svc, fake_esms, graph, oid: int = 501, psid: str = "7712345678901234") -> str:
    """An order whose first SMS offers the m.me link; the customer opens it."""
    assert svc.post_json(order_body(oid), topic="order.created").status_code == 200
    wait_until(lambda: fake_esms.accepted, what="the first SMS")
    r = graph.referral(psid, ref_from_sms(fake_esms.accepted[0]["Content"]))
    assert r.status_code == 200 and r.json()["bound"] == 1, r.text
    return psid


# -- the webhook -----------------------------------------------------------------------------
def test_verification_challenge_is_echoed_only_for_our_token(service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    ok = requests.get(svc.url + "/webhooks/messenger", params={"hub.mode": "subscribe", "hub.verify_token": "verify-me",
                                                                "hub.challenge": "1158201444"}, timeout=5)
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = requests.get(svc.url + "/webhooks/messenger", params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                                 "hub.challenge": "1"}, timeout=5)
    assert bad.status_code == 403 and "MESSENGER_VERIFY_TOKEN" in bad.json()["error"]


def test_events_without_a_valid_signature_are_refused_and_recorded(service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    assert graph.post_events({"sender": {"id": "1"}}, signature="").status_code == 401
    r = graph.post_events({"sender": {"id": "1"}}, secret="not-the-app-secret")
    assert r.status_code == 401 and "X-Hub-Signature-256" in r.json()["error"]
    # the same refusal twice: one row, counted twice
    assert svc.db.scalar("SELECT SUM(count) FROM rejections WHERE endpoint='/webhooks/messenger'") == 2
    body = b'{"object": "page", "entry": ['
    bad = requests.post(svc.url + "/webhooks/messenger", data=body, timeout=5,
                        headers={"X-Hub-Signature-256": sign(body, graph.app_secret)})
    assert bad.status_code == 400


def test_a_forged_ref_binds_nobody(service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    assert svc.post_json(order_body(502), topic="order.created").status_code == 200
    r = graph.referral("66600000", '{"o":502}')  # what an attacker would write without our key
    assert r.status_code == 200 and r.json()["bound"] == 0
    assert svc.db.one("SELECT phone_e164 FROM messenger_contacts WHERE psid='66600000'") is None
    assert svc.db.scalar("SELECT COUNT(*) FROM rejections WHERE reason LIKE '%did not sign%'") == 1


# -- the chain -------------------------------------------------------------------------------
def test_unlinked_customer_gets_sms_then_messenger_once_linked(service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    psid = linked_customer(svc, fake_esms, graph)
    first = svc.messages()[0]
    legs = history(svc.db, first["id"])
    assert [(x["channel"], x["outcome"]) for x in legs] == [("messenger", "unavailable"), ("esms", "queued")]
    assert "not linked Messenger" in legs[0]["reason"]
    assert fake_esms.accepted[0]["RequestId"] == f"{first['id']}-1"  # the second leg is not a retry of the first

    status_update(svc, 501, "processing", 50)
    wait_until(lambda: graph.sent_to(psid), what="the Messenger message")
    sent = graph.sent_to(psid)[0]
    assert sent["messaging_type"] == "RESPONSE" and "dang xu ly" in sent["message"]["text"]
    wait_until(lambda: svc.messages(rule="order-status", status="queued", channel="messenger"),
               what="the Messenger send recorded")
    assert len(fake_esms.accepted) == 1  # no SMS for the linked customer
    assert sorted(m["channel"] for m in svc.messages(rule="order-status", status="queued")) == ["esms", "messenger"]

    # Meta reports the delivery: the message is delivered
    r = graph.deliver(psid, [sent["message_id"]])
    assert r.status_code == 200 and r.json()["receipts"] == 1
    wait_until(lambda: svc.messages(channel="messenger", status="delivered"), what="delivered")


def test_outside_the_24h_window_falls_back_to_sms_unless_a_tag_is_set(service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    psid = linked_customer(svc, fake_esms, graph)
    svc.db.conn().execute("UPDATE messenger_contacts SET last_inbound_at=? WHERE psid=?", (time.time() - 25 * 3600, psid))
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: len(svc.messages(channel="esms", status="queued")) == 2, what="the SMS recorded as queued")
    assert graph.sent == [] and len(fake_esms.accepted) == 2
    m = svc.messages(channel="esms", status="queued")[-1]
    assert "24 h" in history(svc.db, m["id"])[0]["reason"]



def test_outside_the_window_the_configured_tag_is_used(service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph, messenger_tag="POST_PURCHASE_UPDATE")
    psid = linked_customer(svc, fake_esms, graph)
    svc.db.conn().execute("UPDATE messenger_contacts SET last_inbound_at=? WHERE psid=?", (time.time() - 30 * 3600, psid))
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: graph.sent_to(psid), what="the tagged message")
    sent = graph.sent_to(psid)[0]
    assert sent["messaging_type"] == "MESSAGE_TAG" and sent["tag"] == "POST_PURCHASE_UPDATE"
    assert len(fake_esms.accepted) == 1
    # the page token travels in a header: URLs are what access logs and error texts keep
    assert graph.requests_log and not any("access_token" in r["url"] for r in graph.requests_log)


@pytest.mark.parametrize("error, expect_channel, reason", [
    ("token", "esms", "page token"),         # 190: permanent, the next channel takes over
    ("unavailable", "esms", "not available"),  # 551
    ("rate", "messenger", ""),               # 613: retried on Messenger, sent once
    ("rate-sub", "messenger", ""),           # 613 with a subcode: the same
    ("http429", "messenger", ""),            # a bare HTTP 429: the same, not an attempt
])
def test_graph_errors(service_factory, tmp_path, fake_esms, graph, error, expect_channel, reason):
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    psid = linked_customer(svc, fake_esms, graph)
    graph.fail_next(1, error)
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: svc.messages(rule="order-status", status="queued", channel=expect_channel)
               and len(svc.messages(status="queued")) == 2, what=f"the message via {expect_channel}")
    m = [x for x in svc.messages(status="queued") if x["channel"] == expect_channel][-1]
    if expect_channel == "esms":
        assert len(fake_esms.accepted) == 2 and graph.sent == []
        assert reason in history(svc.db, m["id"])[0]["reason"]
    else:
        assert len(graph.sent_to(psid)) == 1 and len(fake_esms.accepted) == 1


def test_a_graph_5xx_is_never_resent_on_messenger_the_sms_takes_over_after_the_doubt_window(
        service_factory, tmp_path, fake_esms, graph):
    """Graph has no idempotency key: a 500 may come after it took the message, so Messenger is
    not asked again; the rule's next channel sends after IN_DOUBT_AFTER."""
    svc = shop(service_factory, tmp_path, fake_esms, graph, in_doubt_after=0.5)
    linked_customer(svc, fake_esms, graph)
    graph.fail_next(1, "http500")
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: len(svc.messages(rule="order-status", channel="esms", status="queued")) == 2, timeout=20,
               what="the SMS after the doubt window")
    m = svc.messages(rule="order-status")[-1]
    assert [(x["channel"], x["outcome"]) for x in history(svc.db, m["id"])] == [("messenger", "in doubt"),
                                                                                ("esms", "queued")]
    assert len(graph.requests_log) == 1 and len(fake_esms.accepted) == 2


def test_a_lost_answer_is_settled_by_the_delivery_receipt(service_factory, tmp_path, fake_esms, graph):
    """Graph took the message but its answer came after our timeout: the message is in doubt (the
    SMS waits its turn); Messenger's receipt for a message id we never got settles it once the
    Conversations API shows our text under that id (a reply typed in the Page inbox does not), no SMS."""
    svc = shop(service_factory, tmp_path, fake_esms, graph, messenger_timeout=0.5)
    psid = linked_customer(svc, fake_esms, graph)
    graph.answer_delay = 1.5
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: svc.messages(rule="order-status", status="in-doubt"), what="the message in doubt")
    m = svc.messages(rule="order-status")[-1]
    assert "esms takes over after 600 s" in reasons.english(m["reason"])
    graph.answer_delay = 0
    # the shop answers the customer by hand from the Page inbox: that receipt proves nothing of ours
    by_hand = graph.page_reply(psid, "Dạ shop đã nhận đơn ạ")
    assert graph.deliver(psid, [by_hand]).status_code == 200
    assert svc.messages(rule="order-status")[-1]["status"] == "in-doubt"
    r = graph.deliver(psid, [graph.sent_to(psid)[0]["message_id"]])
    assert r.status_code == 200
    wait_until(lambda: svc.messages(rule="order-status")[-1]["status"] == "delivered", what="settled by the receipt")
    assert len(graph.sent_to(psid)) == 1 and len(fake_esms.accepted) == 1


def test_no_delivery_report_in_time_moves_to_sms_and_a_late_report_sends_nothing_more(
        service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph, extra="    fallback_after: 1")
    psid = linked_customer(svc, fake_esms, graph)
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: graph.sent_to(psid), what="Messenger")
    wait_until(lambda: len(svc.messages(channel="esms", rule="order-status", status="queued")) == 2, timeout=10,
               what="the SMS after the time limit, recorded")
    assert len(fake_esms.accepted) == 2
    m = svc.messages(channel="esms", rule="order-status")[-1]
    legs = history(svc.db, m["id"])
    assert [(x["channel"], x["outcome"]) for x in legs][-2:] == [("messenger", "no report"), ("esms", "queued")]
    # the Messenger receipt arrives late: the message is delivered, nothing else is sent
    graph.deliver(psid, [graph.sent_to(psid)[0]["message_id"]])
    wait_until(lambda: svc.db.one("SELECT status FROM messages WHERE id=?", (m["id"],))["status"] == "delivered")
    past_every_deadline(svc)
    assert len(fake_esms.accepted) == 2 and len(graph.sent_to(psid)) == 1


def test_a_delivery_receipt_that_overtakes_the_send_answer_still_counts(service_factory, tmp_path, fake_esms,
                                                                         graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph, extra="    fallback_after: 2")
    psid = linked_customer(svc, fake_esms, graph)
    graph.answer_delay = 1.0
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: graph.sent_to(psid), what="Messenger accepting the message")
    r = graph.deliver(psid, [graph.sent_to(psid)[0]["message_id"]])   # before our send call has returned
    assert r.status_code == 200
    wait_until(lambda: svc.messages(channel="messenger", status="delivered"), what="delivered once recorded")
    past_every_deadline(svc)   # past fallback_after: delivered means no SMS
    assert len(fake_esms.accepted) == 1


def test_a_read_receipt_delivers_what_was_sent_before_it(service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    psid = linked_customer(svc, fake_esms, graph)
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: svc.messages(channel="messenger", status="queued"), what="Messenger accepting the message")
    r = graph.read(psid)
    assert r.status_code == 200 and r.json()["receipts"] == 1
    wait_until(lambda: svc.messages(channel="messenger", status="delivered"), what="delivered by the read receipt")


def test_delivered_in_time_means_no_sms(service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph, extra="    fallback_after: 2")
    psid = linked_customer(svc, fake_esms, graph)
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: graph.sent_to(psid), what="Messenger")
    graph.deliver(psid, [graph.sent_to(psid)[0]["message_id"]])
    wait_until(lambda: svc.messages(rule="order-status", status="delivered"), what="the receipt recorded")
    past_every_deadline(svc)
    assert len(fake_esms.accepted) == 1
    assert svc.messages(rule="order-status", status="delivered")[-1]["channel"] == "messenger"


# -- inbound and accounts ------------------------------------------------------------------
def test_customer_messages_are_stored_reopen_the_window_and_are_never_payments(
        service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    psid = linked_customer(svc, fake_esms, graph)
    svc.db.conn().execute("UPDATE messenger_contacts SET last_inbound_at=? WHERE psid=?", (time.time() - 25 * 3600, psid))
    r = graph.user_message(psid, "Shop ơi em đã chuyển khoản +500,000VND rồi nhé")
    assert r.status_code == 200 and r.json()["messages"] == 1
    row = svc.db.one("SELECT * FROM inbox WHERE source='messenger'")
    assert row["sender"] == psid and "chuyển khoản" in row["text"]
    assert svc.db.scalar("SELECT COUNT(*) FROM transactions") == 0
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: graph.sent_to(psid), what="Messenger inside the reopened window")


def test_password_reset_webhook_notifies_the_account_phone(service_factory, tmp_path, fake_esms, graph):
    import json
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    customer = json.dumps({"id": 77, "username": "lan.nguyen", "email": "lan@example.test", "first_name": "Lan",
                           "last_name": "Nguyen", "billing": {"phone": "0987 654 321"},
                           "date_created_gmt": "2026-11-23T02:00:00"}).encode()
    assert svc.post_json(customer, topic="customer.updated").status_code == 200
    body = b'{"action":"woocommerce_reset_password_notification","arg":"lan.nguyen"}'
    r = svc.post_json(body, topic="action.woocommerce_reset_password_notification")
    assert r.status_code == 200
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE delivery_ref=?", (r.json()["delivery"],)) == 1
    wait_until(lambda: fake_esms.accepted, what="the reset SMS")
    assert fake_esms.accepted[0]["Phone"] == "0987654321" and "lan.nguyen" in fake_esms.accepted[0]["Content"]
    unknown = svc.post_json(b'{"action":"retrieve_password","arg":"nobody"}', topic="action.retrieve_password")
    assert unknown.status_code == 200
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE delivery_ref=?", (unknown.json()["delivery"],)) == 0


def test_the_pay_page_offers_the_messenger_link_and_it_binds(service_factory, tmp_path, fake_esms, graph):
    import html
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    assert svc.post_json(order_body(504), topic="order.created").status_code == 200
    page = requests.get(svc.url + "/pay/wc_order_00000504", timeout=5)
    link = re.search(r'href="(https://m\.me/shopdemo\?ref=[^"]+)"', page.text)
    assert page.status_code == 200 and link, "no Messenger link on the pay page"
    ref = parse_qs(urlparse(html.unescape(link.group(1))).query)["ref"][0]
    assert graph.referral("880011", ref, via="postback").json()["bound"] == 1
    assert svc.db.one("SELECT phone_e164, order_id FROM messenger_contacts WHERE psid='880011'")["order_id"] == 504


def test_an_unconfigured_messenger_is_skipped_and_sms_goes_out(service_factory, tmp_path, fake_esms, graph):
    svc = shop(service_factory, tmp_path, fake_esms, graph, messenger_page_token="")
    assert svc.post_json(order_body(505), topic="order.created").status_code == 200
    wait_until(lambda: fake_esms.accepted, what="the SMS")
    # eSMS has it; its answer is recorded a moment later (under load, after this line)
    m = wait_until(lambda: next((x for x in svc.messages() if x["status"] != "pending"), None), what="the answer")
    assert m["channel"] == "esms" and m["status"] == "queued" and graph.requests_log == []
    assert fake_esms.accepted[0]["RequestId"] == m["id"]


def test_with_nothing_configured_the_chain_is_dry_run_against_its_last_channel(service_factory, tmp_path, graph):
    d = tmp_path / "mappings"
    d.mkdir()
    (d / "rules.yaml").write_text(RULES.format(channel="[messenger, esms]", extra=""), encoding="utf-8")
    svc = service_factory(mappings_dir=str(d), owner_phones=())
    assert svc.post_json(order_body(506), topic="order.created").status_code == 200
    svc.bridge.worker.drain()
    m = svc.messages()[0]
    assert m["status"] == "dry-run" and m["channel"] == "esms"
    assert "'messenger', 'esms' are not configured" in reasons.english(m["reason"])


def test_a_rate_limit_that_lasts_past_the_doubt_window_hands_the_message_to_sms(
        service_factory, tmp_path, fake_esms, graph):
    """Graph's app budget (code 4) is counted over hours: waiting on Messenger for it would park
    the order's notice that long. Past IN_DOUBT_AFTER of "wait" answers the SMS takes over, and
    Messenger never got it (nothing doubled)."""
    svc = shop(service_factory, tmp_path, fake_esms, graph, in_doubt_after=30)
    psid = linked_customer(svc, fake_esms, graph)
    graph.fail_next(1000, "app-rate")
    status_update(svc, 501, "processing", 50)
    wait_until(lambda: any("Graph 4" in (m["reason"] or "") for m in svc.messages(rule="order-status")),
               what="Messenger's first 'wait'")
    svc.clock.advance(61)   # past its 60 s wait, and past IN_DOUBT_AFTER since the first "wait"

    def sms_out() -> bool:
        svc.bridge.worker.drain()
        return len(svc.messages(rule="order-status", channel="esms", status="queued")) == 2

    wait_until(sms_out, timeout=20, what="the SMS after the wait outlasted IN_DOUBT_AFTER")
    m = svc.messages(rule="order-status")[-1]
    assert [x["channel"] for x in history(svc.db, m["id"])] == ["messenger", "esms"]
    assert graph.sent_to(psid) == [] and len(fake_esms.accepted) == 2


@pytest.mark.parametrize("error, code, wait", [("rate", "613", 5.0), ("app-rate", "4", 60.0),
                                               ("user-rate", "17", 60.0), ("page-rate", "32", 60.0)])
def test_every_graph_rate_limit_waits_without_counting_an_attempt(graph, error, code, wait):
    """Graph's rate-limit answers (application 4, account 17, page 32, Send API 613) mean nothing
    was sent: the message waits and is asked again, never counted as a failed attempt."""
    graph.fail_next(1, error)
    r = requests.post(graph.base_url + "/me/messages", json={"recipient": {"id": "1"}, "message": {"text": "x"}},
                      headers={"Authorization": "Bearer t"}, timeout=5)
    before = time.time()
    result = graph_error(r)
    assert (result.outcome, result.code) == (Outcome.DEFERRED, RATE_LIMITED)
    assert f"Graph {code}" in result.detail and before + wait - 1 <= result.retry_at <= time.time() + wait
