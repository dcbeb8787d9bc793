"""The one view every provider webhook goes through: bounded body, validate, parse, hand the
normalized events to the core, answer in the provider's format, and record every refusal (bounded)
where the admin sees it. A provider declares its webhooks (providers/<name>/__init__.py) and writes
neither Flask code nor SQL."""
from __future__ import annotations

import json
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
    # The bytes jsonify would give (compact, sorted keys, ASCII, a final newline) without its
    # per-call look-ups through the app's JSON provider: a tenth of an acknowledgement.
    text = json.dumps(body, separators=(",", ":"), sort_keys=True, default=current_app.json.default)
    return Response(text + "\n", status=status, content_type="application/json")


def _headers(environ: dict[str, Any]) -> HeaderMap:
    """The request's headers, named as werkzeug names them, read once from the WSGI environ
    (werkzeug's own view walks the environ again for every header it lists)."""
    pairs = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                pairs.append((key[5:].replace("_", "-").title(), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            pairs.append((key.replace("_", "-").title(), value))
    return HeaderMap(pairs)


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
        environ = r.environ
        req = Request(method=r.method, path=r.path,
                      args=r.args.to_dict(flat=True) if environ.get("QUERY_STRING") else {},
                      headers=_headers(environ), body=r.get_data(cache=True), remote_addr=r.remote_addr,
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
