"""The send API (/api/v1/) through real HTTP against the service and the fake eSMS: keys and
scopes, validation errors as JSON, idempotency under concurrent repeats, cancel, paging while
messages arrive, the rate limit shared by every process, the OpenAPI document driving a client
through every endpoint, and a kill -9 right after a 201."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import requests

from bridge import api_keys
from bridge.store import prices
from bridge.store.db import Database
from tests.conftest import BANK_ENV, ROOT, SECRET, ServiceProcess, esms_settings, wait_until

ORDER = "001-order.updated-o20-checkout-bacs-on-hold"   # order #20, customer 0912345678


def key(svc, scopes=("send", "read"), rate=None, name="chatbot") -> str:
    return api_keys.create(svc.db, name, scopes, rate, svc.clock()).token


def auth(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


def post(svc, token: str, body, idem: str | None = None, **kw) -> requests.Response:
    headers = auth(token, **({"Idempotency-Key": idem} if idem else {}))
    return requests.post(svc.url + "/api/v1/messages", json=body, headers=headers, timeout=10, **kw)


def get(svc, token: str, path: str, **params) -> requests.Response:
    return requests.get(svc.url + "/api/v1" + path, headers=auth(token), params=params, timeout=10)


def in_(seconds: float) -> str:
    return (datetime.now(timezone(timedelta(hours=7))) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


@pytest.fixture
def svc(service_factory, fake_esms):
    return service_factory(**esms_settings(fake_esms))


def test_a_message_goes_out_once_through_the_outbox_and_its_reports_are_readable(svc, fake_esms):
    token = key(svc)
    prices.set_prices(svc.db, {"esms": prices.Price("esms", 850, prices.PER_PART)})   # as entered in Settings
    r = post(svc, token, {"to": "0912 345 678", "text": "Đơn của bạn đã sẵn sàng"})
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["status"] == "pending" and m["to"] == "+84912345678" and m["channel"] == ["esms"]
    assert m["cost_estimate"] == {"vnd": 850, "channel": "esms"}
    long = post(svc, token, {"to": "0912 345 678", "text": "Đơn của bạn " * 10, "send_at": in_(600)}).json()
    assert long["segments"] == 2 and long["cost_estimate"]["vnd"] == 1700
    requests.delete(f"{svc.url}/api/v1/messages/{long['id']}", headers=auth(token), timeout=5)
    assert m["segments"] == 1 and m["encoding"] == "UCS-2" and r.headers["Location"].endswith(f"/messages/{m['id']}")
    row = svc.messages(id=m["id"])[0]
    assert row["rule"] == "api" and row["kind"] == "message"
    assert svc.bridge.worker.drain() == 1
    (sent,) = fake_esms.accepted
    assert sent["RequestId"] == m["id"] and sent["Phone"] == "0912345678" and sent["Content"] == "Đơn của bạn đã sẵn sàng"
    fake_esms.fire_callback(sent["SMSID"])
    wait_until(lambda: get(svc, token, f"/messages/{m['id']}").json()["status"] == "delivered", what="delivered")
    detail = get(svc, token, f"/messages/{m['id']}").json()
    assert detail["legs"][0]["channel"] == "esms" and detail["legs"][0]["provider_id"] == sent["SMSID"]
    assert [e["event"] for e in detail["events"]] == ["delivered"] and detail["delivered_at"]


def test_an_order_number_reaches_that_orders_customer_with_a_template_written_for_the_order(svc, fake_esms):
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    before = len(fake_esms.accepted)
    token = key(svc)
    r = post(svc, token, {"to": "#20", "template": "order-processing", "unicode": False})
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["to"] == "+84912345678" and m["order"] == "20" and "20" in m["text"] and m["encoding"] == "GSM-7"
    r = post(svc, token, {"to": {"order": 20}, "template": "customer-welcome", "variables": {"customer_name": "An"}})
    assert r.status_code == 201 and "An" in r.json()["text"]
    svc.bridge.worker.drain()
    assert len(fake_esms.accepted) == before + 2
    assert post(svc, token, {"to": "#999999", "text": "x"}).json()["error"] == "unknown_order"


def test_without_a_valid_key_or_scope_nothing_is_done_and_each_refusal_is_json(service_factory, svc, fake_esms):
    send_only, read_only = key(svc, ("send",)), key(svc, ("read",))
    body = {"to": "0912345678", "text": "hi"}
    cases = [
        (requests.post(svc.url + "/api/v1/messages", json=body, timeout=5), 401, "missing_key"),
        (post(svc, "wb_live_00000000_" + "A" * 43, body), 401, "invalid_key"),
        (post(svc, send_only[:-1] + ("B" if send_only[-1] != "B" else "C"), body), 401, "invalid_key"),
        (requests.post(svc.url + "/api/v1/messages", json=body, headers={"Authorization": f"Basic {send_only}"},
                       timeout=5), 401, "malformed_authorization"),
        (requests.get(svc.url + "/api/v1/messages", params={"api_key": read_only}, timeout=5), 401, "key_in_url"),
        (post(svc, read_only, body), 403, "scope"),
        (get(svc, send_only, "/messages"), 403, "scope"),
        (requests.delete(svc.url + "/api/v1/messages/x", headers=auth(read_only), timeout=5), 403, "scope"),
    ]
    for r, status, code in cases:
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
        assert r.json()["reason"]
    assert svc.messages() == []
    refused = svc.db.query("SELECT endpoint, reason, headers, body_excerpt FROM rejections")
    assert {r["reason"].split(":")[0] for r in refused} >= {"missing_key", "invalid_key", "key_in_url"}
    assert any("unknown, revoked or mistyped" in r["reason"] for r in refused)
    assert all(send_only not in r["headers"] and read_only not in r["headers"] for r in refused)
    api_keys.revoke(svc.db, api_keys.verify(svc.db, send_only).id, svc.clock())
    assert post(svc, send_only, body).json()["error"] == "invalid_key"
    assert svc.db.scalar("SELECT COUNT(*) FROM api_calls WHERE status=403") == 3


def test_bad_calls_are_refused_with_a_json_reason_naming_the_field(svc):
    token = key(svc)
    url = svc.url + "/api/v1/messages"
    ok = {"to": "0912345678", "text": "hi"}
    cases = [
        (requests.post(url, data="not json", headers=auth(token, **{"Content-Type": "application/json"}), timeout=5),
         400, "malformed"),
        (requests.post(url, data="[1]", headers=auth(token, **{"Content-Type": "application/json"}), timeout=5),
         400, "malformed"),
        (requests.post(url, data="to=1", headers=auth(token), timeout=5), 415, "content_type"),
        (requests.post(url, json={**ok, "text": "x" * 20_000}, headers=auth(token), timeout=5), 413, "too_large"),
        (post(svc, token, {**ok, "colour": "red"}), 422, "unknown_field"),
        (post(svc, token, {"to": "12345", "text": "hi"}), 422, "invalid_phone"),
        (post(svc, token, {"to": 912345678, "text": "hi"}), 422, "invalid"),
        (post(svc, token, {"to": "0912345678"}), 422, "invalid"),
        (post(svc, token, {**ok, "template": "order-processing"}), 422, "invalid"),
        (post(svc, token, {**ok, "text": "x" * 2001}), 422, "invalid"),
        (post(svc, token, {"to": "0912345678", "template": "no-such-rule"}), 422, "unknown_template"),
        (post(svc, token, {"to": "0912345678", "template": "order-processing"}), 422, "template_failed"),
        (post(svc, token, {**ok, "channel": ["messenger"]}), 422, "unknown_channel"),
        (post(svc, token, {**ok, "channel": ["esms", "esms"]}), 422, "invalid"),
        (post(svc, token, {**ok, "unicode": "yes"}), 422, "invalid"),
        (post(svc, token, {**ok, "send_at": in_(-3600)}), 422, "send_at_past"),
        (post(svc, token, {**ok, "send_at": in_(31 * 86400)}), 422, "send_at_too_far"),
        (post(svc, token, {**ok, "send_at": "2030-01-01T09:00:00"}), 422, "invalid"),
        (post(svc, token, ok, idem="x" * 200), 400, "idempotency_key"),
        (get(svc, token, "/messages", limit="1000"), 422, "invalid"),
        (get(svc, token, "/messages", after="bm90LWEtY3Vyc29y"), 400, "bad_cursor"),
        (get(svc, token, "/messages", colour="red"), 400, "unknown_parameter"),
        (get(svc, token, "/messages/nope"), 404, "not_found"),
        (requests.put(url, headers=auth(token), timeout=5), 405, "method_not_allowed"),
        (requests.get(svc.url + "/api/v1/elsewhere", timeout=5), 404, "not_found"),
    ]
    for r, status, code in cases:
        assert r.headers["Content-Type"].startswith("application/json"), r.text
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
        assert isinstance(r.json()["reason"], str) and r.json()["reason"]
    assert svc.messages() == []
    assert post(svc, token, {"to": "0912345678", "template": "order-processing"}).json()["field"] == "variables"
    logged = [r["error"] for r in svc.db.query("SELECT error FROM api_calls ORDER BY id")]
    assert "send_at_past" in logged and "unknown_field" in logged


def test_concurrent_repeats_of_an_idempotency_key_make_one_message_and_one_sms(service_factory, svc, fake_esms):
    other = service_factory(db_path=svc.settings.db_path, **esms_settings(fake_esms))   # a second web process
    token = key(svc)
    body = {"to": "0912345678", "text": "Mã giảm giá của bạn: GIAM10"}
    start = threading.Barrier(24)

    def repeat(i: int) -> requests.Response:
        session = requests.Session()   # connected before the barrier: the 24 requests leave together
        session.get((svc, other)[i % 2].url + "/api/v1/openapi.json", timeout=10)
        start.wait()
        return session.post((svc, other)[i % 2].url + "/api/v1/messages", json=body, timeout=10,
                            headers=auth(token, **{"Idempotency-Key": "order-42-coupon"}))
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(repeat, range(24)))
    assert sorted(r.status_code for r in answers) == [200] * 23 + [201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(svc.messages()) == 1
    svc.bridge.worker.drain()
    again = post(svc, token, dict(reversed(list(body.items()))), idem="order-42-coupon")   # same meaning
    assert again.status_code == 200 and again.json()["id"] == answers[0].json()["id"]
    svc.bridge.worker.drain()
    assert len(fake_esms.accepted) == 1
    conflict = post(svc, token, {**body, "text": "another text"}, idem="order-42-coupon")
    assert conflict.status_code == 409 and conflict.json()["error"] == "idempotency_conflict"
    assert conflict.json()["message"] == answers[0].json()["id"]
    # another key's Idempotency-Key is its own
    assert post(svc, key(svc, name="crm"), body, idem="order-42-coupon").status_code == 201
    assert len(svc.messages()) == 2


def test_a_waiting_message_is_cancelled_and_never_sent_a_sent_one_is_not(svc, fake_esms):
    token = key(svc)
    later = post(svc, token, {"to": "0912345678", "text": "nhắc lịch hẹn", "send_at": in_(3600)}).json()
    assert later["status"] == "scheduled"
    now = post(svc, token, {"to": "0912345679", "text": "ngay"}).json()
    svc.bridge.worker.drain()
    r = requests.delete(f"{svc.url}/api/v1/messages/{later['id']}", headers=auth(token), timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    svc.clock.advance(7200)
    svc.bridge.worker.drain()
    assert [a["RequestId"] for a in fake_esms.accepted] == [now["id"]]
    r = requests.delete(f"{svc.url}/api/v1/messages/{now['id']}", headers=auth(token), timeout=5)
    assert r.status_code == 409 and r.json()["error"] == "not_waiting" and r.json()["status"] == "queued"
    r = requests.delete(f"{svc.url}/api/v1/messages/{later['id']}", headers=auth(token), timeout=5)
    assert r.status_code == 409   # cancelled is final
    # a message the API did not make (an order notice) is not the API's to read or cancel
    svc.post_delivery(ORDER)
    notice = svc.messages(rule="order-awaiting-transfer")[0]["id"]
    assert requests.delete(f"{svc.url}/api/v1/messages/{notice}", headers=auth(token), timeout=5).status_code == 404
    assert get(svc, token, f"/messages/{notice}").status_code == 404


def test_paging_sees_every_message_once_while_new_ones_arrive(svc):
    token = key(svc, rate=10_000)
    made = [post(svc, token, {"to": f"09123450{i:02d}", "text": f"tin {i}"}).json()["id"] for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page = get(svc, token, "/messages", limit=3, **({"after": cursor} if cursor else {})).json()
        seen += [m["id"] for m in page["messages"]]
        cursor = page["next"]
        pages += 1
        if pages <= 3:   # new messages while the client pages
            made.append(post(svc, token, {"to": "0912345699", "text": f"new {pages}"}).json()["id"])
        if not page["more"] and pages > 3:
            break
    assert len(seen) == len(set(seen)) and seen == made
    assert get(svc, token, "/messages", after=cursor).json()["messages"] == []
    only = get(svc, token, "/messages", phone="+84912345699").json()["messages"]
    assert [m["id"] for m in only] == made[7:]
    assert get(svc, token, "/messages", status="sent,delivered").json()["messages"] == []
    assert len(get(svc, token, "/messages", status="pending", since=in_(-600), until=in_(600)).json()["messages"]) == 10
    assert get(svc, token, "/messages", since=in_(600)).json()["messages"] == []


def test_the_rate_limit_holds_across_processes_and_answers_429_with_retry_after(service_factory, svc):
    other = service_factory(**{"db_path": svc.settings.db_path})   # another process on the same database
    token = key(svc, rate=3)
    assert get(svc, token, "/messages").status_code == 200
    assert get(other, token, "/messages").status_code == 200
    assert get(svc, token, "/messages").status_code == 200
    r = get(other, token, "/messages")
    assert r.status_code == 429 and r.json()["error"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    assert get(svc, token, "/messages").status_code == 429
    svc.clock.advance(20)    # a minute's 3 calls: one comes back every 20 s
    assert get(svc, token, "/messages").status_code == 200
    assert get(svc, token, "/messages").status_code == 429
    assert get(svc, key(svc, name="other key"), "/messages").status_code == 200   # each key its own bucket


def test_the_openapi_document_is_valid_and_drives_a_client_through_every_endpoint(svc, fake_esms):
    from openapi_core import OpenAPI
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
    from openapi_spec_validator import validate

    doc = requests.get(svc.url + "/api/v1/openapi.json", timeout=5).json()
    validate(doc)
    spec = OpenAPI.from_dict(doc)
    base = doc["servers"][0]["url"]
    assert urlsplit(base).netloc == urlsplit(svc.url).netloc
    token = key(svc)
    operations = {op["operationId"]: (path, method) for path, item in doc["paths"].items()
                  for method, op in item.items()}

    def call(operation: str, path_params: dict | None = None, expect: int = 200, valid: bool = True, **kw) -> dict:
        path, method = operations[operation]
        req = requests.Request(method.upper(), base + path.format(**(path_params or {})),
                               headers=auth(token, **kw.pop("headers", {})), **kw).prepare()
        if valid:   # a request the document allows (the refusals below are of requests it does not)
            spec.validate_request(RequestsOpenAPIRequest(req))
        resp = requests.Session().send(req, timeout=10)
        assert resp.status_code == expect, resp.text
        spec.validate_response(RequestsOpenAPIRequest(req), RequestsOpenAPIResponse(resp))
        return resp.json()

    body = {"to": "0912345678", "text": "hi", "channel": ["esms"], "send_at": in_(600)}
    made = call("createMessage", json=body, headers={"Idempotency-Key": "k1"}, expect=201)
    assert call("createMessage", json=body, headers={"Idempotency-Key": "k1"})["id"] == made["id"]
    call("createMessage", json={**body, "text": "other"}, headers={"Idempotency-Key": "k1"}, expect=409)
    assert call("getMessage", {"id": made["id"]})["status"] == "scheduled"
    assert call("listMessages", params={"limit": 10})["messages"][0]["id"] == made["id"]
    assert call("cancelMessage", {"id": made["id"]})["status"] == "cancelled"
    call("cancelMessage", {"id": made["id"]}, expect=409)
    call("getMessage", {"id": "0" * 32}, expect=404)
    call("createMessage", json={"to": "12", "text": "hi"}, expect=422)
    sent = call("createMessage", json={"to": {"order": "#1"}, "text": "hi"}, expect=422)
    assert sent["error"] == "unknown_order"
    # the error answers are the documented ones too
    assert call("createMessage", data="to=1", expect=415, valid=False)["error"] == "content_type"
    assert call("createMessage", json={**body, "text": "x" * 20_000}, expect=413, valid=False)["error"] == "too_large"
    token = key(svc, ("read",), rate=1)
    assert call("createMessage", json=body, expect=403)["error"] == "scope"
    assert call("listMessages", expect=429)["error"] == "rate_limited"
    token = "wb_live_00000000_" + "A" * 43
    assert call("listMessages", expect=401)["error"] == "invalid_key"
    token = ""
    assert call("listMessages", expect=401, valid=False)["error"] == "malformed_authorization"
    assert call("openapi")["openapi"].startswith("3.1")
    assert set(operations) == {"createMessage", "listMessages", "getMessage", "cancelMessage", "openapi"}


def test_a_kill_9_right_after_the_201_leaves_the_message_to_be_sent_once_after_restart(tmp_path, fake_esms):
    db_path = tmp_path / "bridge.db"
    db = Database(str(db_path))
    db.migrate()
    token = api_keys.create(db, "chatbot", ("send", "read"), None, time.time()).token
    db.close()
    env = {"BRIDGE_DB": str(db_path), "MAPPINGS_DIR": str(ROOT / "mappings"), "WOO_WEBHOOK_SECRET": SECRET,
           "ESMS_CALLBACK_TOKEN": "tok", "ESMS_API_KEY": fake_esms.api_key, "ESMS_SECRET_KEY": fake_esms.secret_key,
           "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_BASE_URL": fake_esms.base_url, "ESMS_TIMEOUT": "3",
           "WORKER_INTERVAL": "0.1", "OWNER_PHONES": "", "SHOP_NAME": "Shop Demo", **BANK_ENV}
    # the process answering is killed before anything sends (its scheduler never runs)
    svc = ServiceProcess({**env, "RUN_SCHEDULER": "0"}).start()
    try:
        r = requests.post(svc.url + "/api/v1/messages", json={"to": "0912345678", "text": "sau khi khởi động lại"},
                          headers=auth(token, **{"Idempotency-Key": "crash-1"}), timeout=5)
        assert r.status_code == 201
        svc.kill9()
    finally:
        svc.stop()
    mid = r.json()["id"]
    assert fake_esms.accepted == []
    again = ServiceProcess({**env, "RUN_SCHEDULER": "1"}, port=svc.port).start()
    try:
        wait_until(lambda: fake_esms.accepted_for(mid), timeout=30, what="the message sent after the restart")
        repeat = requests.post(again.url + "/api/v1/messages", json={"to": "0912345678", "text": "sau khi khởi động lại"},
                               headers=auth(token, **{"Idempotency-Key": "crash-1"}), timeout=5)
        assert repeat.status_code == 200 and repeat.json()["id"] == mid
        wait_until(lambda: requests.get(f"{again.url}/api/v1/messages/{mid}", headers=auth(token),
                                        timeout=5).json()["status"] == "queued", timeout=10, what="recorded as sent")
    finally:
        again.stop()
    assert len(fake_esms.accepted) == 1
    with sqlite3.connect(db_path) as c:
        assert c.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1


def test_the_call_log_is_bounded(service_factory, fake_esms):
    svc = service_factory(api_call_log_rows=5, **esms_settings(fake_esms))
    token = key(svc)
    for _ in range(9):
        assert get(svc, token, "/messages").status_code == 200
    assert svc.db.scalar("SELECT COUNT(*) FROM api_calls") == 5
    assert svc.db.scalar("SELECT calls FROM api_keys") == 9


def test_the_key_is_stored_hashed_and_found_by_its_public_part(svc):
    created = api_keys.create(svc.db, "crm", ("read",), None, svc.clock())
    assert created.token.startswith(f"wb_live_{created.key.public_id}_")
    dump = json.dumps([dict(r) for r in svc.db.query("SELECT * FROM api_keys")])
    secret = created.token[len(f"wb_live_{created.key.public_id}_"):]   # the secret may itself hold "_"
    assert len(secret) == 43 and created.token not in dump and secret not in dump
    assert api_keys.verify(svc.db, created.token) == created.key
    assert api_keys.verify(svc.db, created.token + "x") is None


def at_vn(days: int, hour: int) -> str:
    """`days` from today at `hour`:00 in Vietnam, as the API takes it."""
    vn = timezone(timedelta(hours=7))
    day = datetime.now(vn).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=vn).isoformat()


def test_a_send_only_key_cannot_read_an_order_through_the_api(svc, fake_esms):
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    send_only, reader = key(svc, ("send",)), key(svc, ("send", "read"), name="crm")
    r = post(svc, send_only, {"to": "#20", "template": "owner-new-order", "send_at": in_(86400)})
    assert (r.status_code, r.json()["error"]) == (422, "not_customer_template"), r.text
    r = post(svc, send_only, {"to": "#20", "template": "order-processing", "send_at": in_(86400)})
    assert r.status_code == 201, r.text
    stored = svc.messages(id=r.json()["id"])[0]
    assert "#20" in stored["text"] and stored["recipient"] == "+84912345678"   # written for the order
    gone = requests.delete(f"{svc.url}/api/v1/messages/{r.json()['id']}", headers=auth(send_only), timeout=5)
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
    for answer in (r, gone):
        m = answer.json()
        assert m["text"] is None and m["to"] is None and m["order"] == "20"
        assert stored["text"] not in answer.text and "912345678" not in answer.text
    # a key that may read sees what it sent
    m = post(svc, reader, {"to": "#20", "template": "order-processing", "send_at": in_(86400)}).json()
    assert m["text"] == stored["text"] and m["to"] == "+84912345678"
    # whether an order has a phone is not told to a key without read: one answer for both cases
    with svc.db.tx() as c:   # the shop removed the order's phone
        c.execute("UPDATE orders SET phone_e164=NULL, phone_raw='' WHERE number='20'")
    unknown = post(svc, send_only, {"to": "#999999", "text": "x"}).json()
    no_phone = post(svc, send_only, {"to": "#20", "text": "x"}).json()
    assert unknown["error"] == no_phone["error"] == "unknown_order"
    assert unknown["reason"].replace("999999", "20") == no_phone["reason"]
    assert post(svc, reader, {"to": "#20", "text": "x"}).json()["error"] == "order_without_phone"
    assert post(svc, reader, {"to": "#999999", "text": "x"}).json()["error"] == "unknown_order"


def test_a_template_is_sent_as_its_rule_sends_it(svc, fake_esms):
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    token = key(svc)
    r = post(svc, token, {"to": "#20", "template": "cod-confirm"})   # enabled: false in the shipped rules
    assert (r.status_code, r.json()["error"]) == (422, "template_disabled"), r.text
    # payment-expired: urgent: false (quiet hours apply), unicode: false
    late = at_vn(1, 23)
    m = post(svc, token, {"to": "#20", "template": "payment-expired", "variables": {"expire_hours": 24},
                          "send_at": late}).json()
    assert m["status"] == "scheduled" and m["encoding"] == "GSM-7", m
    assert m["send_at"] == datetime.fromisoformat(at_vn(2, 7)).astimezone(timezone.utc).isoformat()
    urgent = post(svc, token, {"to": "#20", "template": "order-processing", "send_at": late}).json()
    assert urgent["send_at"] == datetime.fromisoformat(late).astimezone(timezone.utc).isoformat()
    forced = post(svc, token, {"to": "#20", "template": "order-processing", "unicode": True}).json()
    assert forced["encoding"] == "UCS-2"
    now = post(svc, token, {"to": "0912345678", "text": "ngay bây giờ"}).json()
    assert now["send_at"] is None and now["created_at"]


ZALO_RULES = """
rules:
  - name: order-zns
    event: order.status
    status: [processing]
    to: customer
    channel: [zalo, esms]
    unicode: false
    fallback_after: 900
    zns:
      template_id: "2056446"
      data:
        order_code: "{{ order_number }}"
        amount: "{{ total }}"
        customer_name: "{{ customer_name }}"
    template: >-
      Shop Demo: don #{{ order_number }} dang xu ly.
  - name: plain
    event: order.status
    status: [completed]
    to: customer
    channel: esms
    template: >-
      Shop Demo: don #{{ order_number }} da giao.
