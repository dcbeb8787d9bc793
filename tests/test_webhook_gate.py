"""A webhook is answered in front of Flask's dispatch (bridge/web/webhooks.py, WebhookGate), to
keep the acknowledgement short. The providers see no difference: every request here, good or bad,
gets the same answer, headers and recorded refusals through the gate as through the app's own
route for the same path, on two services given the same requests in the same order."""
from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Response

from app import create_app
from bridge.web.webhooks import WebhookGate
from tests.conftest import load_delivery, make_settings, signed_headers

DEEP = b"[" * 100_000 + b"]" * 100_000
ORDER = "001-order.updated-o20-checkout-bacs-on-hold"


def _requests():
    headers, body = load_delivery(ORDER)
    bad = {**headers, "X-WC-Webhook-Signature": "AAAA" + headers["X-WC-Webhook-Signature"][4:]}
    ping_headers, ping = load_delivery("000-ping-unsigned-form")
    big = b'{"id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    return [
        ("an order", dict(method="POST", path="/webhooks/woocommerce", data=body, headers=headers)),
        ("the same order again", dict(method="POST", path="/webhooks/woocommerce", data=body, headers=headers)),
        ("a wrong signature", dict(method="POST", path="/webhooks/woocommerce", data=body, headers=bad)),
        ("the creation ping", dict(method="POST", path="/webhooks/woocommerce", data=ping, headers=ping_headers)),
        ("broken JSON", dict(method="POST", path="/webhooks/woocommerce", data=b'{"id": 20,',
                             headers=signed_headers(b'{"id": 20,', "order.updated"))),
        ("JSON nested past the recursion limit", dict(method="POST", path="/webhooks/woocommerce", data=DEEP,
                                                      headers=signed_headers(DEEP, "order.updated"))),
        ("a body over 1 MiB with its length", dict(method="POST", path="/webhooks/woocommerce", data=big,
                                                   headers=signed_headers(big, "order.updated"))),
        ("a body over 1 MiB without its length (chunked)",
         dict(method="POST", path="/webhooks/woocommerce", data=big, headers=signed_headers(big, "order.updated"),
              chunked=True)),
        ("a caller's request id", dict(method="POST", path="/webhooks/woocommerce", data=b"{}",
                                       headers={"X-WC-Webhook-Topic": "order.created", "X-Request-ID": "proxy-abc.123"})),
        ("a query secret that is wrong", dict(method="GET", path="/inbound/fibo",
                                              query_string={"token": "wrong", "message": "x", "phone": "0901234567"})),
        ("Messenger's verification", dict(method="GET", path="/webhooks/messenger",
                                          query_string={"hub.mode": "subscribe", "hub.verify_token": "verify",
                                                        "hub.challenge": "4711"})),
        ("an unsigned Messenger event", dict(method="POST", path="/webhooks/messenger", data=b"{}",
                                             headers={"Content-Type": "application/json"})),
        ("a carrier without its secret", dict(method="POST", path="/inbound/ghn", json={"OrderCode": "X"})),
    ]


def _serve(tmp_path, name, gate: bool):
    app = create_app(make_settings(tmp_path / name, messenger_verify_token="verify", messenger_app_secret="app-s",
                                   messenger_page_token="page-token", messenger_page="shop"), start_scheduler=False)
    assert isinstance(app.wsgi_app, WebhookGate), "the webhooks are not answered by the gate"
    if not gate:
        app.wsgi_app = app.wsgi_app.inner   # the app's own route, through Flask's dispatch
    return app


def _seen(response) -> dict:
    rid = response.headers.get("X-Request-ID", "")
    return {"status": response.status_code, "type": response.headers.get("Content-Type"),
            "body": response.get_json() if response.is_json else response.get_data(),
            "retry-after": response.headers.get("Retry-After"),
            "request id": rid if rid == "proxy-abc.123" else len(rid)}


@pytest.fixture
def pair(tmp_path):
    for name in ("gate", "route"):
        (tmp_path / name).mkdir()
    apps = _serve(tmp_path, "gate", True), _serve(tmp_path, "route", False)
    yield apps
    for app in apps:
        app.extensions["bridge"].shutdown()


def _call(app, request: dict) -> Response:
    """The request as a WSGI server hands it over; a chunked body comes without CONTENT_LENGTH."""
    request = dict(request)
    chunked = request.pop("chunked", False)
    environ = EnvironBuilder(**request).get_environ()
    if chunked:
        del environ["CONTENT_LENGTH"]
        environ["wsgi.input_terminated"] = True   # what gunicorn and waitress say of a chunked body
    body, status, headers = run_wsgi_app(app, environ, buffered=True)
    return Response(body, status, headers)


def test_every_webhook_answer_is_the_same_through_the_gate_and_through_the_route(pair):
    statuses = {}
    for what, request in _requests():
        through_gate, through_route = (_seen(_call(app, request)) for app in pair)
        assert through_gate == through_route, what
        assert through_gate["request id"] in ("proxy-abc.123", 16), what
        statuses[what] = through_gate["status"]
    assert statuses == {
        "an order": 200, "the same order again": 200, "a wrong signature": 401, "the creation ping": 200,
        "broken JSON": 400, "JSON nested past the recursion limit": 400, "a body over 1 MiB with its length": 413,
        "a body over 1 MiB without its length (chunked)": 413, "a caller's request id": 401,
        "a query secret that is wrong": 403, "Messenger's verification": 200, "an unsigned Messenger event": 401,
        "a carrier without its secret": 401}
    gate_db, route_db = (app.extensions["bridge"].db for app in pair)
    kept = "SELECT endpoint, http_status, reason, body_excerpt FROM rejections ORDER BY id"
    assert [tuple(r) for r in gate_db.query(kept)] == [tuple(r) for r in route_db.query(kept)]
    assert {r["http_status"] for r in gate_db.query(kept)} >= {400, 401, 403, 413}
    stored = "SELECT resource_id, topic, state FROM deliveries ORDER BY id"
    assert [tuple(r) for r in gate_db.query(stored)] == [tuple(r) for r in route_db.query(stored)]


def test_storage_failing_is_503_through_the_gate_as_through_the_route(pair):
    headers, body = load_delivery(ORDER)
    seen = []
    for app in pair:
        app.extensions["bridge"].db.conn().execute("ALTER TABLE deliveries RENAME TO deliveries_gone")
        seen.append(_seen(app.test_client().post("/webhooks/woocommerce", data=body, headers=headers)))
    assert seen[0] == seen[1]
    assert seen[0]["status"] == 503 and seen[0]["retry-after"] == "60" and "nothing was accepted" in seen[0]["body"]["error"]


def test_other_methods_and_paths_still_reach_the_app(pair):
    client = pair[0].test_client()
    r = client.get("/webhooks/woocommerce")
    assert r.status_code == 405 and r.get_json()["error"] == "GET is not allowed on /webhooks/woocommerce"
    assert client.head("/webhooks/messenger").status_code == 403   # HEAD is a GET to Flask: the wrong-token answer
    assert client.get("/healthz").get_json()["ok"] is True

