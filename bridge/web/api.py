"""The send API, /api/v1/: other systems (a chatbot, a CRM) send through the shop's channels and
read what became of their messages.

A message made here is an ordinary outbox row (rule "api"), committed before the 201, so pacing,
fallback chains, in-doubt handling and delivery reports apply as to any notice. Its dedupe key is
the key's id and the caller's Idempotency-Key: a repeat finds the committed row (one message row
however often it is asked, also by concurrent requests: the check and the insert share one write
transaction). Every refusal is JSON `{"error": code, "reason": English}`; every call with a key
is recorded with it (bounded), a call without a valid key in the rejections the admin sees.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from .. import api_keys, outbox, providers, reasons
from ..context import order_context, shop_context
from ..outbox import Draft, enqueue
from ..phones import normalize_phone
from ..rejections import record_rejection
from ..rules import MAX_TEXT, Rule, describe
from ..smstext import prepare
from ..store import api_keys as q, orders as stored_orders, prices
from ..store import messages as stored_messages
from . import bridge

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")

API_MAX_BODY = 16 * 1024          # a message is at most 2,000 characters: 16 KiB is ample
IDEMPOTENCY_KEY_MAX = 128
CHAIN_MAX = 5
VARIABLES_MAX = 50
VARIABLE_MAX = 500
PAGE_DEFAULT, PAGE_MAX = 50, 200
SEND_AT_GRACE = 60.0              # a send_at this much in the past is "now" (clocks differ)
FIELDS = {"to", "text", "template", "variables", "channel", "unicode", "send_at"}
STATUSES = (outbox.PENDING, outbox.SCHEDULED, outbox.HELD, outbox.IN_DOUBT, outbox.QUEUED, outbox.SENT,
            outbox.DELIVERED, outbox.FAILED, outbox.DRY_RUN, outbox.CANCELLED)
_KEY_IN_URL = ("api_key", "apikey", "key", "token", "access_token")


class ApiError(Exception):
    """A refusal: its status, a stable code for programs and an English reason for people."""

    def __init__(self, http_status: int, code: str, reason: str, **extra: Any):
        super().__init__(reason)
        self.http_status, self.code, self.reason, self.extra = http_status, code, reason, extra


def _answer(http_status: int, code: str, reason: str, **extra: Any) -> tuple[Response, int]:
    g.api_error, g.api_reason = code, reason
    return jsonify({"error": code, "reason": reason, **extra}), http_status


# -- authentication, scope and rate limit, before every call but the document ------------------
@bp.before_request
def authenticate() -> None:
    g.api_key, g.api_message, g.api_error = None, None, ""
    if request.endpoint == "api.openapi":
        return
    g.api_key = _identify()
    _take_call(g.api_key)
    scope = "send" if request.method in ("POST", "DELETE") else "read"
    if not g.api_key.allows(scope):
        raise ApiError(403, "scope", f"this key may not {scope}: its scopes are {', '.join(g.api_key.scopes)}")


def _identify() -> api_keys.ApiKey:
    """The request's live key, or a 401 saying what is wrong."""
    if any(k in request.args for k in _KEY_IN_URL):
        raise ApiError(401, "key_in_url", "API keys go in the Authorization header (Bearer), never in the URL:"
                                          " this key is now in logs and browser history, revoke it")
    header = request.headers.get("Authorization", "")
    if not header:
        elsewhere = next((k for k, v in request.headers.items() if api_keys.PREFIX in v), None)
        raise ApiError(401, "missing_key", "no API key: send it as Authorization: Bearer <key>"
                       + (f" (not in {elsewhere[:40]})" if elsewhere else ""))
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "malformed_authorization", "the Authorization header must be Bearer <key>")
    key = api_keys.verify(bridge().db, token.strip())
    if key is None:
        raise ApiError(401, "invalid_key", "the API key is unknown, revoked or mistyped")
    return key


