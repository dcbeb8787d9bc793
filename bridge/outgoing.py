"""Outgoing events: what happened in the bridge, POSTed as signed JSON to the owner's URLs (a
chatbot, a CRM), durably through the outbox.

`emit` runs inside the caller's transaction, so an event exists exactly when what it tells of was
committed. Each (event, endpoint) is a delivery; a delivery becomes an outbox job (kind "event",
carried out by the provider that declares that kind) only when the endpoint has nothing earlier
of the same subject (the message, the order) still on its way: a subject's events reach an
endpoint in the order they happened, each retried with the outbox's backoff until it is
delivered or given up before the next one goes. Status changes of messages are captured by triggers on the outbox table
(store/schema.py) whatever wrote them, and turned into events by `pump` right after.

Delivery is at least once: a receiver that acted but whose answer was lost gets the same event
again, with the same id (`X-WooBridge-Event-Id`, `Idempotency-Key`) to drop it by.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import sqlite3
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Sequence
from urllib.parse import urlsplit

from . import reasons
from .intake import TX_BUDGET
from .outbox import CANCELLED, DELIVERED, DRY_RUN, EVENT, FAILED, Job, Refused, enqueue_job, withdraw
from .reasons import N_
from .store import hooks as store
from .store.db import Database, now

log = logging.getLogger(__name__)

STATUS_CHANGED, RECEIVED = "message.status_changed", "message.received"
PAYMENT_CONFIRMED, PAYMENT_REVIEW = "payment.confirmed", "payment.review_needed"
COD_ANSWERED = "order.cod_answered"
EVENTS = (STATUS_CHANGED, RECEIVED, PAYMENT_CONFIRMED, PAYMENT_REVIEW, COD_ANSWERED)
TEST = "endpoint.test"   # the admin's "send a test event": to one endpoint, whatever it wants
FINAL = (DELIVERED, FAILED, CANCELLED, DRY_RUN)   # a job in one of these is done: the next may go
SIGNATURE_HEADER = "X-WooBridge-Signature"
MAX_URL = 2000
BATCH = 100   # captured status changes read per transaction (each may queue a job)
EVERY = 1.0   # seconds between the scheduler's passes (status changes written outside the worker)

reasons.register({
    "hooks.url_empty": N_("give the URL that receives the events"),
    "hooks.url_long": N_("the URL is longer than %(n)s characters"),
    "hooks.url_scheme": N_("the URL must start with https:// (http:// only for this machine or the local network)"),
    "hooks.url_host": N_("the URL has no host name"),
    "hooks.url_credentials": N_("the URL must not carry a user name or password: events are signed instead"),
    "hooks.url_http_public": N_("http:// is only for this machine or a local network address (127.0.0.1, 192.168.x.x, "
                                "10.x.x.x): use https:// for %(host)s"),
    "hooks.url_blocked": N_("%(host)s is a link-local or cloud metadata address: events are never sent there"),
    "hooks.url_numeric": N_("%(host)s is an address written as a number: write it as four numbers with dots "
                            "(1.2.3.4) or use a host name"),
    "hooks.no_events": N_("choose at least one event"),
    "hooks.unknown_event": N_("unknown event %(event)s"),
    "hooks.no_endpoint": N_("no endpoint %(id)s"),
    "hooks.no_delivery": N_("no delivery %(id)s"),
    "hooks.endpoint_deleted": N_("not sent: its URL was deleted from the outgoing events"),
})


# -- endpoints ---------------------------------------------------------------------------------
def check_url(url: str) -> str:
    """The URL as stored, or Refused with why. https anywhere; http only to this machine or a
    private network (a test receiver); never link-local (169.254.0.0/16: cloud metadata)."""
    url = (url or "").strip()
    if not url:
        raise Refused("hooks.url_empty")
    if len(url) > MAX_URL:
        raise Refused("hooks.url_long", n=MAX_URL)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port   # noqa: B018 - an unreadable port raises here
    except ValueError:
        raise Refused("hooks.url_host") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("hooks.url_scheme")
    if not host:
        raise Refused("hooks.url_host")
    if parts.username is not None or parts.password is not None:
        raise Refused("hooks.url_credentials")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
        if all(re.fullmatch(r"0x[0-9a-f]*|[0-9]+", label) for label in host.lower().rstrip(".").split(".")):
            # 2852039166, 0xa9fea9fe, 0251.0376.0251.0376: an address a resolver reads, in disguise
            raise Refused("hooks.url_numeric", host=host) from None
    if ip is not None and (ip.is_link_local or ip.is_multicast or ip.is_unspecified or
                           (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_link_local)):
        raise Refused("hooks.url_blocked", host=host)
    if parts.scheme == "http" and not (host == "localhost" or (ip is not None and (ip.is_loopback or ip.is_private))):
        raise Refused("hooks.url_http_public", host=host)
    return url


def check_events(events: Sequence[str]) -> list[str]:
    chosen = [e for e in EVENTS if e in set(events)]
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise Refused("hooks.unknown_event", event=unknown[0])
    if not chosen:
        raise Refused("hooks.no_events")
    return chosen


def new_secret() -> str:
    """One endpoint's signing secret: 32 random bytes, printable."""
    return "whsec_" + secrets.token_urlsafe(32)


