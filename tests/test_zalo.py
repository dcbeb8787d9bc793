"""Zalo ZNS through the fake eSMS over real HTTP: the V5 template send, ZNS-then-SMS through
MultiChannelMessage, Zalo's callbacks (TypeId 24/25, error_info decoded and kept) and our own
chain [zalo, esms] falling through to SMS."""
from __future__ import annotations

import json

import pytest
import requests

from bridge.providers.esms.sender import decode_error_info
from bridge.config import load_settings
from bridge.context import sample_contexts
from bridge.outbox import history
from bridge.rules import RulesError, load_rules
from tests.conftest import esms_settings, wait_until
from tests.orders import order_body

RULES = """
rules:
  - name: order-status
    event: order.status
    status: [on-hold, processing]
    to: customer
    channel: {channel}
    unicode: false
{extra}
    zns:
      template_id: "{template}"
      data:
        order_code: "{{{{ order_number }}}}"
        amount: "{{{{ total }}}}"
        customer_name: "{{{{ customer_name }}}}"
    template: >-
      Shop Demo: don #{{{{ order_number }}}} {{{{ status_label }}}}, tong {{{{ total }}}}.
"""


def shop(service_factory, tmp_path, fake_esms, channel="zalo", template="2056446", extra="", **changes):
    d = tmp_path / "mappings"
    d.mkdir(exist_ok=True)
    (d / "rules.yaml").write_text(RULES.format(channel=channel, template=template, extra=extra), encoding="utf-8")
    settings = dict(mappings_dir=str(d), owner_phones=(), zalo_oaid=fake_esms.oaid, **esms_settings(fake_esms))
    return service_factory(start_scheduler=True, **{**settings, **changes})


def only_message(svc):
    rows = svc.messages()
    assert len(rows) == 1, rows
    return rows[0]


def test_zns_goes_out_as_a_template_with_key_value_data_and_our_request_id(service_factory, tmp_path, fake_esms):
    svc = shop(service_factory, tmp_path, fake_esms)
    assert svc.post_json(order_body(801, total=1290000), topic="order.created").status_code == 200
    wait_until(lambda: only_message(svc)["status"] == "queued", what="the ZNS accepted")
    [sent] = fake_esms.accepted
    assert sent["kind"] == "zns" and sent["TempID"] == "2056446" and sent["OAID"] == fake_esms.oaid
    assert sent["Phone"] == "0912345678"
    data = {d["key"]: d["value"] for d in sent["TempData"]}
    assert data["order_code"] == "801" and data["amount"] == "1.290.000đ"
    m = only_message(svc)
    assert sent["RequestId"] == m["id"] and m["channel"] == "zalo" and m["provider_id"] == sent["SMSID"]


def test_zalo_delivered_callback_marks_the_message_delivered(service_factory, tmp_path, fake_esms):
    svc = shop(service_factory, tmp_path, fake_esms)
    svc.post_json(order_body(802), topic="order.created")
    wait_until(lambda: only_message(svc)["status"] == "queued", what="accepted")
    r = fake_esms.fire_zalo_callback(fake_esms.accepted[0]["SMSID"], ok=True, style="double-url")
    assert r.status_code == 200 and svc.report_known(r.json()), r.text
    assert only_message(svc)["status"] == "delivered"


def test_zalo_failure_report_falls_through_to_sms_with_its_own_request_id_and_keeps_zalo_error(
        service_factory, tmp_path, fake_esms):
    svc = shop(service_factory, tmp_path, fake_esms, channel="[zalo, esms]")
    svc.post_json(order_body(803), topic="order.created")
    wait_until(lambda: only_message(svc)["status"] == "queued", what="ZNS accepted")
    zns = fake_esms.accepted[0]
    r = fake_esms.fire_zalo_callback(zns["SMSID"], ok=False, error=-114)
    assert r.status_code == 200, r.text
    wait_until(lambda: len(fake_esms.accepted) == 2, what="the SMS after Zalo failed")
    sms = fake_esms.accepted[1]
    m = only_message(svc)
    assert sms["RequestId"] == f"{m['id']}-1" and "don #803" in sms["Content"]
    legs = history(svc.db, m["id"])
    assert [leg["channel"] for leg in legs] == ["zalo", "esms"]
    assert "Zalo error -114" in legs[0]["reason"] and "User is inactive" in legs[0]["reason"]
    raw = json.loads(svc.db.one("SELECT raw FROM message_events WHERE provider_id=?", (zns["SMSID"],))["raw"])
    assert raw["error_info"]["error"] == -114
    # a late "delivered" for Zalo after the SMS went out: one notice, no third message
    fake_esms.fire_callback(sms["SMSID"], send_status=5, success=1)
    assert only_message(svc)["status"] == "delivered"
    assert len(fake_esms.accepted) == 2