"""


def test_zalo_takes_only_a_template_with_its_zns_entry_and_it_goes_out_as_the_rules_send_it(
        service_factory, tmp_path, fake_esms):
    d = tmp_path / "mappings"
    d.mkdir()
    (d / "rules.yaml").write_text(ZALO_RULES, encoding="utf-8")
    svc = service_factory(mappings_dir=str(d), owner_phones=(), zalo_oaid=fake_esms.oaid, **esms_settings(fake_esms))
    token = key(svc)
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    before = len(fake_esms.accepted)
    for body, why in (({"text": "hi", "channel": "zalo"}, "not free text"),
                      ({"text": "hi", "channel": ["esms", "zalo-sms"]}, "not free text"),
                      ({"template": "plain", "channel": ["zalo", "esms"]}, "'plain' has no 'zns' entry")):
        r = post(svc, token, {"to": "#20", **body})
        assert (r.status_code, r.json()["error"], r.json()["field"]) == (422, "needs_template", "channel"), r.text
        assert why in r.json()["reason"]
    r = post(svc, token, {"to": "#20", "template": "order-zns", "channel": ["zalo", "esms"]})
    assert r.status_code == 201, r.text
    row = svc.messages(id=r.json()["id"])[0]
    assert row["fallback_after"] == 900
    svc.bridge.worker.drain()
    (zns,) = fake_esms.accepted[before:]
    assert zns["kind"] == "zns" and zns["TempID"] == "2056446" and zns["RequestId"] == r.json()["id"]
    assert {x["key"]: x["value"] for x in zns["TempData"]}["order_code"] == "20"


def test_a_claimed_message_is_not_cancelled_even_when_its_lease_ran_out(svc):
    from bridge import outbox
    token = key(svc)
    m = post(svc, token, {"to": "0912345678", "text": "đang gửi"}).json()
    (claimed,) = outbox.claim(svc.db, 10, 120.0)   # a worker took it and is calling the provider
    assert claimed["id"] == m["id"]
    r = requests.delete(f"{svc.url}/api/v1/messages/{m['id']}", headers=auth(token), timeout=5)
    assert (r.status_code, r.json()["error"], r.json()["status"]) == (409, "being_sent", "pending"), r.text
    other = post(svc, token, {"to": "0912345679", "text": "người gửi chết giữa chừng"}).json()
    (claimed,) = outbox.claim(svc.db, 10, 0.05)    # ... and died during the call: its lease runs out
    assert claimed["id"] == other["id"]
    wait_until(lambda: svc.db.scalar("SELECT lease_until FROM messages WHERE id=?", (other["id"],)) < time.time(),
               what="the lease run out")
    r = requests.delete(f"{svc.url}/api/v1/messages/{other['id']}", headers=auth(token), timeout=5)
    assert (r.status_code, r.json()["error"]) == (409, "maybe_sent"), r.text
    assert "may have gone out" in r.json()["reason"]
    # the admin's cancel (the same outbox.cancel) refuses it too
    with pytest.raises(outbox.Refused, match="maybe_sent"):
        outbox.cancel(svc.db, other["id"], who="admin")
    assert svc.messages(id=other["id"])[0]["status"] == "pending"


def test_a_key_cancels_only_its_own_messages(svc):
    mine, theirs = key(svc, name="chatbot"), key(svc, name="crm")
    m = post(svc, theirs, {"to": "0912345678", "text": "nhắc lịch", "send_at": in_(3600)}).json()
    r = requests.delete(f"{svc.url}/api/v1/messages/{m['id']}", headers=auth(mine), timeout=5)
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    assert svc.messages(id=m["id"])[0]["status"] == "scheduled"
    r = requests.delete(f"{svc.url}/api/v1/messages/{m['id']}", headers=auth(theirs), timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_a_chunked_body_over_the_limit_is_413_and_a_small_one_is_read(svc):
    token = key(svc)
    headers = auth(token, **{"Content-Type": "application/json"})

    def chunks(body: bytes, size: int = 1024):
        for i in range(0, len(body), size):
            yield body[i:i + size]
    big = json.dumps({"to": "0912345678", "text": "x" * 20_000}).encode()
    r = requests.post(svc.url + "/api/v1/messages", data=chunks(big), headers=headers, timeout=10)
    assert "Content-Length" not in r.request.headers and r.request.headers["Transfer-Encoding"] == "chunked"
    assert (r.status_code, r.json()["error"]) == (413, "too_large"), r.text
    small = json.dumps({"to": "0912345678", "text": "từng khúc"}).encode()
    r = requests.post(svc.url + "/api/v1/messages", data=chunks(small, 7), headers=headers, timeout=10)
    assert r.status_code == 201 and svc.messages(id=r.json()["id"])[0]["text"] == "từng khúc"
    assert svc.db.scalar("SELECT COUNT(*) FROM api_calls WHERE status=413") == 1


def test_calls_with_a_key_that_match_no_route_are_recorded_and_rate_limited(svc):
    token = key(svc, rate=3)
    url = svc.url + "/api/v1"
    assert requests.put(url + "/messages", headers=auth(token), timeout=5).status_code == 405
    assert requests.get(url + "/elsewhere", headers=auth(token), timeout=5).status_code == 404
    assert requests.get(url + "/elsewhere", headers=auth(token), timeout=5).status_code == 404
    r = requests.get(url + "/elsewhere", headers=auth(token), timeout=5)
    assert (r.status_code, r.json()["error"]) == (429, "rate_limited") and int(r.headers["Retry-After"]) >= 1
    logged = [(c["method"], c["path"], c["status"], c["error"])
              for c in svc.db.query("SELECT * FROM api_calls ORDER BY id")]
    assert logged == [("PUT", "/api/v1/messages", 405, "method_not_allowed"),
                      ("GET", "/api/v1/elsewhere", 404, "not_found"), ("GET", "/api/v1/elsewhere", 404, "not_found"),
                      ("GET", "/api/v1/elsewhere", 429, "rate_limited")]
    assert get(svc, token, "/messages").status_code == 429   # the same bucket as every other call


def test_a_key_sent_in_another_header_is_refused_and_never_kept_in_clear(svc):
    from bridge import logs
    token = key(svc)
    for name in ("X-API-Key", "Api-Key", "X-Auth-Token"):
        r = requests.post(svc.url + "/api/v1/messages", json={"to": "0912345678", "text": "hi"},
                          headers={name: token}, timeout=5)
        assert (r.status_code, r.json()["error"]) == (401, "missing_key") and name.lower() in r.json()["reason"].lower()
        assert token not in r.text
    r = requests.post(svc.url + "/api/v1/messages", json={"to": "0912345678", "text": "hi"},
                      headers={"X-Forwarded-Note": f"key={token}"}, timeout=5)
    assert r.status_code == 401
    kept = svc.db.query("SELECT headers FROM rejections")
    assert len(kept) == 4
    secret = token.split("_", 3)[3]
    assert all(secret not in row["headers"] and "[redacted]" in row["headers"] for row in kept)
    named = [{k.lower(): v for k, v in json.loads(row["headers"]).items()} for row in kept]
    assert [h[n.lower()] for h in named for n in ("X-API-Key", "Api-Key", "X-Auth-Token") if n.lower() in h] \
        == ["[redacted]"] * 3
    for line in (f"X-API-Key: {token}", f"x-auth-token: {token}", f"calling with {token} now",
                 f"Api-Key: {token}\nUser-Agent: curl"):
        assert secret not in logs.redact(line), line
    assert logs.redact("User-Agent: curl/8.5") == "User-Agent: curl/8.5"


def test_retention_prunes_the_api_record_with_its_message_and_the_idempotency_key_is_then_free(svc):
    from bridge import retention
    token = key(svc)
    body = {"to": "0912345678", "text": "khuyến mãi", "send_at": in_(3600)}
    old = post(svc, token, body, idem="promo-1").json()
    kept = post(svc, token, {**body, "text": "giữ lại"}, idem="promo-2").json()   # not final: never pruned
    requests.delete(f"{svc.url}/api/v1/messages/{old['id']}", headers=auth(token), timeout=5)
    svc.clock.advance((svc.settings.retain_messages_days + 1) * 86400)
    done = retention.run(svc.bridge)
    assert done["messages"] == 1
    assert [r["message_id"] for r in svc.db.query("SELECT message_id FROM api_messages")] == [kept["id"]]
    assert get(svc, token, f"/messages/{old['id']}").status_code == 404
    assert [m["id"] for m in get(svc, token, "/messages").json()["messages"]] == [kept["id"]]
    body["send_at"] = datetime.fromtimestamp(svc.clock() + 3600, timezone.utc).isoformat()
    again = post(svc, token, body, idem="promo-1")
    assert again.status_code == 201 and again.json()["id"] != old["id"]