def add_endpoint(db: Database, url: str, events: Sequence[str]) -> tuple[int, str]:
    """A new endpoint, enabled, and its secret (the only time the admin shows it)."""
    url, chosen = check_url(url), check_events(events)
    secret = new_secret()
    with db.tx() as c:
        return store.add_endpoint(c, url, secret, chosen, now()), secret


def set_events(db: Database, endpoint_id: int, events: Sequence[str]) -> None:
    chosen = check_events(events)
    with db.tx() as c:
        if store.endpoint(c, endpoint_id) is None:
            raise Refused("hooks.no_endpoint", id=endpoint_id)
        store.set_events(c, endpoint_id, chosen, now())


def set_enabled(db: Database, endpoint_id: int, enabled: bool) -> None:
    """A disabled endpoint gets no new events; the deliveries already queued for it stop at send
    time (the sender refuses them: visible, replayable once it is enabled again)."""
    with db.tx() as c:
        if not store.set_enabled(c, endpoint_id, enabled, now()):
            raise Refused("hooks.no_endpoint", id=endpoint_id)


def rotate_secret(db: Database, endpoint_id: int) -> str:
    """A new secret (shown once): every delivery from now on is signed with it, retries included."""
    secret = new_secret()
    with db.tx() as c:
        if not store.set_secret(c, endpoint_id, secret, now()):
            raise Refused("hooks.no_endpoint", id=endpoint_id)
    return secret


def delete_endpoint(db: Database, endpoint_id: int) -> None:
    """The endpoint and its history; its deliveries not sent yet are cancelled in the outbox (one
    being sent right now stops at the sender, which finds no endpoint for its URL)."""
    with db.tx() as c:
        for d in store.open_of_endpoint(c, endpoint_id):
            withdraw(c, f"event:{d['id']}", reasons.encode("hooks.endpoint_deleted"))
        if not store.delete_endpoint(c, endpoint_id):
            raise Refused("hooks.no_endpoint", id=endpoint_id)


