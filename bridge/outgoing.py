"""Outgoing events: what happened in the bridge, POSTed as signed JSON to the owner's URLs (a
chatbot, a CRM), durably through the outbox.

`emit` runs inside the caller's transaction, so an event exists exactly when what it tells of was
committed; it only inserts the event and one waiting delivery per endpoint, inside a savepoint,
and never raises: a payment or a COD answer is decided and kept whatever happens to its event.
`pump` (the worker after its sends, the scheduler each second) gives a waiting delivery its
outbox job (kind "event", carried out by the provider that declares that kind) only when the
endpoint has nothing earlier of the same subject (the message, the order) still on its way: a
subject's events reach an endpoint in the order they happened, each retried with the outbox's
backoff until it is delivered or given up before the next one goes. Status changes of messages
are captured by triggers on the outbox table (store/schema.py) whatever wrote them, and turned
into events by `pump` right after.

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
# Cloud metadata services outside link-local: Alibaba's (in the carrier-grade NAT range) and AWS's
# IPv6 one (inside the private ULA range http:// would otherwise allow). Refused for any scheme.
METADATA = (ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254"))
BATCH = 100   # captured status changes read per transaction (each may queue a job)
EVERY = 1.0   # seconds between the scheduler's passes (status changes written outside the worker)
# seconds one pruning pass (or a deletion's history) may take; what is left, the next pass takes
PRUNE_SECONDS = 3.0
REPLAY_ALL = 1000   # failed deliveries one "replay all failed" queues again (press again for more)

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
    "hooks.endpoint_disabled": N_("not sent yet: its URL was disabled; it goes when the URL is enabled again"),
})


# -- endpoints ---------------------------------------------------------------------------------
def check_url(url: str) -> str:
    """The URL as stored, or Refused with why. https anywhere; http only to this machine or a
    private network (a test receiver); never link-local (169.254.0.0/16, fe80::/10) nor another
    cloud metadata address (METADATA), in any scheme."""
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
    mapped = ip.ipv4_mapped if ip is not None and ip.version == 6 else None
    if ip is not None and (ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip in METADATA or
                           (mapped is not None and (mapped.is_link_local or mapped in METADATA))):
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
    """A disabled endpoint gets no new events; those already emitted for it wait (their jobs not
    yet sent are withdrawn, the deliveries back to waiting) and go, in order, once it is enabled
    again: a receiver switched off for a deploy loses nothing."""
    with db.tx() as c:
        if not store.set_enabled(c, endpoint_id, enabled, now()):
            raise Refused("hooks.no_endpoint", id=endpoint_id)
        if not enabled:
            for d in store.sending_of_endpoint(c, endpoint_id):
                if withdraw(c, job_key(d["event_id"], d["id"]), reasons.encode("hooks.endpoint_disabled")):
                    store.set_waiting(c, d["id"])


def rotate_secret(db: Database, endpoint_id: int) -> str:
    """A new secret (shown once): every delivery from now on is signed with it, retries included."""
    secret = new_secret()
    with db.tx() as c:
        if not store.set_secret(c, endpoint_id, secret, now()):
            raise Refused("hooks.no_endpoint", id=endpoint_id)
    return secret


def delete_endpoint(db: Database, endpoint_id: int, batch: int = 500) -> None:
    """The endpoint, and its jobs not sent yet cancelled in the outbox, in one short transaction
    (one being sent right now stops at the sender, which finds no endpoint of its id); then its
    history, `batch` deliveries per transaction, so webhooks never wait behind a year of it (what
    a crash leaves, the pruning pass takes)."""
    with db.tx() as c:
        for d in store.sending_of_endpoint(c, endpoint_id):
            withdraw(c, job_key(d["event_id"], d["id"]), reasons.encode("hooks.endpoint_deleted"))
        if not store.delete_endpoint(c, endpoint_id):
            raise Refused("hooks.no_endpoint", id=endpoint_id)
    purge_deleted(db, batch, time.monotonic() + PRUNE_SECONDS)


def purge_deleted(db: Database, batch: int, deadline: float) -> int:
    """Deliveries (and events) of deleted endpoints, `batch` per transaction, until none is left
    or `deadline` (monotonic) passed. Returns the deliveries deleted."""
    n = 0
    for endpoint_id in store.deleted_endpoint_ids(db):
        while time.monotonic() < deadline:
            with db.tx() as c:
                k = store.purge_batch(c, endpoint_id, batch)
            n += k
            if k < batch:
                break
    return n


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
    """Inside the caller's transaction: the event and a waiting delivery for every enabled
    endpoint that wants it (pump gives each its job). Returns the event id; None (after one index
    read) when no endpoint wants it, or when writing it failed: that is logged and undone alone
    (a savepoint), never raised, so the caller's payment or COD decision is kept."""
    try:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        targets = store.subscribers(c, event)   # a read: nothing to undo when it fails
        if not targets:
            return None
        c.execute("SAVEPOINT hooks_emit")
    except Exception:
        log.exception("outgoing event %s not emitted; what it tells of is kept", event)
        return None
    try:
        event_id = _new_event(c, event, data, [r["id"] for r in targets], now())
    except Exception:
        log.exception("outgoing event %s not emitted; what it tells of is kept", event)
        try:
            c.execute("ROLLBACK TO hooks_emit")
            c.execute("RELEASE hooks_emit")
        except sqlite3.Error:
            log.exception("outgoing event %s: the savepoint could not be undone", event)
        return None
    c.execute("RELEASE hooks_emit")
    return event_id