def _take_call(key: api_keys.ApiKey) -> None:
    """One call from the key's bucket, or a 429."""
    b = bridge()
    wait = api_keys.take(b.db, key, b.settings.api_rate_per_minute, b.clock())
    if wait:
        raise ApiError(429, "rate_limited", f"too many calls with this key: try again in {wait:g} s",
                       retry_after=int(wait))


@bp.after_request
def record_call(response: Response) -> Response:
    """Every call with a key in its log; a call without a valid one in the rejections (bounded)."""
    _record(response)
    response.headers["Cache-Control"] = "no-store"
    return response


def _record(response: Response) -> None:
    b = bridge()
    try:
        if g.get("api_key") is not None:
            api_keys.record(b.db, g.api_key, request.method, request.path, response.status_code, g.get("api_message"),
                            g.get("api_error", ""), b.settings.api_call_log_rows, b.clock())
        elif response.status_code == 401:
            record_rejection(b.db, request.path, 401, f"{g.get('api_error', '')}: {g.get('api_reason', '')}",
                             request.remote_addr, request.headers, b"")
    except sqlite3.Error:   # the answer matters more than its record
        log.exception("could not record the API call %s %s", request.method, request.path)


@bp.errorhandler(ApiError)
def refused(exc: ApiError):
    resp, status = _answer(exc.http_status, exc.code, exc.reason, **exc.extra)
    if status == 429:
        resp.headers["Retry-After"] = str(exc.extra["retry_after"])
    return resp, status


@bp.errorhandler(400)
@bp.errorhandler(404)
@bp.errorhandler(405)
@bp.errorhandler(413)
@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """Code by code too: the app's own handlers for these codes would otherwise answer first."""
    return routing_error(exc)


def routing_error(exc: HTTPException):
    """The API's answer to what Werkzeug refuses (also for /api/ addresses no view matched)."""
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.code or 500,
                                                                                                 "error")
    reason = {404: f"nothing at {request.method} {request.path}", 405: f"{request.method} is not allowed on"
              f" {request.path}", 413: f"the body is over the {API_MAX_BODY // 1024} KiB limit"}.get(
        exc.code or 500, exc.description or exc.name)
    if request.path.startswith("/api/") and not request.blueprint:   # no view ran, nor the blueprint's hooks
        return _unrouted(exc.code or 500, code, reason)
    return _answer(exc.code or 500, code, reason)


def _unrouted(status: int, code: str, reason: str) -> Response:
    """A call to an address or method the API does not have: with a valid key it is recorded in
    the key's log and counted against its bucket like any other call (a client looping on a
    typo is limited too); without one it is answered and left unrecorded."""
    g.api_key, g.api_message, g.api_error = None, None, ""
    try:
        if "Authorization" in request.headers:
            g.api_key = _identify()
            _take_call(g.api_key)
        resp, status = _answer(status, code, reason)
    except ApiError as exc:
        if exc.http_status == 429:
            resp, status = refused(exc)
        else:   # an unknown key at an unknown address: the address is the answer
            g.api_key = None
            resp, status = _answer(status, code, reason)
    resp.status_code = status
    if g.api_key is not None:
        _record(resp)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.errorhandler(sqlite3.Error)
def storage_unavailable(exc: sqlite3.Error):
    log.error("storage unavailable on %s %s: %s", request.method, request.path, exc)
    resp, status = _answer(503, "storage_unavailable", "the database cannot be written now: nothing was accepted;"
                                                        " try again later")
    resp.headers["Retry-After"] = "60"
    return resp, status


@bp.errorhandler(Exception)
def unexpected(exc: Exception):
    from .answers import HOSTILE_INPUT
    if isinstance(exc, HOSTILE_INPUT):
        return _answer(400, "unreadable", f"the request could not be read: {type(exc).__name__}")
    rid = g.get("request_id", "-")
    log.exception("unexpected error on %s %s (request id %s)", request.method, request.path, rid)
    return _answer(500, "internal", f"internal error; the log has the details under request id {rid}")


