"""A webhook is answered in front of Flask's dispatch (bridge/web/webhooks.py, WebhookGate), to
keep the acknowledgement short. The providers see no difference: every request here, good or bad,
gets the same status, headers, body and recorded refusal (with the caller's address, behind a
proxy too) through the gate as through the app's own route for the same path, on two services
given the same requests in the same order. Failures no provider input reaches today (input
Python cannot hold, a bug, storage down) are raised by hooks of this test's own, through both."""
from __future__ import annotations

import sqlite3

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Response

from app import create_app
from bridge.providers.base import Webhook
from bridge.web.webhooks import WebhookGate, make_view
from tests.conftest import load_delivery, make_settings, signed_headers

DEEP = b"[" * 100_000 + b"]" * 100_000
ORDER = "001-order.updated-o20-checkout-bacs-on-hold"
CALLER = "203.0.113.9"   # the address a proxy in front names in X-Forwarded-For


class Raising(Webhook):
    """A webhook whose reading raises what no provider lets through today."""
    def __init__(self, rule: str, exc: Exception):
        self.rule, self.exc = rule, exc

    def validate(self, req, settings) -> None:
        return None

    def parse(self, req, settings):
        raise self.exc


RAISING = [Raising("/_test/deep", RecursionError("maximum recursion depth exceeded while decoding")),
           Raising("/_test/bug", RuntimeError("a bug with a secret in it")),
           Raising("/_test/disk", sqlite3.OperationalError("disk I/O error"))]


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
        ("broken after WooCommerce's leading id", dict(method="POST", path="/webhooks/woocommerce",
                                                       data=b'{"id":20,"status":',
                                                       headers=signed_headers(b'{"id":20,"status":', "order.updated"))),
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
        ("input Python cannot hold", dict(method="POST", path="/_test/deep", data=b"[[[")),
        ("a bug", dict(method="POST", path="/_test/bug", data=b"{}", headers={"X-Request-ID": "bug-1"})),
        ("storage failing", dict(method="POST", path="/_test/disk", data=b"{}")),
    ]


EXPECTED = {
    "an order": 200, "the same order again": 200, "a wrong signature": 401, "the creation ping": 200,
    "broken JSON": 400, "broken after WooCommerce's leading id": 200, "JSON nested past the recursion limit": 400, "a body over 1 MiB with its length": 413,
    "a body over 1 MiB without its length (chunked)": 413, "a caller's request id": 401,
    "a query secret that is wrong": 403, "Messenger's verification": 200, "an unsigned Messenger event": 401,
    "a carrier without its secret": 401, "input Python cannot hold": 400, "a bug": 500, "storage failing": 503}


def _gate(app) -> tuple[object, WebhookGate]:
    """(what holds the gate, the gate): the app itself, or the ProxyFix in front of it."""
    holder = app.wsgi_app if isinstance(app.wsgi_app, ProxyFix) else app
    gate = holder.app if isinstance(holder, ProxyFix) else holder.wsgi_app
    assert isinstance(gate, WebhookGate), "the webhooks are not answered by the gate"
    return holder, gate


def _serve(tmp_path, name: str, through_gate: bool, proxy_count: int):
    (tmp_path / name).mkdir()
    app = create_app(make_settings(tmp_path / name, messenger_verify_token="verify", messenger_app_secret="app-s",
                                   messenger_page_token="page-token", messenger_page="shop", proxy_count=proxy_count),
                     start_scheduler=False)
    holder, gate = _gate(app)
    for hook in RAISING:
        app.add_url_rule(hook.rule, endpoint=hook.rule, view_func=make_view(hook), methods=["POST"])
        gate.routes[hook.rule] = {"POST": hook}
    if not through_gate:   # the app's own route, through Flask's dispatch
        if isinstance(holder, ProxyFix):
            holder.app = gate.inner
        else:
            app.wsgi_app = gate.inner
    return app


def _call(app, request: dict) -> Response:
    """The request as a WSGI server hands it over; a chunked body comes without CONTENT_LENGTH."""
    request = dict(request)
    chunked = request.pop("chunked", False)
    request["headers"] = {**request.get("headers", {}), "X-Forwarded-For": CALLER}
    environ = {**EnvironBuilder(**request).get_environ(), "REMOTE_ADDR": "127.0.0.1"}   # nginx, or the caller
    if chunked:
        del environ["CONTENT_LENGTH"]
        environ["wsgi.input_terminated"] = True   # what gunicorn and waitress say of a chunked body
    body, status, headers = run_wsgi_app(app, environ, buffered=True)
    return Response(body, status, headers)


def _seen(response) -> dict:
    rid = response.headers.get("X-Request-ID", "")
    return {"status": response.status_code,
            "headers": sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID"),
            "body": response.get_json() if response.is_json else response.get_data(),
            "request id": rid if rid in ("proxy-abc.123", "bug-1") else len(rid)}


@pytest.fixture(params=[0, 1], ids=["direct", "behind a proxy"])
def pair(tmp_path, request):
    apps = _serve(tmp_path, "gate", True, request.param), _serve(tmp_path, "route", False, request.param)
    yield apps, request.param
    for app in apps:
        app.extensions["bridge"].shutdown()


