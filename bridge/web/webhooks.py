"""The one view every provider webhook goes through: bounded body, validate, parse, hand the
normalized events to the core, answer in the provider's format, and record every refusal (bounded)
where the admin sees it. A provider declares its webhooks (providers/<name>/__init__.py) and writes
neither Flask code nor SQL.

A webhook's request reaches that view by two doors with the same answers. `WebhookGate`, in front
of the Flask app, hands a request whose path and method are a webhook's straight to `handle`:
Flask's request dispatch (its request context, URL matching, session and hooks) cost about 0.3 ms
of a 1.2 ms acknowledgement here, about a quarter of the web process's work per webhook, and a
webhook uses none of it. The same view is also registered on the app as a route, so the URL map
knows the webhooks (405 for another method, HEAD and OPTIONS, `url_for`), and a request the gate
does not take still gets the same answer."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request as WsgiRequest

from .. import providers
from ..logs import redact, request_id_from
from ..rejections import MAX_BODY, record_rejection
from ..providers.base import HeaderMap, Refused, Request, Text, Webhook
from ..service import Bridge
from . import answers, bridge

log = logging.getLogger(__name__)


class WebhookRequest(WsgiRequest):
    """werkzeug's request with the app's body limit (Flask's request reads MAX_CONTENT_LENGTH)."""
    max_content_length = MAX_BODY


@dataclass(frozen=True)
class Answer:
    """A webhook's answer as bytes: the gate hands it to the server itself (status line, three
    headers, the body), where a werkzeug Response object cost a sixth of the acknowledgement
    (its header list, its iterator, its closing); the app's route wraps it in one."""
    status: int
    body: bytes
    content_type: str

    def response(self) -> Response:
        return Response(self.body, status=self.status, content_type=self.content_type)

    def start(self, start_response: Callable, request_id: str) -> list[bytes]:
        start_response(_status_line(self.status), [("Content-Type", self.content_type),
                                                   ("Content-Length", str(len(self.body))),
                                                   ("X-Request-ID", request_id)])
        return [self.body]


_STATUS_LINES: dict[int, str] = {}


def _status_line(status: int) -> str:
    """The status line as werkzeug writes it ("401 UNAUTHORIZED"), worked out once per code."""
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = Response(status=status).status
    return line


def _respond(answer: Any) -> Answer | Response:
    body, status = answer if isinstance(answer, tuple) else (answer, 200)
    if isinstance(body, Text):
        return Answer(status, body.body.encode("utf-8"), body.content_type)
    if isinstance(body, Response):
        body.status_code = status
        return body
    # What jsonify writes (the app's JSON provider, compact, a final newline) without its
    # argument juggling and response-class look-ups on every acknowledgement
    text = current_app.json.dumps(body, separators=(",", ":"))
    return Answer(status, (text + "\n").encode("utf-8"), "application/json")


_CONTENT = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}
_NAMES: dict[str, str] = {}   # environ key -> header name as werkzeug spells it, for the names seen first
_NAMES_MAX = 256              # anyone can send any header name: the names kept are bounded


def headers_of(environ: dict) -> HeaderMap:
    """The request's headers as werkzeug's EnvironHeaders lists them (HTTP_X_WC_WEBHOOK_ID as
    X-Wc-Webhook-Id, Content-Type and Content-Length when set), read in one walk of the environ:
    werkzeug's view walked it once per header and spelt every name again, a tenth of the
    acknowledgement's own work."""
    items: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            name = _NAMES.get(key)
            if name is None:
                name = key[5:].replace("_", "-").title()
                if len(_NAMES) < _NAMES_MAX:
                    _NAMES[key] = name
            items[name] = value
        elif key in _CONTENT and value:
            items[_CONTENT[key]] = value
    return HeaderMap(items)


def _recorded_body(hook: Webhook, r: WsgiRequest, req: Request) -> bytes:
    if hook.secret_in_query:
        # the admin page lists refusals: the secret (right or wrong) is not kept
        return redact(r.query_string[:4096].decode("utf-8", "replace")).encode()
    return req.body


def _refuse(b: Bridge, hook: Webhook, r: WsgiRequest, refused: Refused, kept: bytes) -> Answer | Response:
    record_rejection(b.db, r.path, refused.status, refused.reason, r.remote_addr, r.headers, kept)
    log.warning("refused %s %s: %s", r.method, r.path, refused.reason)
    return _respond(hook.refusal(refused.status, refused.reason))


def _more_after(r: WsgiRequest) -> bool:
    """Whether the server's stream still holds body after what werkzeug read (a chunked body
    has no length to compare with)."""
    try:
        return bool(r.environ["wsgi.input"].read(1))
    except OSError:   # the chunked encoding broke past the first MiB (gunicorn's NoMoreData, ...)
        return True