# -- reading the request ---------------------------------------------------------------------
def _json_body() -> dict[str, Any]:
    if not (request.mimetype or "").endswith("json"):
        raise ApiError(415, "content_type", "send the body as application/json (Content-Type: application/json)")
    # Read up to one byte past the limit whether or not Content-Length was given: a chunked body
    # has none, and the limit must hold for it too.
    too_large = ApiError(413, "too_large", f"the body is over the {API_MAX_BODY // 1024} KiB limit")
    if (request.content_length or 0) > API_MAX_BODY:
        raise too_large
    raw = b""
    while len(raw) <= API_MAX_BODY:   # a stream may answer a read with less than asked, never with b"" early
        more = request.stream.read(API_MAX_BODY + 1 - len(raw))
        if not more:
            break
        raw += more
    if len(raw) > API_MAX_BODY:
        raise too_large
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "malformed", "the body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ApiError(422, "unknown_field", f"unknown field {unknown[0][:40]!r}; the fields are "
                                             f"{', '.join(sorted(FIELDS))}", field=unknown[0][:40])
    return body


def _idempotency_key() -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not (1 <= len(raw) <= IDEMPOTENCY_KEY_MAX and raw.isascii() and raw.isprintable() and raw.strip() == raw):
        raise ApiError(400, "idempotency_key", f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII"
                                               " characters without surrounding spaces")
    return raw


