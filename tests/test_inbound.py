"""Receiving SMS from the shop's phone: signed SMSGate webhooks, FiboSMS push, duplicates of
every kind handled once, bad input refused clearly, keyword forwarding."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import requests
from werkzeug.serving import make_server
from flask import Flask, request

from bridge import reasons
from tests.conftest import POLL_INTERVAL, smsgate_settings, wait_until, write_mappings

FORWARDS = """
forwards:
  - name: chatbot-orders
    keywords: ["don hang", "DH"]
    forward_to: {url}
    reply: "{{{{ shop_name }}}} đã nhận tin của bạn, chúng tôi sẽ trả lời sớm."
    reply_channel: smsgate
    unicode: false
  - name: from-the-boss
    senders: ["0987 654 321"]
    forward_to: {url}
"""


class Receiver:
    """A chatbot that takes forwarded SMS (real HTTP), failing on demand."""

    def __init__(self):
        self.got: list[tuple[dict, str]] = []
        self.fail = 0
        app = Flask("receiver")

        @app.post("/hook")
        def hook():
            if self.fail:
                self.fail -= 1
                return "busy", 503
            self.got.append((request.get_json(), request.headers.get("Idempotency-Key", "")))
            return {"ok": True}

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(POLL_INTERVAL,), daemon=True).start()


def make(service_factory, tmp_path, fake, forwards=None):
    svc = service_factory(mappings_dir=str(write_mappings(tmp_path, forwards=forwards)), **smsgate_settings(fake))
    fake.webhook_url = svc.url + "/inbound/smsgate"
    return svc


def inbox(svc):
    return [dict(r) for r in svc.db.query("SELECT * FROM inbox ORDER BY id")]


def test_received_sms_is_stored_with_everything(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    r = fake_smsgate.receive("Vietcombank", "SD TK 0071009998887 +513,000VND. ND: DH20", message_id="m-1", sim=2)
    assert r.status_code == 200 and r.json()["duplicate"] is False
    (row,) = inbox(svc)
    assert (row["source"], row["external_id"], row["device"], row["sim"], row["sender"]) == \
        ("smsgate", "m-1", "dev-1", 2, "Vietcombank")
    assert row["text"].endswith("ND: DH20") and json.loads(row["raw"])["event"] == "sms:received"
    # a "Vietcombank" SMS that fits none of Vietcombank's templates, to the configured account with a
    # code: the payments handler reads it by the generic rule, and it waits for a person
    assert row["received_at"] and row["state"] == "handled" and row["handled_by"] == "payments"
    assert row["reason"].startswith("unknown_layout")


def test_duplicates_of_every_kind_are_kept_once(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    when = datetime.now(timezone.utc)
    first = fake_smsgate.receive("MoMo", "Nhan 50.000d", message_id="a1", received_at=when.isoformat())
    again = fake_smsgate.receive("MoMo", "Nhan 50.000d", message_id="a1", received_at=when.isoformat())
    assert again.json()["duplicate"] is True and again.json()["inbox"] == first.json()["inbox"]
    # the same SMS re-sent by the gateway under a new id, a minute later
    twin = fake_smsgate.receive("MoMo", "Nhan 50.000d", message_id="a2",
                                received_at=(when + timedelta(seconds=60)).isoformat())
    assert twin.json()["duplicate"] is True
    # the same text three minutes later is a new SMS
    later = fake_smsgate.receive("MoMo", "Nhan 50.000d", message_id="a3",
                                 received_at=(when + timedelta(minutes=3)).isoformat())
    assert later.json()["duplicate"] is False
    states = [r["state"] for r in inbox(svc)]
    assert states == ["handled", "duplicate", "handled"]  # "MoMo" by SMS claiming money: rejected, once each
    assert svc.db.scalar("SELECT COUNT(*) FROM transactions") == 2


def test_signature_problems_are_401_and_store_nothing(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    cases = {
        "wrong key": dict(key="another-key"),
        "stale timestamp": dict(timestamp=int(time.time()) - 600),
        "future timestamp": dict(timestamp=int(time.time()) + 600),
        "tampered body": dict(tamper=True),
    }
    for label, kw in cases.items():
        r = fake_smsgate.receive("Vietcombank", "SD TK +1,000,000VND", **kw)
        assert r.status_code == 401, label
        assert r.json()["ok"] is False and r.json()["error"], label
    r = requests.post(svc.url + "/inbound/smsgate", json={"event": "sms:received", "payload": {}}, timeout=5)
    assert r.status_code == 401 and "X-Signature" in r.json()["error"]
    assert inbox(svc) == []
    assert svc.db.scalar("SELECT SUM(count) FROM rejections WHERE endpoint='/inbound/smsgate'") == 5   # repeats counted


def test_bad_bodies_get_clear_4xx(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    post = fake_smsgate.post_event
    assert post("x", {}, body=b"not json").json()["error"].startswith("body is not valid JSON")
    assert post("x", {}, body=b"\xff\xfe{}").json()["error"] == "body is not UTF-8"
    r = post("sms:received", {"sender": "MoMo"})
    assert r.status_code == 400 and "payload.message" in r.json()["error"]
    r = post("sms:received", {"message": 12, "sender": "MoMo"})
    assert r.status_code == 400
    r = post("sms:received", {"message": "hi"})
    assert r.status_code == 400 and "payload.sender" in r.json()["error"]
    r = post("sms:delivered", {"phoneNumber": "+84912345678"})
    assert r.status_code == 400 and "messageId" in r.json()["error"]
    big = fake_smsgate.envelope("sms:received", {"message": "x" * (1024 * 1024), "sender": "MoMo"})
    assert post("sms:received", {}, body=big).status_code == 413
    assert post("system:ping", {}).json() == {"ok": True, "event": "system:ping"}
    assert inbox(svc) == []
    # what was accepted before stays
    fake_smsgate.receive("MoMo", "ok")
    post("sms:received", {"sender": "MoMo"})
    assert len(inbox(svc)) == 1


def test_fibo_push_follows_the_retry_protocol(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    q = {"token": "test-fibo-token", "message": "DH20 da chuyen khoan", "phone": "0912345678", "guid": "g-77"}
    r = requests.get(svc.url + "/inbound/fibo", params=q, timeout=5)
    assert r.status_code == 200 and r.text == "<Status>2</Status>" and r.headers["Content-Type"].startswith("text/xml")
    r = requests.get(svc.url + "/inbound/fibo", params=q, timeout=5)  # FiboSMS pushes again
    assert r.text == "<Status>2</Status>"
    rows = inbox(svc)
    assert len(rows) == 1 and (rows[0]["source"], rows[0]["external_id"], rows[0]["sender"]) == ("fibo", "g-77", "0912345678")
    assert requests.get(svc.url + "/inbound/fibo", params={**q, "token": "x"}, timeout=5).status_code == 403
    r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": "1"}, timeout=5)
    assert r.status_code == 400 and "message" in r.json()["error"] and "guid" in r.json()["error"]


def test_fibo_answers_1_when_it_cannot_store(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    svc.db.conn().execute("DROP TABLE inbox")  # the database lost its table: we cannot store
    q = {"token": "test-fibo-token", "message": "hi", "phone": "0912345678", "guid": "g-1"}
    r = requests.get(svc.url + "/inbound/fibo", params=q, timeout=5)
    assert r.text == "<Status>1</Status>" and r.status_code == 500


def test_keyword_forwarding_and_reply(service_factory, tmp_path, fake_smsgate):
    rec = Receiver()
    rec.fail = 1  # the chatbot is busy once: the forward is retried, not lost
    svc = make(service_factory, tmp_path, fake_smsgate, forwards=FORWARDS.format(url=rec.url))
    fake_smsgate.receive("+84912345678", "Cho mình hỏi ĐƠN HÀNG 123 khi nào giao?", message_id="k1")
    fake_smsgate.receive("+84900000000", "Chao shop", message_id="k2")          # matches nothing
    fake_smsgate.receive("+84987654321", "Goi lai cho anh", message_id="k3")    # by sender
    wait_until(lambda: (svc.bridge.worker.drain() or True) and len(rec.got) == 2, timeout=10, what="forwards")
    by_rule = {body["rule"]: (body, key) for body, key in rec.got}
    first, boss = by_rule["chatbot-orders"], by_rule["from-the-boss"]
    assert first[0]["text"].startswith("Cho mình hỏi") and first[0]["rule"] == "chatbot-orders"
    assert first[0]["sender"] == "+84912345678" and first[1]  # Idempotency-Key
    assert boss[0]["rule"] == "from-the-boss"
    rows = inbox(svc)
    assert [r["state"] for r in rows] == ["handled", "stored", "handled"]
    assert "answered by chatbot-orders" in reasons.english(rows[0]["reason"])
    replies = [m for m in svc.messages() if m["event"] == "sms.reply"]
    assert len(replies) == 1 and replies[0]["recipient"] == "+84912345678"
    assert replies[0]["text"] == "Shop Demo da nhan tin cua ban, chung toi se tra loi som."
    sent = {m["id"] for m in fake_smsgate.accepted}
    assert replies[0]["id"] in sent
    forwards = [m for m in svc.messages() if m["event"] == "sms.forward"]
    assert {m["status"] for m in forwards} == {"delivered"}
    # the two forwards go out in parallel lanes: whichever reached the busy chatbot first was retried
    outcomes = sorted([a["outcome"] for a in svc.db.query("SELECT outcome FROM attempts WHERE message_id=?"
                                                           " ORDER BY id", (m["id"],))] for m in forwards)
    assert outcomes == [["accepted"], ["transient", "accepted"]]


def test_forward_rules_are_validated(tmp_path):
    import pytest
    from bridge.text_handlers.forward import load_forward_rules
    from bridge.rules import RulesError
    p = tmp_path / "forwards.yaml"
    for text, expected in [
        ("forwards:\n  - name: a\n    forward_to: http://x\n", "give 'senders' and/or 'keywords'"),
        ("forwards:\n  - name: a\n    keywords: [x]\n", "give 'forward_to'"),
        ("forwards:\n  - name: a\n    keywords: [x]\n    forward_to: ftp://x\n", r"must be an http\(s\) URL"),
        ("forwards:\n  - name: a\n    keywords: [x]\n    reply: '{{ nope }'\n", "field 'reply'"),
        ("forwards:\n  - name: a\n    keywords: [x]\n    reply: hi\n    reply_channel: fax\n", "unknown 'fax'"),
    ]:
        p.write_text(text)
        with pytest.raises(RulesError, match=expected):
            load_forward_rules(p, ("smsgate", "esms"))