def handle(hook: Webhook, r: WsgiRequest, b: Bridge, in_hand: int = 0) -> Answer | Response:
    """A webhook's answer. Raises what the app's error answers handle (storage down: 503; input
    Python cannot represent: 400; a body over the limit without a length: 413; a bug: 500).
    `in_hand`: webhooks this process had in hand when this one began (WebhookGate); once this
    one proves to be genuine, enough of them make the worker give way (bridge/pressure.py)."""
    length = r.content_length
    if length is not None and length > MAX_BODY:
        return _refuse(b, hook, r, Refused(413, f"body of {length} bytes is over the 1 MiB limit"), b"")
    body = r.get_data(cache=True)
    if length is None and len(body) >= MAX_BODY and _more_after(r):
        # chunked, no length: werkzeug stops reading at the limit and would hand over the first
        # MiB as if it were the body (then refused for its signature, a misleading reason)
        return _refuse(b, hook, r, Refused(413, "body over the 1 MiB limit (sent without a length)"), b"")
    req = Request(method=r.method, path=r.path,
                  args=r.args.to_dict(flat=True) if r.environ.get("QUERY_STRING") else {},
                  headers=headers_of(r.environ), body=body, remote_addr=r.remote_addr, at=b.clock())
    try:
        hook.validate(req, b.settings)
        events = hook.parse(req, b.settings)
    except Refused as refused:
        return _refuse(b, hook, r, refused, _recorded_body(hook, r, req))
    b.board.began(in_hand)   # after the checks: a flood of refused requests never slows the worker
    try:
        results = [b.accept(e) for e in events]
    except Exception as exc:
        answer = hook.failed(exc)
        if answer is None:
            raise
        log.exception("could not take %s %s", r.method, r.path)
        return _respond(answer)
    return _respond(hook.answer(events, results))


def make_view(hook: Webhook) -> Callable[[], Response]:
    def view() -> Response:
        answer = handle(hook, request._get_current_object(), bridge())  # type: ignore[attr-defined]
        return answer.response() if isinstance(answer, Answer) else answer
    view.__name__ = f"webhook_{hook.rule.strip('/').replace('/', '_')}_{'_'.join(hook.methods).lower()}"
    return view


class WebhookGate:
    """WSGI middleware: a request for a webhook's path and method is answered by `handle` inside
    an app context (current_app, g and the request id the logs print), with the same error
    answers and X-Request-ID as the app's; every other request goes on to the app."""

    def __init__(self, app: Flask, inner: Callable[[dict, Callable], Iterable[bytes]], hooks: Iterable[Webhook]):
        self.app, self.inner = app, inner
        self.bridge: Bridge = app.extensions["bridge"]
        self.routes: dict[str, dict[str, Webhook]] = {}
        for hook in hooks:
            for method in hook.methods:
                self.routes.setdefault(hook.rule, {})[method] = hook

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        by_method = self.routes.get(environ.get("PATH_INFO", ""))
        hook = by_method.get(environ.get("REQUEST_METHOD", "")) if by_method else None
        if hook is None:
            return self.inner(environ, start_response)
        with self.app.app_context():
            g.request_id = rid = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
            r = WebhookRequest(environ)
            with self.bridge.board.handling() as in_hand:
                response: Answer | Response
                try:
                    response = handle(hook, r, self.bridge, in_hand)
                except Exception as exc:   # noqa: BLE001 - answered as the app's error handlers answer
                    response = self._error(r, exc, rid)
            if isinstance(response, Answer):
                return response.start(start_response, rid)
            response.headers["X-Request-ID"] = rid
            return response(environ, start_response)

    def _error(self, r: WsgiRequest, exc: Exception, rid: str) -> Response:
        try:
            if isinstance(exc, HTTPException):
                return answers.http_error(self.bridge, r, exc)
            return answers.exception(self.bridge, r, exc, rid)
        except Exception as again:   # noqa: BLE001 - recording the refusal failed (storage down: 503),
            return answers.exception(self.bridge, r, again, rid)   # never the server's own HTML page


def register(app: Flask) -> None:
    """Every installed provider's webhooks and blueprints on the app, and the gate in front of it."""
    hooks: list[Webhook] = []
    for p in providers.installed():
        for target in p.webhooks:
            hook: Webhook = providers.resolve(target)
            hooks.append(hook)
            view = make_view(hook)
            app.add_url_rule(hook.rule, endpoint=view.__name__, view_func=view, methods=list(hook.methods))
        for target in p.blueprints:
            app.register_blueprint(providers.resolve(target))
    app.wsgi_app = WebhookGate(app, app.wsgi_app, hooks)  # type: ignore[method-assign]