def body_hash(body: dict[str, Any]) -> str:
    """The request's meaning, not its bytes: the same fields and values in another order or
    spacing are the same request."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()


def _invalid(field: str, reason: str) -> ApiError:
    return ApiError(422, "invalid", reason, field=field)


def _recipient(c: sqlite3.Connection, to: Any) -> tuple[str, str, sqlite3.Row | None]:
    """(typed, E.164, order) of `to`: a phone, "#1234" or {"order": 1234} (that order's customer)."""
    number = None
    if isinstance(to, dict):
        if set(to) != {"order"} or isinstance(to["order"], bool) or not isinstance(to["order"], (int, str)):
            raise _invalid("to", 'an order is given as {"order": 1234}')
        number = str(to["order"]).strip().lstrip("#")
    elif isinstance(to, str) and to.strip().startswith("#"):
        number = to.strip()[1:]
    elif not isinstance(to, str) or not to.strip():
        raise _invalid("to", 'to is a phone number, "#<order number>" or {"order": <order number>}')
    if number is not None:
        if not number or len(number) > 32:
            raise _invalid("to", "the order number is empty or too long")
        order = stored_orders.by_number(c, number)
        phone = normalize_phone(order["phone_e164"] or order["phone_raw"]) if order and not order["deleted"] else None
        if phone is None or not phone.ok:
            if not g.api_key.allows("read"):   # one answer for both: whether it has a phone is order data
                raise ApiError(422, "unknown_order", f"no order #{number} here can be texted", field="to")
            if phone is None:
                raise ApiError(422, "unknown_order", f"no order #{number} is known here", field="to")
            raise ApiError(422, "order_without_phone", f"order #{number} has no usable phone number"
                                                       f" ({phone.reason})", field="to")
        return order["phone_raw"] or "", phone.e164 or "", order
    if len(to) > 40:
        raise _invalid("to", "the phone number is too long")
    phone = normalize_phone(to)
    if not phone.ok:
        raise ApiError(422, "invalid_phone", phone.reason or "not a phone number", field="to")
    return to, phone.e164 or "", None


@dataclass(frozen=True)
class Written:
    """The message's text and, for a template, the rule it came from with what the rules path
    sends besides the text (extras: a Zalo template, a link button)."""
    text: str
    rule: Rule | None = None
    extras: dict[str, Any] | None = None


def _text(body: dict[str, Any], order: sqlite3.Row | None) -> Written:
    text, template = body.get("text"), body.get("template")
    if (text is None) == (template is None):
        raise _invalid("text", "give either text or template (with variables), not both")
    variables = body.get("variables", {})
    if template is None and "variables" in body:
        raise _invalid("variables", "variables go with a template")
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise _invalid("text", "text must be a non-empty string")
        if len(text) > MAX_TEXT:
            raise _invalid("text", f"the text is {len(text)} characters long; a message is at most {MAX_TEXT}")
        return Written(text.strip())
    b = bridge()
    rule = b.rules.by_name(template) if isinstance(template, str) else None
    if rule is None:
        raise ApiError(422, "unknown_template", f"no template named {str(template)[:60]!r}; the names are the rules'"
                                                " (mappings/*.yaml, the admin's Templates page)", field="template")
    if rule.to != "customer":
        raise ApiError(422, "not_customer_template", f"template {rule.name!r} is written for the shop owner, not a"
                                                     " customer: only customer templates are sent through the API",
                       field="template")
    if not rule.enabled:
        raise ApiError(422, "template_disabled", f"template {rule.name!r} is turned off (enabled: false)",
                       field="template")
    if not isinstance(variables, dict) or len(variables) > VARIABLES_MAX or not all(
            isinstance(v, (str, int, float, bool)) and (not isinstance(v, str) or len(v) <= VARIABLE_MAX)
            for v in variables.values()):
        raise _invalid("variables", f"variables is an object of at most {VARIABLES_MAX} names, each a string of at"
                                    f" most {VARIABLE_MAX} characters, a number or a boolean")
    context = shop_context(b.settings)
    if order is not None:
        try:
            snap = providers.shop().order(stored_orders.body(order))
            context = order_context(b.settings, snap, order["source_url"] or "")
        except (ValueError, TypeError):
            log.warning("order %s: stored body unreadable, template written from the variables only", order["id"])
    values = {**context, **variables}
    try:
        written = b.rules.preview(rule, values)
    except Exception as exc:   # the owner's template and the caller's variables: the caller's to fix
        raise ApiError(422, "template_failed", f"template {rule.name!r} could not be written: {describe(exc)[:300]}",
                       field="variables") from None
    if not written:
        raise ApiError(422, "template_failed", f"template {rule.name!r} wrote an empty text", field="template")
    return Written(written, rule, b.rules.extras(rule, values))


def _chain(raw: Any, written: Written) -> tuple[str, ...]:
    b = bridge()
    jobs = outbox.job_channel_names()
    usable = [n for n, ch in b.channels.items() if ch.configured and n not in jobs and n != "dry-run"]
    if raw is None:
        first = next((n for n in providers.owner_channels() if n in usable), None)
        if first is None:
            raise ApiError(422, "no_channel", "no SMS channel is configured here, so nothing would be sent; name a"
                                              f" channel (configured: {', '.join(usable) or 'none'})", field="channel")
        return (first,)
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not 1 <= len(names) <= CHAIN_MAX or \
            not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise _invalid("channel", f"channel is a channel name or a list of 1 to {CHAIN_MAX} different names")
    for n in names:
        if n not in usable:
            raise ApiError(422, "unknown_channel", f"{n[:40]!r} is not a configured channel here; configured:"
                                                   f" {', '.join(usable) or 'none'}", field="channel")
        if n in providers.template_channels() and not (written.extras or {}).get("zns"):
            raise ApiError(422, "needs_template", f"{n!r} sends only a template registered with its provider: use a"
                                                  " template whose rule has a 'zns' entry, not free text"
                           if written.rule is None else f"{n!r} sends only a template registered with its provider,"
                           f" and template {written.rule.name!r} has no 'zns' entry", field="channel")
    return tuple(names)


def parse_time(raw: Any, field: str) -> float:
    """ISO 8601 with an offset ("2026-12-01T09:00:00+07:00"): a time without one is ambiguous."""
    if not isinstance(raw, str) or len(raw) > 40:
        raise _invalid(field, f"{field} is an ISO 8601 time with an offset, e.g. 2026-12-01T09:00:00+07:00")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise _invalid(field, f"{field} is not an ISO 8601 time: {raw!r}") from None
    if when.tzinfo is None:
        raise _invalid(field, f"{field} needs an offset (+07:00 or Z): {raw!r} could be any zone")
    return when.timestamp()


def _due(raw: Any, t: float) -> float | None:
    if raw is None:
        return None
    due = parse_time(raw, "send_at")
    limit = bridge().settings.api_max_schedule_days
    if due < t - SEND_AT_GRACE:
        raise ApiError(422, "send_at_past", "send_at is in the past", field="send_at")
    if due > t + limit * 86_400:
        raise ApiError(422, "send_at_too_far", f"send_at is more than {limit:g} days ahead", field="send_at")
    return due if due > t else None


# -- what a message looks like to a caller ----------------------------------------------------
def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def present(row: sqlite3.Row, full: bool = False) -> dict[str, Any]:
    """The message as the calling key may see it. A key without `read` never sees the text (a
    template may have written the order's name, items and pay link into it) nor, for a message
    addressed by order number, the customer's phone or the reasons (they may name it): sending
    to an order must not be a way to read it."""
    b = bridge()
    reader = g.api_key is not None and g.api_key.allows("read")
    private = not reader and row["order_id"] is not None
    legs = outbox.history(b.db, row["id"])
    chain = [leg["channel"] for leg in legs] + [x for x in (row["fallback"] or "").split(",") if x]
    order = stored_orders.get(b.db, row["order_id"]) if row["order_id"] else None
    price = prices.all_prices(b.db).get(chain[0])
    cost = prices.cost(price, row["segments"] or 0)
    out: dict[str, Any] = {
        "id": row["id"], "status": row["status"],
        "reason": None if private else reasons.english(row["reason"] or "") or None,
        "to": None if private else row["recipient"], "order": order["number"] if order else None, "channel": chain,
        "text": row["text"] if reader else None, "encoding": row["encoding"], "segments": row["segments"],
        "cost_estimate": {"vnd": cost, "channel": chain[0]} if cost is not None else None,
        "created_at": iso(row["created_at"]),
        "send_at": iso(row["due_at"]) if row["due_at"] and row["due_at"] > row["created_at"] else None,
        "sent_at": iso(row["sent_at"]), "delivered_at": iso(row["delivered_at"]),
    }
    if full:
        out["legs"] = [{"channel": leg["channel"], "outcome": leg["outcome"], "provider_id": leg["provider_id"],
                        "started_at": iso(leg["started_at"]), "ended_at": iso(leg["ended_at"]),
                        "reason": None if private else reasons.english(leg["reason"] or "") or None}
                       for leg in legs]
        out["events"] = [{"at": iso(e["at"]), "source": e["source"], "event": e["event"]}
                         for e in stored_messages.event_summaries(b.db, row["id"])]
    return out


def _api_message(mid: str) -> sqlite3.Row:
    row = q.message_row(bridge().db, mid) if len(mid) <= 64 else None
    if row is None:
        raise ApiError(404, "not_found", f"no message {mid[:64]} was created through this API")
    return row


# -- the endpoints ----------------------------------------------------------------------------
@bp.post("/messages")
def create_message():
    b = bridge()
    key = g.api_key
    body = _json_body()
    idem = _idempotency_key()
    digest = body_hash(body)
    t = b.clock()
    # One write transaction looks the Idempotency-Key up and inserts: concurrent repeats (any
    # process) queue on the write lock and the later ones find the first one's row. The lookup
    # comes before validation, so a repeat answers the message even when its send_at has passed.
    with b.db.tx() as c:
        earlier = q.by_idempotency_key(c, key.id, idem) if idem is not None else None
        if earlier is None:
            raw, e164, order = _recipient(c, body.get("to"))
            written = _text(body, order)
            rule = written.rule
            # A template is sent as the rules path sends it: its encoding (unless the call says),
            # its urgency (quiet hours for a rule that is not urgent), its extras and fallback time.
            unicode = body.get("unicode", rule.unicode if rule else True)
            if not isinstance(unicode, bool):
                raise _invalid("unicode", "unicode is true or false")
            draft = Draft(dedupe_key=f"api:{key.id}:{idem if idem is not None else uuid.uuid4().hex}", rule="api",
                          event="api.send", audience="customer", channels=_chain(body.get("channel"), written),
                          recipient_raw=raw, recipient=e164, problem=None, sms=prepare(written.text, unicode),
                          order_id=order["id"] if order else None, customer_id=None,
                          due_at=_due(body.get("send_at"), t), urgent=rule.urgent if rule else True,
                          payload=written.extras, fallback_after=rule.fallback_after if rule else None)
            mid = enqueue(c, draft, b.settings.quiet_hours, b.settings.timezone)
            if mid is None:   # the dedupe key of an API message row is only ever written here, with its api_messages row
                raise ApiError(409, "duplicate", "a message with this Idempotency-Key exists already")
            q.add_message(c, mid, key.id, idem, digest, e164, t)
    if earlier is not None:
        return _repeat(earlier, digest)
    b.wake_worker()
    g.api_message = mid
    row = q.message_row(b.db, mid)
    return jsonify(present(row)), 201, {"Location": url_for("api.get_message", mid=mid)}


def _repeat(earlier: sqlite3.Row, digest: str):
    """The same Idempotency-Key again: the message it made (never a second one), or a conflict."""
    g.api_message = earlier["message_id"]
    if earlier["body_hash"] != digest:
        raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with a different body; use a new"
                                                    " key for a new message", message=earlier["message_id"])
    return jsonify(present(_api_message(earlier["message_id"]))), 200