def _new_event(c: sqlite3.Connection, event: str, data: dict[str, Any], endpoint_ids: list[int], t: float,
               subject: str | None = None) -> str:
    """The event and its deliveries, waiting for their turn (pump). Returns its id."""
    event_id = "evt_" + uuid.uuid4().hex
    subject = subject or _subject(data)
    body = {"id": event_id, "type": event, "created_at": iso(t), "data": data}
    store.add_event(c, event_id, event, subject, t, json.dumps(body, ensure_ascii=False))
    for endpoint_id in endpoint_ids:
        store.add_delivery(c, endpoint_id, event_id, subject, t)
    return event_id


def job_key(event_id: str, delivery_id: int) -> str:
    """A delivery's job's dedupe key: the event id is random and delivery ids are never reused
    (AUTOINCREMENT), so no job left in the outbox by a deleted endpoint can hold it."""
    return f"event:{event_id}:{delivery_id}"


def _advance(c: sqlite3.Connection, endpoint_id: int, subject: str) -> int:
    """Walk the subject's open deliveries to the endpoint, oldest first: those whose job is final
    are done; the first one without a job gets it, unless one before it is still being sent or
    the endpoint is disabled or gone. Returns the number of jobs queued (0 or 1)."""
    ep = store.endpoint(c, endpoint_id)
    if ep is None:
        return 0
    for d in store.open_deliveries(c, endpoint_id, subject):
        if d["state"] == store.SENDING:
            if d["job_status"] is None or d["job_status"] in FINAL:
                store.set_done(c, d["id"])
                continue
            return 0
        if not ep["enabled"]:
            return 0
        return _queue_job(c, d["id"])
    return 0


