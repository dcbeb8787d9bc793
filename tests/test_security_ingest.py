"""Issue 12, item 1: one token no longer guards payment ingest and goes to third parties.

The eSMS callback token travels to eSMS inside every CallbackUrl: it must open nothing but the
delivery-report endpoint. FiboSMS and the notification forwarder each have their own secret;
a FiboSMS push proves only who holds FIBO_TOKEN, so its bank credits wait for a person by
default. Secrets are printed on the start that generated them only, and never reach a log line.
All through real HTTP against the service on a loopback port (or `python app.py`)."""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bridge.envparse import bank_accounts as _accounts
from bridge.reasons import english
from tests.conftest import ROOT, SECRET, ServiceProcess, esms_settings, wait_until
from tests.orders import order_body

ACCOUNT = "0181003749261"
ORDER, TOTAL = 20, 513_000


def credit(order: int, amount: int = TOTAL, seq: int = 1) -> str:
    """A genuine-looking Vietcombank credit SMS paying `order` exactly."""
    return (f"SD TK {ACCOUNT} +{amount:,}VND luc 23-11-2026 09:{seq:02d}:40. SD {6_000_000 + seq * amount:,}VND. "
            f"Ref MBVCB.99{seq:02d}.DH{order}.CT tu 1047263815 VO MINH KHANG toi {ACCOUNT} CUA H...")


def fibo(svc, token: str, text: str) -> requests.Response:
    return requests.get(svc.url + "/inbound/fibo", params={"token": token, "phone": "Vietcombank", "message": text,
                                                           "guid": uuid.uuid4().hex}, timeout=5)


def momo_text(order: int, amount: int = TOTAL) -> str:
    dotted = f"{amount:,}".replace(",", ".")
    return f'Số tiền {dotted} ₫, kèm lời nhắn: "NGUYEN VAN AN chuyen tien DH{order}".'


def notify(svc, headers: dict[str, str], body: bytes) -> requests.Response:
    return requests.post(svc.url + "/inbound/notification", data=body,
                         headers={"Content-Type": "application/json", **headers}, timeout=5)


