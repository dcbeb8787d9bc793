"""Random input at every endpoint: never a 5xx, never a crash; accepted rows only when signed."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from tests.conftest import HEALTH_TOKEN, make_settings, signed_headers
from tests.fakes.graph import sign as meta_sign

APP_SECRET = "fuzz-app-secret"

header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
headers = st.dictionaries(st.sampled_from(["Content-Type", "X-WC-Webhook-Topic", "X-WC-Webhook-Signature",
                                           "X-WC-Webhook-Delivery-ID", "X-Signature", "X-Timestamp",
                                           "X-WC-Webhook-Source"]), header_values, max_size=5)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)
bodies = st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(make_settings(tmp_path_factory.mktemp("fuzz"), messenger_app_secret=APP_SECRET,
                                   messenger_verify_token="verify", messenger_page_token="page-token",
                                   messenger_page="shop"), start_scheduler=False)
    yield app.test_client()
    app.extensions["bridge"].shutdown()


@given(body=bodies, hdrs=headers)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_woocommerce_webhook_never_fails_with_5xx(client, body, hdrs):
    r = client.post("/webhooks/woocommerce", data=body, headers=hdrs)
    assert r.status_code < 500 and r.is_json


@given(body=json_values, topic=st.sampled_from(["order.created", "order.updated", "order.deleted", "order.restored",
                                                "customer.created", "customer.updated", "product.created"]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_signed_garbage_is_kept_and_answered_without_5xx(client, body, topic):
    raw = json.dumps(body).encode()
    r = client.post("/webhooks/woocommerce", data=raw, headers=signed_headers(raw, topic))
    assert r.status_code in (200, 400), r.get_json()


@given(body=bodies, hdrs=headers)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_smsgate_webhook_never_fails_with_5xx(client, body, hdrs):
    r = client.post("/inbound/smsgate", data=body, headers=hdrs)
    assert r.status_code in (400, 401, 413) and r.is_json


@given(params=st.dictionaries(st.sampled_from(["token", "message", "phone", "guid", "SMSID", "SendStatus",
                                               "SendSuccess", "SendFailed", "RequestId"]),
                              st.text(max_size=30), max_size=6),
       with_token=st.booleans())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_query_endpoints_never_fail_with_5xx(client, params, with_token):
    for path, token in (("/inbound/fibo", "test-fibo-token"), ("/callbacks/esms", "test-esms-callback-token")):
        r = client.get(path, query_string={**params, "token": token} if with_token else params)
        assert r.status_code < 500, (path, params, r.data)


@given(body=st.one_of(bodies, json_values.map(lambda v: json.dumps({"object": "page", "entry": v}).encode())),
       signed=st.booleans())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_messenger_webhook_never_fails_with_5xx(client, body, signed):
    headers = {"X-Hub-Signature-256": meta_sign(body, APP_SECRET)} if signed else {}
    r = client.post("/webhooks/messenger", data=body, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code in ((200, 400) if signed else (401,)) and r.is_json, r.data


@given(params=st.dictionaries(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge"]),
                              st.text(max_size=30), max_size=3))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_messenger_verification_never_fails_with_5xx(client, params):
    r = client.get("/webhooks/messenger", query_string=params)
    assert r.status_code in (200, 403)


@given(body=st.one_of(bodies, json_values.map(lambda v: json.dumps(v).encode())), auth=st.booleans())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_notification_endpoint_never_fails_with_5xx(client, body, auth):
    headers = {"Authorization": "Bearer test-notify-token"} if auth else {}
    r = client.post("/inbound/notification", data=body, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code in ((200, 400) if auth else (401,)) and r.is_json, r.data


@given(key=st.text(max_size=40), tail=st.sampled_from(["", "/status", "/qr.png"]))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_pay_pages_never_fail_with_5xx(client, key, tail):
    r = client.get("/pay/" + key.replace("/", "_").replace("?", "_").replace("#", "_") + tail)
    assert r.status_code in (200, 404, 405, 308)


def test_after_all_that_metrics_and_health_still_answer_and_nothing_unsigned_was_kept(client):
    assert client.get("/metrics").status_code == 200
    health = client.get("/healthz?details=1", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"})
    assert health.status_code == 200 and health.get_json()["database"]["ok"]
    db = client.application.extensions["bridge"].db
    # only signed deliveries (and pings) were stored: the rest are rejections, kept apart
    assert db.scalar("SELECT COUNT(*) FROM deliveries d LEFT JOIN delivery_bodies k ON k.id = d.id"
                     " WHERE topic NOT IN ('ping') AND COALESCE(k.headers, d.headers) NOT LIKE"
                     " '%X-Wc-Webhook-Signature%' AND COALESCE(k.headers, d.headers) NOT LIKE"
                     " '%X-WC-Webhook-Signature%'") == 0
    assert db.scalar("SELECT COUNT(*) FROM rejections") > 0