@pytest.mark.parametrize("code, setup", [("789", "template"), ("799", "oa")])
def test_template_or_oa_refused_moves_to_sms_at_once(service_factory, tmp_path, fake_esms, code, setup):
    if setup == "oa":
        fake_esms.oa_active = False
    svc = shop(service_factory, tmp_path, fake_esms, channel="[zalo, esms]",
               template="999999" if setup == "template" else "2056446")
    svc.post_json(order_body(804), topic="order.created")
    wait_until(lambda: len(fake_esms.accepted) == 1 and only_message(svc)["status"] == "queued", what="the SMS")
    assert fake_esms.requests_log[0]["CodeResult"] == code
    assert "kind" not in fake_esms.accepted[0] and "don #804" in fake_esms.accepted[0]["Content"]
    legs = history(svc.db, only_message(svc)["id"])
    assert legs[0]["channel"] == "zalo" and legs[0]["outcome"] == "failed"
    assert ("template" in legs[0]["reason"]) if setup == "template" else ("not active" in legs[0]["reason"])


def test_zalo_alone_failing_leaves_a_failed_message_with_zalo_reason(service_factory, tmp_path, fake_esms):
    svc = shop(service_factory, tmp_path, fake_esms, channel="zalo")
    svc.post_json(order_body(805), topic="order.created")
    wait_until(lambda: only_message(svc)["status"] == "queued", what="accepted")
    fake_esms.fire_zalo_callback(fake_esms.accepted[0]["SMSID"], ok=False, error=-124,
                                 message="Zalo account not existed")
    m = only_message(svc)
    assert m["status"] == "failed" and "Zalo error -124" in m["reason"]


def test_multichannel_sends_one_request_and_waits_for_the_sms_report(service_factory, tmp_path, fake_esms):
    svc = shop(service_factory, tmp_path, fake_esms, channel="zalo-sms")
    svc.post_json(order_body(806), topic="order.created")
    wait_until(lambda: only_message(svc)["status"] == "queued", what="accepted")
    [sent] = fake_esms.accepted
    m = only_message(svc)
    assert sent["kind"] == "multi" and sent["RequestId"] == m["id"]
    assert sent["Params"][:2] == ["806", "513.000đ"] and len(sent["Params"]) == 3
    assert "don #806" in sent["sms"]["Content"] and sent["sms"]["Brandname"] == "SHOPDEMO"
    # Zalo could not deliver: eSMS now sends the SMS itself; not a failure of our message
    fake_esms.fire_zalo_callback(sent["SMSID"], ok=False)
    assert only_message(svc)["status"] == "sent"
    note = json.loads(svc.db.one("SELECT raw FROM message_events WHERE provider_id=? ORDER BY id DESC",
                                 (sent["SMSID"],))["raw"])["note"]
    assert "Zalo error -114" in note and "eSMS sends the SMS" in note
    fake_esms.fire_callback(sent["SMSID"], send_status=5, success=1)
    assert only_message(svc)["status"] == "delivered"
    assert len(fake_esms.accepted) == 1


def test_retry_after_a_lost_answer_never_sends_a_second_zns(service_factory, tmp_path, fake_esms):
    fake_esms.fail_next(1, "drop")   # eSMS took it, the answer was lost
    svc = shop(service_factory, tmp_path, fake_esms)
    svc.post_json(order_body(807), topic="order.created")
    wait_until(lambda: only_message(svc)["status"] == "queued", what="the retry")
    assert len(fake_esms.accepted) == 1
    assert [e["CodeResult"] for e in fake_esms.requests_log] == ["100", "124"]


def test_rule_on_a_zalo_channel_without_a_zns_template_is_refused_at_start(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "r.yaml").write_text("rules:\n  - name: z\n    event: order.status\n    status: processing\n"
                              "    channel: [zalo, esms]\n    template: hi\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"rule 'z'.*zns"):
        load_rules(d, ("esms", "zalo", "dry-run"), sample_contexts(load_settings(environ={}, env_file=None)))


def test_unconfigured_zalo_says_what_is_missing(service_factory, tmp_path, fake_esms):
    svc = shop(service_factory, tmp_path, fake_esms, zalo_oaid="")
    assert "ZALO_OAID" in svc.bridge.channels["zalo"].why_not_configured
    svc.post_json(order_body(808), topic="order.created")
    wait_until(lambda: only_message(svc)["status"] == "dry-run", what="dry-run")
    assert fake_esms.accepted == []


@pytest.mark.parametrize("junk", ["{", "%E0%A4%A", "null", "[1,2]", '"\\"x', "x" * 5000])
def test_garbage_error_info_never_breaks_the_callback(service_factory, tmp_path, fake_esms, junk):
    svc = shop(service_factory, tmp_path, fake_esms)
    assert isinstance(decode_error_info(junk), dict)   # never raises, never None for a non-empty value
    r = requests.get(svc.url + "/callbacks/esms", params={"token": "test-esms-callback-token", "SMSID": "nope",
                                                          "SendStatus": "5", "SendFailed": "1", "TypeId": "25",
                                                          "error_info": junk}, timeout=5)
    assert r.status_code == 200 and svc.report_known(r.json()) is False