# -- signing -----------------------------------------------------------------------------------
def body_bytes(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, UTF-8. The same event gives the same bytes."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, t: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>` (README "Outgoing events")."""
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


# -- emitting ----------------------------------------------------------------------------------
def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _subject(data: dict[str, Any]) -> str:
    """What the order of events is kept for: the message, else the order, else the text or transfer."""
    for key, prefix in (("message_id", "message"), ("order_id", "order"), ("inbox_id", "inbox"),
                        ("transaction_id", "tx")):
        if data.get(key) is not None:
            return f"{prefix}:{data[key]}"
    return "event:" + uuid.uuid4().hex


def emit(c: sqlite3.Connection, event: str, data: dict[str, Any]) -> str | None:
    """Inside the caller's transaction: the event for every enabled endpoint that wants it, each
    queued behind that endpoint's earlier events of the same subject. Returns the event id; None
    (after one index read) when no endpoint wants it."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    targets = store.subscribers(c, event)
    if not targets:
        return None
    return _new_event(c, event, data, [r["id"] for r in targets], now())[0]


def _new_event(c: sqlite3.Connection, event: str, data: dict[str, Any], endpoint_ids: list[int], t: float,
               subject: str | None = None) -> tuple[str, int]:
    """The event and its deliveries; returns its id and the jobs queued for it at once."""
    event_id = "evt_" + uuid.uuid4().hex
    subject = subject or _subject(data)
    body = {"id": event_id, "type": event, "created_at": iso(t), "data": data}
    store.add_event(c, event_id, event, subject, t, json.dumps(body, ensure_ascii=False))
    queued = 0
    for endpoint_id in endpoint_ids:
        store.add_delivery(c, endpoint_id, event_id, subject, t)
        queued += _advance(c, endpoint_id, subject)
    return event_id, queued


def _advance(c: sqlite3.Connection, endpoint_id: int, subject: str) -> int:
    """Walk the subject's open deliveries to the endpoint, oldest first: those whose job is final
    are done; the first one without a job gets it, unless one before it is still being sent.
    Returns the number of jobs queued (0 or 1)."""
    for d in store.open_deliveries(c, endpoint_id, subject):
        if d["state"] == store.SENDING:
            if d["job_status"] is None or d["job_status"] in FINAL:
                store.set_done(c, d["id"])
                continue
            return 0
        _queue_job(c, d["id"])
        return 1
    return 0


def _queue_job(c: sqlite3.Connection, delivery_id: int) -> None:
    d = store.for_job(c, delivery_id)
    body = json.loads(d["body"])
    job_id = enqueue_job(c, Job(kind=EVENT, dedupe_key=f"event:{delivery_id}", rule="hooks", event=d["type"],
                                audience="webhook", target=d["url"], target_label=d["url"],
                                payload={"endpoint": d["endpoint_id"], "delivery": delivery_id, "event": body},
                                summary=f"{d['type']} {d['event_id']}"))
    if job_id is None:   # the dedupe key is the delivery's own: only a broken row could hold it
        raise RuntimeError(f"delivery {delivery_id} already has a job")
    store.set_sending(c, delivery_id, job_id)


def _status_data(c: sqlite3.Connection, p: sqlite3.Row) -> dict[str, Any] | None:
    m = store.message_facts(c, p["message_id"])
    if m is None:   # pruned since (retention): nothing left to say of it
        return None
    return {"message_id": m["id"], "status": p["status"], "previous_status": p["previous"], "channel": p["channel"],
            "previous_channel": p["previous_channel"],
            "recipient": m["recipient"], "order_id": m["order_id"], "order_number": m["number"], "rule": m["rule"],
            "rule_event": m["event"], "audience": m["audience"], "provider_id": m["provider_id"],
            "reason": reasons.english(p["reason"]) if p["reason"] else "", "changed_at": iso(p["at"])}


def pump(db: Database, job_ids: Sequence[str] | None = None) -> int:
    """Turn the captured status changes into events, and give the next delivery of a subject its
    job once the one before is done: of the subjects of `job_ids` (the event jobs the worker just
    recorded), or of every subject where something can move (None: the scheduler's pass). Returns
    the jobs queued. Reads only (no write lock) when there is nothing to do."""
    if not store.any_pending(db) and (not job_ids if job_ids is not None else not store.groups_to_advance(db, FINAL)):
        return 0
    queued = 0
    # Each transaction stops taking rows after TX_BUDGET (a row begun is finished): a bulk send's
    # backlog of status changes never holds the write lock long while webhooks wait for it.
    more = True
    while more:
        with db.tx() as c:
            started, done = time.monotonic(), None
            for p in store.pending(c, BATCH):
                data = _status_data(c, p)
                targets = store.subscribers(c, STATUS_CHANGED) if data is not None else []
                if targets:
                    queued += _new_event(c, STATUS_CHANGED, data, [r["id"] for r in targets], p["at"])[1]
                done = p["id"]
                if time.monotonic() - started > TX_BUDGET:
                    break
            if done is not None:
                store.drop_pending(c, done)
            more = done is not None and store.any_pending(c)
    groups = store.groups_to_advance(db, FINAL) if job_ids is None else store.groups_of_jobs(db, job_ids)
    i = 0
    while i < len(groups):
        with db.tx() as c:   # each walk reads its group again: what another process did meanwhile counts
            started = time.monotonic()
            while i < len(groups) and time.monotonic() - started <= TX_BUDGET:
                queued += _advance(c, groups[i]["endpoint_id"], groups[i]["subject"])
                i += 1
    return queued


def run(bridge: Any) -> int:
    """The scheduler's pass: status changes written by delivery reports, cancels and the other
    paths outside the worker become events; deliveries whose turn came get their job. Now and
    then, done deliveries older than RETAIN_MESSAGES_DAYS (their jobs are pruned then) go."""
    n = pump(bridge.db)
    if n:
        bridge.wake_worker()
    t = bridge.clock()
    days = bridge.settings.retain_messages_days
    if days > 0 and t - _pruned[0] >= bridge.settings.retain_every:
        _pruned[0] = t
        with bridge.db.tx() as c:
            store.prune(c, t - days * 86400, bridge.settings.retain_batch)
    return n


_pruned = [0.0]   # when this process last pruned


def replay(db: Database, delivery_id: int) -> int:
    """A new delivery of the same event (same id: a receiver that has it drops it) to the same
    endpoint, queued behind what is still open for its subject there. Returns its id."""
    with db.tx() as c:
        d = store.delivery(c, delivery_id)
        if d is None:
            raise Refused("hooks.no_delivery", id=delivery_id)
        new = store.add_delivery(c, d["endpoint_id"], d["event_id"], d["subject"], now(), replay_of=delivery_id)
        _advance(c, d["endpoint_id"], d["subject"])
    return new


def send_test(db: Database, endpoint_id: int) -> str:
    """An `endpoint.test` event to this endpoint only, whatever events it wants, signed like any
    other: the receiver's set-up is checked without waiting for a real event."""
    with db.tx() as c:
        ep = store.endpoint(c, endpoint_id)
        if ep is None:
            raise Refused("hooks.no_endpoint", id=endpoint_id)
        t = now()
        return _new_event(c, TEST, {"endpoint_id": endpoint_id, "url": ep["url"], "note": "a test event from woo-bridge"},
                          [endpoint_id], t, subject=f"test:{uuid.uuid4().hex}")[0]