@bp.get("/messages/<mid>")
def get_message(mid: str):
    row = _api_message(mid)
    g.api_message = row["id"]
    return jsonify(present(row, full=True))


@bp.delete("/messages/<mid>")
def cancel_message(mid: str):
    """Only the key that made a message may cancel it: another system's messages are not found."""
    b = bridge()
    row = _api_message(mid)
    if row["api_key_id"] != g.api_key.id:
        raise ApiError(404, "not_found", f"no message {mid[:64]} was created through this API with this key")
    g.api_message = row["id"]
    try:
        outbox.cancel(b.db, row["id"], who=f"API key {g.api_key.name}")
    except outbox.Refused as exc:
        code = reasons.code_of(str(exc)) or "refused"
        raise ApiError(409, code.split(".")[-1], reasons.english(str(exc)),
                       status=_api_message(mid)["status"]) from None
    return jsonify(present(_api_message(mid), full=True))


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> int:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
        version, _, seq = text.partition(":")
        if version != "v1" or not seq.isdigit() or len(seq) > 18:
            raise ValueError(text)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "bad_cursor", "after is not a cursor this API gave (use the answer's next)",
                       field="after") from None


@bp.get("/messages")
def list_messages():
    b = bridge()
    args = request.args
    unknown = sorted(set(args) - {"status", "phone", "since", "until", "limit", "after"})
    if unknown:
        raise ApiError(400, "unknown_parameter", f"unknown parameter {unknown[0][:40]!r}", field=unknown[0][:40])
    statuses = tuple(s for s in args.get("status", "").split(",") if s)
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise _invalid("status", f"unknown status {bad[0][:40]!r}; the statuses are {', '.join(STATUSES)}")
    phone = None
    if args.get("phone"):
        p = normalize_phone(args["phone"][:40])
        if not p.ok:
            raise ApiError(422, "invalid_phone", p.reason or "not a phone number", field="phone")
        phone = p.e164
    since = parse_time(args["since"], "since") if "since" in args else None
    until = parse_time(args["until"], "until") if "until" in args else None
    raw_limit = args.get("limit", str(PAGE_DEFAULT))
    if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit[:6]) <= PAGE_MAX):
        raise _invalid("limit", f"limit is a whole number from 1 to {PAGE_MAX}")
    limit = int(raw_limit)
    after = decode_cursor(args["after"][:100]) if args.get("after") else 0
    rows = q.page(b.db, after, limit, statuses, phone, since, until)
    last = rows[-1]["seq"] if rows else after
    return jsonify({"messages": [present(r) for r in rows], "next": encode_cursor(last), "more": len(rows) == limit})


@bp.get("/openapi.json")
def openapi():
    from .openapi import document
    return jsonify(document(bridge().settings.public_url))
