"""The one view every provider webhook goes through: bounded body, validate, parse, hand the
normalized events to the core, answer in the provider's format, and record every refusal (bounded)
where the admin sees it. A provider declares its webhooks (providers/<name>/__init__.py) and writes
neither Flask code nor SQL."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, request

from .. import providers
from ..rejections import MAX_BODY, record_rejection
from ..logs import redact
from ..providers.base import HeaderMap, Refused, Request, Text, Webhook
from . import bridge

log = logging.getLogger(__name__)


def _respond(answer: Any) -> Response:
    body, status = answer if isinstance(answer, tuple) else (answer, 200)
    if isinstance(body, Text):
        return Response(body.body, status=status, content_type=body.content_type)
    if isinstance(body, Response):
        body.status_code = status
        return body
    # What jsonify writes (the app's JSON provider, compact, a final newline) without its
    # argument juggling and response-class look-ups on every acknowledgement
    text = current_app.json.dumps(body, separators=(",", ":"))
    return Response(text + "\n", status=status, content_type="application/json")


def _recorded_body(hook: Webhook, req: Request) -> bytes:
    if hook.secret_in_query:
        # the admin page lists refusals: the secret (right or wrong) is not kept
        return redact(request.query_string[:4096].decode("utf-8", "replace")).encode()
    return req.body


def _refuse(hook: Webhook, refused: Refused, kept: bytes) -> Response | tuple[Any, int]:
    record_rejection(bridge().db, request.path, refused.status, refused.reason, request.remote_addr,
                     request.headers, kept)
    log.warning("refused %s %s: %s", request.method, request.path, refused.reason)
    return _respond(hook.refusal(refused.status, refused.reason))


def make_view(hook: Webhook):
    def view():
        b = bridge()
        r = request._get_current_object()   # type: ignore[attr-defined]  # one proxy look-up, not a dozen
        length = r.content_length
        if length is not None and length > MAX_BODY:
            return _refuse(hook, Refused(413, f"body of {length} bytes is over the 1 MiB limit"), b"")
        req = Request(method=r.method, path=r.path,
                      args=r.args.to_dict(flat=True) if r.environ.get("QUERY_STRING") else {},
                      headers=HeaderMap(r.headers.items()), body=r.get_data(cache=True), remote_addr=r.remote_addr,
                      at=b.clock())
        try:
            hook.validate(req, b.settings)
            events = hook.parse(req, b.settings)
        except Refused as refused:
            return _refuse(hook, refused, _recorded_body(hook, req))
        try:
            results = [b.accept(e) for e in events]
        except Exception as exc:
            answer = hook.failed(exc)
            if answer is None:
                raise
            log.exception("could not take %s %s", request.method, request.path)
            return _respond(answer)
        return _respond(hook.answer(events, results))
    view.__name__ = f"webhook_{hook.rule.strip('/').replace('/', '_')}_{'_'.join(hook.methods).lower()}"
    return view


def register(app: Flask) -> None:
    """Every installed provider's webhooks and blueprints on the app."""
    for p in providers.installed():
        for target in p.webhooks:
            hook: Webhook = providers.resolve(target)
            view = make_view(hook)
            app.add_url_rule(hook.rule, endpoint=view.__name__, view_func=view, methods=list(hook.methods))
        for target in p.blueprints:
            app.register_blueprint(providers.resolve(target))