def signed(body: bytes, key: str, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    return {"X-Timestamp": stamp, "X-Signature": hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()}


def order_status(svc, order: int = ORDER) -> str:
    return svc.db.one("SELECT status FROM orders WHERE id=?", (order,))["status"]


@pytest.fixture
def generated(service_factory, fake_esms):
    """A service whose ingest secrets were all generated (none configured), with the on-hold order 20."""
    svc = service_factory(**esms_settings(fake_esms), esms_callback_token="", fibo_token="", notify_token="",
                          fibo_payments="confirm", bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"))
    assert svc.post_json(order_body(ORDER, total=TOTAL), topic="order.created").status_code == 200
    return svc


def test_the_token_handed_to_esms_opens_only_the_delivery_callback(generated, fake_esms):
    svc = generated
    svc.bridge.worker.drain()
    callback = fake_esms.accepted[0]["CallbackUrl"]          # what eSMS (and its logs) hold
    token = parse_qs(urlsplit(callback).query)["token"][0]
    assert token and token not in (svc.settings.fibo_token, svc.settings.notify_token)
    # with it, an attacker cannot mark the order paid: not by a FiboSMS push...
    r = fibo(svc, token, credit(ORDER))
    assert r.status_code == 403 and "FIBO_TOKEN" in r.json()["error"]
    # ...nor by a MoMo notification
    body = json.dumps({"package": "com.mservice.momotransfer", "text": momo_text(ORDER), "id": "x1"}).encode()
    assert notify(svc, {"Authorization": f"Bearer {token}"}, body).status_code == 401
    assert order_status(svc) == "on-hold" and svc.db.scalar("SELECT COUNT(*) FROM transactions") == 0
    # it still does its own job
    sms_id = fake_esms.accepted[0]["SMSID"]
    r = requests.get(callback, params={"SMSID": sms_id, "SendStatus": "5", "SendSuccess": "1"}, timeout=5)
    assert r.status_code == 200 and svc.report_known(r.json()) is True
    # the rejection kept for the admin page does not keep the token either
    stored = " ".join(str(r["body_excerpt"]) for r in svc.db.query("SELECT body_excerpt FROM rejections"))
    assert token not in stored


def test_each_ingest_secret_opens_its_own_door_only(generated):
    svc = generated
    s = svc.settings
    assert len({s.esms_callback_token, s.fibo_token, s.notify_token, s.smsgate_signing_key}) == 4
    body = json.dumps({"package": "com.mservice.momotransfer", "text": momo_text(ORDER), "id": "n-1"}).encode()
    assert notify(svc, {"Authorization": f"Bearer {s.fibo_token}"}, body).status_code == 401
    assert fibo(svc, s.notify_token, credit(ORDER)).status_code == 403
    assert requests.get(svc.url + "/callbacks/esms", params={"token": s.fibo_token, "SMSID": "1"},
                        timeout=5).status_code == 403
    assert order_status(svc) == "on-hold"
    r = notify(svc, {"Authorization": f"Bearer {s.notify_token}"}, body)
    assert r.status_code == 200 and svc.decided(r.json())["decision"].startswith("confirm")


def test_notifications_may_be_signed_and_bearer_can_be_switched_off(service_factory):
    svc = service_factory(notify_auth="signed")
    body = json.dumps({"package": "com.mservice.momotransfer", "text": momo_text(ORDER), "id": "s-1"}).encode()
    key = svc.settings.notify_token
    assert notify(svc, {"Authorization": f"Bearer {key}"}, body).status_code == 401   # NOTIFY_AUTH=signed
    assert notify(svc, signed(body, key, int(time.time()) - 3600), body).status_code == 401   # a replay, later
    assert notify(svc, signed(body, "not-the-key"), body).status_code == 401
    altered = body.replace(b"DH20", b"DH21")
    assert notify(svc, {**signed(body, key)}, altered).status_code == 401      # the body cannot be changed
    r = notify(svc, signed(body, key), body)
    assert r.status_code == 200 and r.json()["ok"] is True


def test_fibo_credits_wait_for_a_person_by_default(service_factory):
    svc = service_factory(fibo_payments="review", bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"))
    assert svc.post_json(order_body(ORDER, total=TOTAL), topic="order.created").status_code == 200
    r = fibo(svc, svc.settings.fibo_token, credit(ORDER))
    assert r.status_code == 200 and "<Status>2</Status>" in r.text
    tx = svc.db.one("SELECT * FROM transactions")
    assert tx["decision"] == "unverified_source" and "FIBO_TOKEN" in english(tx["reason"]) and tx["order_id"] == ORDER
    assert order_status(svc) == "on-hold"
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE rule LIKE 'payment-%'") == 0   # no note, no mark-paid
    from bridge.payments import review
    assert [t["id"] for t in review.review_queue(svc.db)] == [tx["id"]]


def test_fibo_payments_off_reads_no_payment_from_fibo(service_factory):
    svc = service_factory(fibo_payments="off", bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"))
    assert svc.post_json(order_body(ORDER, total=TOTAL), topic="order.created").status_code == 200
    assert fibo(svc, svc.settings.fibo_token, credit(ORDER)).status_code == 200
    assert svc.db.scalar("SELECT COUNT(*) FROM inbox") == 1 and svc.db.scalar("SELECT COUNT(*) FROM transactions") == 0
    assert order_status(svc) == "on-hold"


def _env(tmp_path, **extra: str) -> dict[str, str]:
    return {"BRIDGE_DB": str(tmp_path / "bridge.db"), "MAPPINGS_DIR": str(ROOT / "mappings"),
            "WOO_WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "INFO", **extra}


def test_generated_secrets_are_printed_once_then_never(tmp_path):
    env = _env(tmp_path)
    first = ServiceProcess(env).start()
    try:
        out = first.output()
    finally:
        first.stop()
    from bridge.store.db import Database
    db = Database(env["BRIDGE_DB"])
    secrets = {k: db.kv_get(k) for k in ("esms_callback_token", "fibo_token", "notify_token")}
    assert all(secrets.values()) and len(set(secrets.values())) == 3
    assert f"/inbound/fibo?token={secrets['fibo_token']}" in out
    assert f"/callbacks/esms?token={secrets['esms_callback_token']}" in out
    again = ServiceProcess(env).start()
    try:
        out2 = again.output()
        r = requests.get(again.url + "/inbound/fibo", params={"token": secrets["fibo_token"], "phone": "x",
                                                              "message": "hello", "guid": "g1"}, timeout=5)
        assert r.status_code == 200   # the stored secret still works
    finally:
        again.stop()
    assert "admin page > Settings" in out2 and not any(v in out2 for v in secrets.values())


def test_a_legacy_inbound_token_opens_no_payment_ingest_and_says_so(tmp_path):
    legacy = "legacy-inbound-token-1234"
    svc = ServiceProcess(_env(tmp_path, INBOUND_TOKEN=legacy)).start()
    try:
        out = svc.output()
        assert "INBOUND_TOKEN no longer opens payment ingest" in out
        assert legacy not in out        # configured secrets stay out of the logs too
        r = requests.get(svc.url + "/inbound/fibo", params={"token": legacy, "phone": "Vietcombank",
                                                            "message": credit(ORDER), "guid": "g"}, timeout=5)
        assert r.status_code == 403 and "INBOUND_TOKEN no longer opens payment ingest" in r.json()["error"]
        body = json.dumps({"package": "com.mservice.momotransfer", "text": momo_text(ORDER)}).encode()
        r = requests.post(svc.url + "/inbound/notification", data=body, timeout=5,
                          headers={"Authorization": f"Bearer {legacy}", "Content-Type": "application/json"})
        assert r.status_code == 401 and "INBOUND_TOKEN" in r.json()["error"]
        # eSMS still holds CallbackUrls with it for messages sent before the upgrade
        r = requests.get(svc.url + "/callbacks/esms", params={"token": legacy, "SMSID": "old-1"}, timeout=5)
        assert r.status_code == 200
    finally:
        svc.stop()


def test_rotate_secret_makes_a_new_token_and_the_old_one_stops_working(tmp_path):
    env = _env(tmp_path)
    svc = ServiceProcess(env).start()
    svc.stop()
    from bridge.store.db import Database
    old = Database(env["BRIDGE_DB"]).kv_get("fibo_token")
    run_env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_"))}, **env}
    r = subprocess.run([sys.executable, "-m", "bridge", "rotate-secret", "FIBO_TOKEN"], cwd=ROOT, env=run_env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    new = re.search(r"new FIBO_TOKEN: (\S+)", r.stdout).group(1)
    assert new != old
    refused = subprocess.run([sys.executable, "-m", "bridge", "rotate-secret", "FIBO_TOKEN"], cwd=ROOT,
                             env={**run_env, "FIBO_TOKEN": "set-by-the-operator"}, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "set in the environment" in refused.stderr
    svc = ServiceProcess(env).start()
    try:
        q = {"phone": "x", "message": "hello", "guid": "g2"}
        assert requests.get(svc.url + "/inbound/fibo", params={**q, "token": old}, timeout=5).status_code == 403
        assert requests.get(svc.url + "/inbound/fibo", params={**q, "token": new}, timeout=5).status_code == 200
    finally:
        svc.stop()


def test_our_own_log_lines_never_carry_a_token(service_factory):
    """The dev server logs every request line through our handler: the token is redacted there,
    as is any known secret wherever it appears in a line."""
    svc = service_factory(fibo_token="fibo-secret-abcdef-123456")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_woo_bridge", False))
    buf = io.StringIO()
    previous = handler.setStream(buf)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    try:
        requests.get(svc.url + "/inbound/fibo", params={"token": "fibo-secret-abcdef-123456", "phone": "x",
                                                        "message": "hi", "guid": "g"}, timeout=5)
        requests.get(svc.url + "/callbacks/esms", params={"token": "a-wrong-guess-998877"}, timeout=5)
        logging.getLogger("bridge.test").warning("GetBalance/%s/k failed", "fibo-secret-abcdef-123456")
        wait_until(lambda: "/callbacks/esms" in buf.getvalue(), timeout=5, what="the request lines")
    finally:
        handler.setStream(previous)
        logging.getLogger().setLevel(level)
    text = buf.getvalue()
    assert "/inbound/fibo?token=[redacted]" in text and "GetBalance/[redacted]/k" in text
    assert "fibo-secret-abcdef-123456" not in text and "a-wrong-guess-998877" not in text


def test_admin_settings_show_each_door_with_its_own_secret_in_vietnamese(service_factory):
    from tests.test_admin import PASSWORD, Admin
    svc = service_factory(admin_password=PASSWORD)
    a = Admin(svc)
    assert a.sign_in().status_code == 302
    html = a.get("/admin/settings").text
    assert "/callbacks/esms?token=test-esms-callback-token" in html and "/inbound/fibo?token=test-fibo-token" in html
    assert "Bearer test-notify-token" in html
    assert "chỉ chứng minh người giữ FIBO_TOKEN" in html and "không mở được địa chỉ nào khác" in html


def test_check_config_warns_about_a_legacy_inbound_token(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_"))},
           **_env(tmp_path, INBOUND_TOKEN="legacy-inbound-token-1234")}
    r = subprocess.run([sys.executable, "-m", "bridge", "check-config"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "warning: INBOUND_TOKEN no longer opens payment ingest" in r.stderr
    assert "legacy-inbound-token-1234" not in r.stdout + r.stderr


def test_upgrading_a_database_with_a_stored_inbound_token(tmp_path):
    """An older version generated INBOUND_TOKEN and stored it; FiboSMS and the forwarder were
    given it. After the upgrade it opens only the eSMS callback, and the first start says what to do."""
    from bridge.store.db import Database
    env = _env(tmp_path)
    db = Database(env["BRIDGE_DB"])
    db.migrate()
    db.kv_set("inbound_token", "old-generated-token-5678")
    svc = ServiceProcess(env).start()
    try:
        out = svc.output()
        assert "upgrade: the stored INBOUND_TOKEN no longer opens payment ingest" in out
        assert "old-generated-token-5678" not in out
        q = {"phone": "Vietcombank", "message": credit(ORDER), "guid": "g"}
        r = requests.get(svc.url + "/inbound/fibo", params={**q, "token": "old-generated-token-5678"}, timeout=5)
        assert r.status_code == 403 and "INBOUND_TOKEN" in r.json()["error"]
        r = requests.get(svc.url + "/callbacks/esms", params={"token": "old-generated-token-5678", "SMSID": "1"},
                         timeout=5)
        assert r.status_code == 200
    finally:
        svc.stop()
