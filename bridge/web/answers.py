"""The error answers every surface shares, for a request given explicitly: the app's error
handlers call them with Flask's request, and the webhook gate (webhooks.py), which answers
webhooks outside Flask's request dispatch, with its own. JSON with a reason; 503 when storage
fails; the admin's own pages for a person."""
from __future__ import annotations

import logging
import sqlite3

from flask import Response
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request

from ..rejections import record_rejection
from ..service import Bridge
from . import error

log = logging.getLogger("bridge")

# What Python or SQLite raise on input they cannot represent (not our bugs): a 400, not a 500.
HOSTILE_INPUT = (RecursionError, OverflowError, UnicodeError)


def _response(answer: tuple[Response, int]) -> Response:
    """`error`'s (response, status) as one response."""
    body, status = answer
    body.status_code = status
    return body


def too_large(b: Bridge, r: Request) -> Response:
    record_rejection(b.db, r.path, 413, "body over the 1 MiB limit", r.remote_addr, r.headers, b"")
    return _response(error(413, "body over the 1 MiB limit"))


def storage_unavailable(r: Request, exc: sqlite3.Error) -> Response:
    # Nothing was committed, so nothing may be acknowledged: a 2xx here would lose the delivery.
    # 503 tells WooCommerce (and every provider) this one failed; reconcile catches up later.
    log.error("storage unavailable on %s %s: %s", r.method, r.path, exc)
    resp = _response(error(503, f"storage unavailable, nothing was accepted ({exc}); try again later"))
    resp.headers["Retry-After"] = "60"
    return resp


def http_error(b: Bridge, r: Request, exc: HTTPException) -> Response:
    """An HTTP error as JSON (the app's last resort for those without a handler of their own; the
    webhook gate's for any), 413 recorded as the app's own handler records it."""
    if exc.code == 413:
        return too_large(b, r)
    return _response(error(exc.code or 500, exc.description or exc.name))


def hostile_reason(exc: Exception) -> str:
    return f"the request could not be read: {type(exc).__name__} ({str(exc)[:120]})"


def exception(b: Bridge, r: Request, exc: Exception, rid: str) -> Response:
    """Nothing is answered with an HTML 500 page. Storage failing is a 503; input Python or SQLite
    cannot represent (nesting deeper than the recursion limit, integers over 64 bits or 4,300
    digits, lone surrogates) is the caller's: 400 with the reason, recorded like any refusal.
    Anything else is our bug: 500 in JSON with the request id to find the traceback in the log."""
    if isinstance(exc, sqlite3.Error):
        return storage_unavailable(r, exc)
    if isinstance(exc, HOSTILE_INPUT):
        reason = hostile_reason(exc)
        log.warning("refused %s %s: %s", r.method, r.path, reason)
        try:
            record_rejection(b.db, r.path, 400, reason, r.remote_addr, r.headers, r.get_data(cache=True)[:1024])
        except Exception:   # noqa: BLE001 - the answer matters more than the record
            log.exception("could not record the refusal")
        return _response(error(400, reason))
    log.exception("unexpected error on %s %s (request id %s)", r.method, r.path, rid, exc_info=exc)
    return _response(error(500, f"internal error; the log has the details under request id {rid}"))