def test_every_webhook_answer_is_the_same_through_the_gate_and_through_the_route(pair):
    (gate, route), proxies = pair
    statuses = {}
    for what, request in _requests():
        through_gate, through_route = _seen(_call(gate, request)), _seen(_call(route, request))
        assert through_gate == through_route, what
        assert through_gate["request id"] in ("proxy-abc.123", "bug-1", 16), what
        statuses[what] = through_gate["status"]
    assert statuses == EXPECTED
    bug = _seen(_call(gate, dict(_requests())["a bug"]))
    assert "bug-1" in bug["body"]["error"] and "secret" not in bug["body"]["error"]   # the id to look up, not the bug
    kept = "SELECT endpoint, http_status, reason, remote_addr, headers, body_excerpt FROM rejections ORDER BY id"
    gate_rows, route_rows = ([tuple(r) for r in app.extensions["bridge"].db.query(kept)] for app in (gate, route))
    assert gate_rows == route_rows
    assert {r[1] for r in gate_rows} >= {400, 401, 403, 413}
    assert {r[3] for r in gate_rows} == {CALLER if proxies else "127.0.0.1"}   # whom an admin sees refused
    stored = "SELECT resource_id, topic, state FROM deliveries ORDER BY id"
    assert [tuple(r) for r in gate.extensions["bridge"].db.query(stored)] == \
        [tuple(r) for r in route.extensions["bridge"].db.query(stored)]


def test_storage_failing_is_503_through_the_gate_as_through_the_route(pair):
    """The delivery cannot be stored, then not even the refusal: 503 both times, never a page."""
    (gate, route), _ = pair
    headers, body = load_delivery(ORDER)
    bad = {**headers, "X-WC-Webhook-Signature": "AAAA" + headers["X-WC-Webhook-Signature"][4:]}
    seen = []
    for app in (gate, route):
        db = app.extensions["bridge"].db
        db.conn().execute("ALTER TABLE deliveries RENAME TO deliveries_gone")
        order = _seen(_call(app, dict(method="POST", path="/webhooks/woocommerce", data=body, headers=headers)))
        db.conn().execute("ALTER TABLE rejections RENAME TO rejections_gone")
        refusal = _seen(_call(app, dict(method="POST", path="/webhooks/woocommerce", data=body, headers=bad)))
        seen.append((order, refusal))
    assert seen[0] == seen[1]
    for answer in seen[0]:
        assert answer["status"] == 503 and ("Retry-After", "60") in answer["headers"]
        assert "nothing was accepted" in answer["body"]["error"]


def test_other_methods_and_paths_still_reach_the_app(pair):
    (gate, _), _ = pair
    client = gate.test_client()
    r = client.get("/webhooks/woocommerce")
    assert r.status_code == 405 and r.get_json()["error"] == "GET is not allowed on /webhooks/woocommerce"
    assert client.head("/webhooks/messenger").status_code == 403   # HEAD is a GET to Flask: the wrong-token answer
    assert client.get("/healthz").get_json()["ok"] is True


class _BreaksAfter:
    """A chunked body whose encoding breaks after `n` bytes (gunicorn raises an IOError then)."""
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def read(self, size: int = -1) -> bytes:
        if self.at >= len(self.data):
            raise OSError("Invalid chunk size")
        size = len(self.data) - self.at if size is None or size < 0 else size
        chunk = self.data[self.at:self.at + size]
        self.at += len(chunk)
        return chunk

    def readinto(self, buf) -> int:
        chunk = self.read(len(buf))
        buf[:len(chunk)] = chunk
        return len(chunk)


def test_a_chunked_body_that_breaks_past_the_limit_is_413_not_a_500(pair):
    (gate, route), _ = pair
    body = b"x" * (1024 * 1024)
    answers = []
    for app in (gate, route):
        environ = {**EnvironBuilder(method="POST", path="/webhooks/woocommerce", data=b"",
                                    headers=signed_headers(body, "order.updated")).get_environ(),
                   "REMOTE_ADDR": "127.0.0.1", "wsgi.input": _BreaksAfter(body), "wsgi.input_terminated": True}
        environ.pop("CONTENT_LENGTH", None)
        out, status, headers = run_wsgi_app(app, environ, buffered=True)
        answers.append(_seen(Response(out, status, headers)))
    assert answers[0] == answers[1]
    assert answers[0]["status"] == 413 and "1 MiB" in answers[0]["body"]["error"]


def test_the_gate_reads_the_headers_as_werkzeug_lists_them():
    """The gate walks the environ once for the headers (headers_of); what it hands the provider
    must be what werkzeug's view lists: names spelt alike, Content-Type and Content-Length from
    the CGI keys (not a header smuggled as HTTP_CONTENT_TYPE), empty content keys left out."""
    from werkzeug.datastructures import EnvironHeaders
    from bridge.web.webhooks import headers_of
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "",
               "HTTP_CONTENT_TYPE": "text/evil", "HTTP_X_WC_WEBHOOK_DELIVERY_ID": "abc", "HTTP_HOST": "shop",
               "HTTP_X_WC_WEBHOOK_SIGNATURE": "c2ln", "HTTP_ACCEPT_ENCODING": "", "wsgi.input": None}
    for k in range(300):   # more names than the gate remembers spellings of
        environ[f"HTTP_X_ODD_{k}"] = str(k)
    ours = headers_of(environ)
    assert list(ours.items()) == list(EnvironHeaders(environ).items())
    assert ours["content-type"] == "application/json" and ours.get("X-WC-Webhook-Delivery-ID") == "abc"
    assert "Content-Length" not in ours and ours["X-Odd-299"] == "299"