def _queue_job(c: sqlite3.Connection, delivery_id: int) -> int:
    """The delivery's job (1), or 0 when its key is taken: then a job of this very delivery was
    queued before (a crash between the two writes cannot happen: one transaction), so it is
    logged and the delivery closed rather than stopping every subject behind it."""
    d = store.for_job(c, delivery_id)
    body = json.loads(d["body"])
    job_id = enqueue_job(c, Job(kind=EVENT, dedupe_key=job_key(d["event_id"], delivery_id), rule="hooks",
                                event=d["type"], audience="webhook", target=d["url"], target_label=d["url"],
                                payload={"endpoint": d["endpoint_id"], "delivery": delivery_id, "event": body},
                                summary=f"{d['type']} {d['event_id']}"))
    if job_id is None:
        log.error("outgoing event delivery %s: its job key is taken; closed", delivery_id)
        store.set_done(c, delivery_id)
        return 0
    store.set_sending(c, delivery_id, job_id)
    return 1


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
    recorded) and of every subject where something can move (new events included). Returns the
    jobs queued. Reads only (no write lock) when there is nothing to do; an empty `job_ids` (the
    worker sent no event job) with no status captured returns at once."""
    more = store.any_pending(db)
    if not more and job_ids is not None and not job_ids:
        return 0
    queued = 0
    # Each transaction stops taking rows after TX_BUDGET (a row begun is finished): a bulk send's
    # backlog of status changes never holds the write lock long while webhooks wait for it.
    while more:
        with db.tx() as c:
            started, done = time.monotonic(), None
            for p in store.pending(c, BATCH):
                data = _status_data(c, p)
                targets = store.subscribers(c, STATUS_CHANGED) if data is not None else []
                if targets:
                    _new_event(c, STATUS_CHANGED, data, [r["id"] for r in targets], p["at"])
                done = p["id"]
                if time.monotonic() - started > TX_BUDGET:
                    break
            if done is not None:
                store.drop_pending(c, done)
            more = done is not None and store.any_pending(c)
    # the jobs' subjects, and (new events wait for their first job) every subject that can move
    groups = store.groups_of_jobs(db, job_ids or []) + store.groups_to_advance(db, FINAL)
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
    if t - _pruned[0] >= bridge.settings.retain_every:
        _pruned[0] = t
        prune(bridge.db, t, bridge.settings.retain_messages_days, bridge.settings.retain_batch,
              time.monotonic() + PRUNE_SECONDS)
    return n


def prune(db: Database, t: float, days: float, batch: int, deadline: float) -> int:
    """The history of deleted endpoints, then (days > 0) done deliveries older than `days`: a
    transaction per `batch`, looping until nothing is left or `deadline` (monotonic) passed, so a
    busy shop's day of events is pruned in one pass. Returns the deliveries deleted."""
    n = purge_deleted(db, batch, deadline)
    while days > 0 and time.monotonic() < deadline:
        with db.tx() as c:
            k = store.prune(c, t - days * 86400, batch)
        n += k
        if k < batch:
            break
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


def replay_failed(db: Database, endpoint_id: int) -> int:
    """Every failed (or cancelled) delivery of the endpoint not replayed yet, oldest first, up to
    REPLAY_ALL: what a receiver missed while it was down. Returns how many were queued again."""
    with db.tx() as c:
        if store.endpoint(c, endpoint_id) is None:
            raise Refused("hooks.no_endpoint", id=endpoint_id)
        rows = store.failed_of_endpoint(c, endpoint_id, REPLAY_ALL)
        t = now()
        for d in rows:
            store.add_delivery(c, endpoint_id, d["event_id"], d["subject"], t, replay_of=d["id"])
        for subject in dict.fromkeys(d["subject"] for d in rows):
            _advance(c, endpoint_id, subject)
    return len(rows)


SHOWN_FOR = 300.0   # seconds a new secret waits to be shown once after its redirect


def stash_secret(db: Database, endpoint_id: int, secret: str) -> str:
    """A one-time token for the page after the POST's redirect: the secret is shown once there,
    and a reload shows nothing (and makes no second secret). The token is no secret's copy."""
    token = secrets.token_urlsafe(24)
    t = now()
    with db.tx() as c:
        store.stash_reveal(c, token, json.dumps({"endpoint": endpoint_id, "secret": secret}), t, t - SHOWN_FOR)
    return token


def take_secret(db: Database, endpoint_id: int, token: str) -> str | None:
    """The secret stashed under `token` for this endpoint, once; None after that or when late."""
    with db.tx() as c:
        value = store.take_reveal(c, token, now() - SHOWN_FOR)
    if value is None:
        return None
    stashed = json.loads(value)
    return stashed["secret"] if stashed["endpoint"] == endpoint_id else None


def send_test(db: Database, endpoint_id: int) -> str:
    """An `endpoint.test` event to this endpoint only, whatever events it wants, signed like any
    other: the receiver's set-up is checked without waiting for a real event."""
    with db.tx() as c:
        ep = store.endpoint(c, endpoint_id)
        if ep is None:
            raise Refused("hooks.no_endpoint", id=endpoint_id)
        subject = f"test:{uuid.uuid4().hex}"
        event_id = _new_event(c, TEST, {"endpoint_id": endpoint_id, "url": ep["url"],
                                        "note": "a test event from woo-bridge"}, [endpoint_id], now(), subject=subject)
        _advance(c, endpoint_id, subject)
        return event_id
