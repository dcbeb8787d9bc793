"""Outgoing events (bridge/outgoing.py): every status a message takes, whichever path wrote it,
reaches the owner's URL signed, at least once per event id, in order per message, through a
receiver that fails and recovers; nothing is queued while no URL wants an event."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter

import pytest

from bridge import outbox, outgoing
from bridge.store import hooks as store
from bridge.outbox import Attempt, Draft, enqueue, record_results
from bridge.sending import Outcome, SendResult, StatusReport, Event
from bridge.phones import normalize_phone
from bridge.smstext import prepare
from tests.conftest import wait_until
from tests.fakes.event_receiver import EventReceiver

TOLERANCE = 300   # seconds: what the README tells receivers to accept


def verify(secret: str, header: str, body: bytes, now: float) -> bool:
    """The README's verification, written again here from the documented scheme."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    t = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(now - t) <= TOLERANCE and hmac.compare_digest(expected, parts["v1"])


def draft(key: str, channels: tuple[str, ...] = ("dry-run",), **kw) -> Draft:
    return Draft.to_phone(normalize_phone("0912345678"), dedupe_key=key, rule="test", event="test", audience="customer",
                          channels=channels, sms=prepare("Don hang cua ban da duoc xac nhan", False), **kw)


def datas(svc, mid: str) -> list[dict]:
    """The data of every message.status_changed event of `mid`, in the order emitted."""
    rows = svc.db.query("SELECT body FROM hook_events WHERE subject=? ORDER BY rowid", (f"message:{mid}",))
    return [json.loads(r["body"])["data"] for r in rows]


def statuses(svc, mid: str) -> list[tuple[str | None, str]]:
    return [(d["previous_status"], d["status"]) for d in datas(svc, mid)]


@pytest.fixture
def receiver():
    r = EventReceiver().start()
    yield r
    r.stop()


def test_a_receiver_that_fails_then_recovers_gets_every_event_in_order_signed(service_factory, receiver):
    svc = service_factory(start_scheduler=True, send_max_attempts=200)
    endpoint_id, secret = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.STATUS_CHANGED])
    receiver.fail_next(6, 500)
    with svc.db.tx() as c:
        mids = [enqueue(c, draft(f"k{i}")) for i in range(5)]
    svc.bridge.wake_worker()
    wait_until(lambda: receiver.answered(500) == 6, 20, what="six answers 500")
    receiver.stop()   # nothing listens: connection refused
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM attempts WHERE channel='http-events' AND code='connection'")
               >= 3, 20, what="connection refused, retried")
    receiver.lose_next(1)   # back, but the first answer is lost after acting on it
    receiver.start()
    expected = {r["id"] for r in svc.db.query("SELECT id FROM hook_events")}
    wait_until(lambda: set(receiver.acted) >= expected and len(expected) == 10, 30, what="every event acted on")
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM hook_deliveries WHERE state != 'done'") == 0, 10,
               what="every delivery done")

    # every message: pending (on insert), then dry-run; an event of a message never overtakes an earlier one
    for mid in mids:
        assert statuses(svc, mid) == [(None, "pending"), ("pending", "dry-run")]
        ids = [r["id"] for r in svc.db.query("SELECT id FROM hook_events WHERE subject=? ORDER BY rowid",
                                              (f"message:{mid}",))]
        first_seen = sorted(ids, key=receiver.acted.index)
        assert first_seen == ids
        acted_for_mid = [e for e in receiver.acted if e in ids]
        assert acted_for_mid == sorted(acted_for_mid, key=ids.index)   # repeats included: never back in time
    # at least once: the one lost answer is the one duplicate, with the same id to drop it by
    counts = Counter(receiver.acted)
    assert set(counts) == expected and sum(counts.values()) - len(counts) == 1
    # every request, failed ones too, carries a signature the documented scheme verifies
    for r in receiver.requests:
        assert verify(secret, r.headers["x-woobridge-signature"], r.body, time.time())
        assert r.headers["idempotency-key"] == r.headers["x-woobridge-event-id"]
        assert not verify("whsec_wrong", r.headers["x-woobridge-signature"], r.body, time.time())
        assert secret.encode() not in r.body
    event = receiver.bodies[ids[-1]]
    assert event["type"] == "message.status_changed" and event["data"]["message_id"] == mids[-1]
    assert event["data"]["recipient"] == "+84912345678" and "text" not in event["data"]
    # the admin's record of a delivery: its answers, attempts and the answer's bounded excerpt
    rows = outgoing.store.recent(svc.db, endpoint_id, 100)
    assert len(rows) == 10 and all(r["job_status"] == "delivered" for r in rows)
    assert svc.db.scalar("SELECT COUNT(*) FROM attempts WHERE channel='http-events' AND code='500'") == 6
    assert max(len(r["detail"]) for r in svc.db.query("SELECT detail FROM attempts WHERE code='500'")) < 400


def test_a_changed_body_or_old_timestamp_fails_verification(service_factory, receiver):
    svc = service_factory(start_scheduler=True)
    _, secret = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.STATUS_CHANGED])
    with svc.db.tx() as c:
        enqueue(c, draft("one"))
    svc.bridge.wake_worker()
    wait_until(lambda: len(receiver.acted) >= 2, 10, what="two events")
    r = receiver.requests[0]
    header = r.headers["x-woobridge-signature"]
    assert verify(secret, header, r.body, time.time())
    assert not verify(secret, header, r.body.replace(b"pending", b"delivered"), time.time())
    assert not verify(secret, header, r.body, time.time() + TOLERANCE + 5)


def test_every_path_that_moves_a_message_emits_its_status(service_factory, receiver):
    """sent (queued), delivered by a report, failed, cancelled, in doubt, fell back (at once, and
    for want of a report), in doubt resolved to the next channel, marked delivered by a person,
    resent: each path's change is an event with the status (and channel) before."""
    svc = service_factory(in_doubt_after=0.001)
    outgoing.add_endpoint(svc.db, receiver.url, [outgoing.STATUS_CHANGED])
    s = svc.settings
    with svc.db.tx() as c:
        sent = enqueue(c, draft("sent", ("esms",)))
        failed = enqueue(c, draft("failed", ("esms",)))
        doubt = enqueue(c, draft("doubt", ("messenger", "esms")))
        doubt2 = enqueue(c, draft("doubt2", ("messenger", "esms")))
        fell = enqueue(c, draft("fell", ("esms", "smsgate")))
        stalled = enqueue(c, draft("stalled", ("esms", "smsgate"), fallback_after=1.0))
        later = enqueue(c, draft("later", due_at=time.time() + 3600))
        no_phone = enqueue(c, Draft.to_phone(normalize_phone(""), dedupe_key="nophone", rule="t", event="t",
                                             audience="customer", channels=("esms",), sms=prepare("x", False)))

    def row(mid):
        return svc.db.one("SELECT * FROM messages WHERE id=?", (mid,))

    record_results(svc.db, [
        Attempt(row(sent), "esms", SendResult(Outcome.ACCEPTED, provider_id="p-sent"), 10.0),
        Attempt(row(failed), "esms", SendResult(Outcome.PERMANENT, code="x", detail="refused"), 10.0),
        Attempt(row(doubt), "messenger", SendResult(Outcome.TRANSIENT, maybe_taken=True, detail="timeout"), 10.0,
                ("esms",)),
        Attempt(row(doubt2), "messenger", SendResult(Outcome.TRANSIENT, maybe_taken=True, detail="timeout"), 10.0,
                ("esms",)),
        Attempt(row(fell), "esms", SendResult(Outcome.UNAVAILABLE, detail="no Zalo"), 10.0, ("smsgate",)),
        Attempt(row(stalled), "esms", SendResult(Outcome.ACCEPTED, provider_id="p-stalled"), 10.0, ("smsgate",)),
    ], s.send_max_attempts, s.send_backoff_base, s.send_backoff_max, s.in_doubt_after)
    outbox.apply_report(svc.db, "esms", StatusReport(Event.DELIVERED, "p-sent", "delivered"), "p-sent")
    outbox.cancel(svc.db, later, "test")
    outbox.mark_delivered(svc.db, doubt, "test")
    outbox.advance_stalled(svc.db, at=time.time() + 5)
    wait_until(lambda: outbox.resolve_in_doubt(svc.db), 5, what="the in-doubt message's next channel")
    copy = outbox.resend(svc.db, failed, None, "test")
    outgoing.pump(svc.db)

    assert statuses(svc, sent) == [(None, "pending"), ("pending", "queued"), ("queued", "delivered")]
    assert statuses(svc, failed) == [(None, "pending"), ("pending", "failed")]
    assert statuses(svc, doubt) == [(None, "pending"), ("pending", "in-doubt"), ("in-doubt", "delivered")]
    assert statuses(svc, doubt2) == [(None, "pending"), ("pending", "in-doubt"), ("in-doubt", "pending")]
    assert statuses(svc, fell) == [(None, "pending"), ("pending", "pending")]
    assert statuses(svc, stalled) == [(None, "pending"), ("pending", "queued"), ("queued", "pending")]
    assert statuses(svc, later) == [(None, "scheduled"), ("scheduled", "cancelled")]
    assert statuses(svc, no_phone) == [(None, "failed")]
    assert statuses(svc, copy) == [(None, "pending")]
    moved = [d for d in datas(svc, fell) if d["previous_status"] == "pending"][0]
    assert (moved["previous_channel"], moved["channel"]) == ("esms", "smsgate") and "Zalo" in moved["reason"]


def test_nothing_is_captured_or_queued_while_no_url_wants_an_event(service_factory, receiver):
    svc = service_factory()
    with svc.db.tx() as c:
        enqueue(c, draft("quiet"))
    svc.bridge.worker.drain()
    assert svc.db.scalar("SELECT COUNT(*) FROM hook_pending") == 0
    endpoint_id, _ = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.RECEIVED])   # another event
    with svc.db.tx() as c:
        enqueue(c, draft("still quiet"))
    svc.bridge.worker.drain()
    assert svc.db.scalar("SELECT COUNT(*) FROM hook_pending") == 0
    outgoing.set_events(svc.db, endpoint_id, [outgoing.STATUS_CHANGED])
    outgoing.set_enabled(svc.db, endpoint_id, False)   # disabled: wants it, gets nothing
    with svc.db.tx() as c:
        enqueue(c, draft("disabled"))
    svc.bridge.worker.drain()
    assert svc.db.scalar("SELECT COUNT(*) FROM hook_pending") == 0
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE kind='event'") == 0


def test_deleting_a_url_cancels_what_still_waits_for_it(service_factory, receiver):
    svc = service_factory(start_scheduler=True, send_max_attempts=200)
    endpoint_id, _ = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.STATUS_CHANGED])
    receiver.stop()
    with svc.db.tx() as c:
        enqueue(c, draft("a"))
    svc.bridge.wake_worker()
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM attempts WHERE channel='http-events'") >= 2, 10,
               what="retries against a closed port")
    outgoing.delete_endpoint(svc.db, endpoint_id)
    # cancelled in the outbox; one being sent at that moment stops at the sender on its next try
    jobs = wait_until(lambda: (lambda rows: rows if all(r["status"] in ("cancelled", "failed") for r in rows) else None)(
        svc.db.query("SELECT status, reason FROM messages WHERE kind='event'")), 10, what="the jobs stopped")
    assert all("deleted" in j["reason"] for j in jobs)
    old_events = {r["id"] for r in svc.db.query("SELECT id FROM hook_events")}
    # the same URL again: a new id (never reused), a new secret; only what happens from now on goes
    again, secret = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.STATUS_CHANGED])
    assert again != endpoint_id
    receiver.start()
    with svc.db.tx() as c:
        mid = enqueue(c, draft("b"))
    svc.bridge.wake_worker()
    wait_until(lambda: len(receiver.acted) == 2, 10, what="the new message's two events")
    assert [receiver.bodies[e]["data"]["message_id"] for e in receiver.acted] == [mid, mid]
    assert not old_events & set(receiver.acted)
    assert all(verify(secret, r.headers["x-woobridge-signature"], r.body, time.time()) for r in receiver.requests)
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM hook_deliveries WHERE endpoint_id=?", (endpoint_id,)) == 0,
               10, what="the deleted URL's history gone")


def test_a_job_of_a_deleted_endpoint_is_never_signed_with_a_new_secret(service_factory, receiver):
    """A job already claimed when its URL is deleted cannot be withdrawn: the sender checks the
    endpoint id it carries, and ids are never reused, so re-adding the same URL does not adopt it."""
    svc = service_factory()
    endpoint_id, _ = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.STATUS_CHANGED])
    with svc.db.tx() as c:
        enqueue(c, draft("a"))
    outgoing.pump(svc.db)
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE kind='event'") == 1
    old_event = svc.db.scalar("SELECT id FROM hook_events")
    with svc.db.tx() as c:   # deleted while the job is out of reach of the withdraw (being sent)
        assert store.delete_endpoint(c, endpoint_id)
    again, _ = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.STATUS_CHANGED])
    assert again != endpoint_id
    svc.bridge.worker.drain()
    job = svc.db.one("SELECT id, status FROM messages WHERE kind='event' ORDER BY created_at LIMIT 1")
    assert job["status"] == "failed"
    assert svc.db.scalar("SELECT code FROM attempts WHERE message_id=?", (job["id"],)) == "deleted"
    assert old_event not in {r.headers["x-woobridge-event-id"] for r in receiver.requests}


def test_events_survive_kill_9_and_are_sent_after_the_restart(tmp_path, receiver):
    """Texts acknowledged, then the process killed: after the restart every text is one event
    (one id, however far its decision and its delivery had got), and the receiver gets each."""
    import requests
    from bridge.store.db import Database
    from tests.conftest import ROOT, ServiceProcess
    db_path = tmp_path / "bridge.db"
    env = {"BRIDGE_DB": str(db_path), "MAPPINGS_DIR": str(ROOT / "mappings"), "FIBO_TOKEN": "fibo-token",
           "FIBO_PAYMENTS": "off", "OWNER_PHONES": "", "WORKER_INTERVAL": "0.1", "SEND_LEASE": "1",
           "SEND_BACKOFF_BASE": "0.1", "SEND_BACKOFF_MAX": "0.3", "SEND_MAX_ATTEMPTS": "200"}
    svc = ServiceProcess(env).start()
    texts = [f"Khach hoi don so {i}" for i in range(8)]
    try:
        outgoing.add_endpoint(Database(str(db_path)), receiver.url, [outgoing.RECEIVED])
        receiver.stop()   # the deliveries fail until after the restart
        for i, text in enumerate(texts):
            r = requests.get(svc.url + "/inbound/fibo", params={"token": "fibo-token", "phone": "0912345678",
                                                                "message": text, "guid": f"g{i}"}, timeout=5)
            assert r.status_code == 200
        svc.kill9()
    finally:
        svc.stop()
    receiver.start()
    again = ServiceProcess(env, port=svc.port).start()
    try:
        wait_until(lambda: {e["data"]["text"] for e in receiver.bodies.values()} == set(texts), 30,
                   what="every text's event after the restart")
    finally:
        again.stop()
    db = Database(str(db_path))
    assert db.scalar("SELECT COUNT(*) FROM hook_events") == len(texts)   # one event per text, never two
    assert len(receiver.bodies) == len(texts)


def traced(conn, run):
    """The statements `run` executed on this connection, in order."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    return seen


def test_the_scheduler_pass_reads_only_open_deliveries(service_factory):
    """Each second the scheduler asks where something can move: through the partial indexes of
    'sending' and 'waiting', never a scan of the done deliveries a year leaves."""
    svc = service_factory()
    conn = svc.db.conn()
    (sql,) = [s for s in traced(conn, lambda: store.groups_to_advance(conn, outgoing.FINAL)) if "hook_deliveries" in s]
    plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    on_deliveries = [p for p in plan if p.startswith(("SCAN d", "SEARCH d", "SCAN p", "SEARCH p"))]
    assert "SCAN d USING INDEX idx_hook_deliveries_sending" in on_deliveries
    assert "SCAN d USING INDEX idx_hook_deliveries_waiting" in on_deliveries
    before = [p for p in on_deliveries if p.endswith("(endpoint_id=? AND subject=? AND id<?)")]
    assert before and all("idx_hook_deliveries_open" in p for p in before)
    assert not [p for p in on_deliveries if "USING" not in p], plan


def old_done_history(svc, endpoint_id: int, n: int, at: float = 0.0) -> None:
    with svc.db.tx() as c:
        c.executemany("INSERT INTO hook_events(id, type, subject, created_at, body) VALUES (?,?,?,?,'{}')",
                      [(f"e{i}", outgoing.STATUS_CHANGED, f"message:{i}", at) for i in range(n)])
        c.executemany("INSERT INTO hook_deliveries(endpoint_id, event_id, subject, state, created_at)"
                      " VALUES (?,?,?,'done',?)", [(endpoint_id, f"e{i}", f"message:{i}", at) for i in range(n)])


def test_one_pruning_pass_takes_many_batches(service_factory):
    """A busy shop makes more than one batch of events between two passes: a pass loops batch
    after batch (each its own short transaction) until the old history is gone."""
    svc = service_factory()
    endpoint_id, _ = outgoing.add_endpoint(svc.db, "https://crm.example.vn/hook", [outgoing.STATUS_CHANGED])
    old_done_history(svc, endpoint_id, 450)
    with svc.db.tx() as c:   # one still open: never pruned, however old
        c.execute("UPDATE hook_deliveries SET state='waiting' WHERE event_id='e449'")
    n = outgoing.prune(svc.db, time.time(), 1, 100, time.monotonic() + 30)
    assert n == 449
    assert svc.db.scalar("SELECT COUNT(*) FROM hook_deliveries") == 1
    assert svc.db.scalar("SELECT COUNT(*) FROM hook_events") == 1


def test_deleting_a_url_with_a_long_history_holds_the_lock_a_batch_at_a_time(service_factory):
    svc = service_factory()
    endpoint_id, _ = outgoing.add_endpoint(svc.db, "https://crm.example.vn/hook", [outgoing.STATUS_CHANGED])
    old_done_history(svc, endpoint_id, 230)
    conn = svc.db.conn()
    deleted: list[str] = []
    conn.create_function("noted", 0, lambda: deleted.append("row"))
    conn.execute("CREATE TEMP TRIGGER noted_delete AFTER DELETE ON hook_deliveries BEGIN SELECT noted(); END")
    per_tx, rows = [], 0

    def seen(sql: str) -> None:
        nonlocal rows
        if sql.startswith("COMMIT"):
            per_tx.append(len(deleted) - rows)
            rows = len(deleted)
    conn.set_trace_callback(seen)
    try:
        outgoing.delete_endpoint(svc.db, endpoint_id, batch=50)
    finally:
        conn.set_trace_callback(None)
    assert len(deleted) == 230 and max(per_tx) <= 50 and len([n for n in per_tx if n]) == 5
    assert svc.db.scalar("SELECT COUNT(*) FROM hook_events") == 0


def test_a_receiver_answering_404_during_its_deploy_gets_the_event_later(service_factory, receiver):
    svc = service_factory(start_scheduler=True, send_backoff_base=0.1, send_backoff_max=0.2)
    outgoing.add_endpoint(svc.db, receiver.url, [outgoing.STATUS_CHANGED])
    receiver.fail_next(3, 404)
    with svc.db.tx() as c:
        mid = enqueue(c, draft("a"))
    svc.bridge.wake_worker()
    wait_until(lambda: len(receiver.acted) == 2, 20, what="both events, after three 404s")
    assert receiver.answered(404) == 3
    assert [receiver.bodies[e]["data"]["status"] for e in receiver.acted] == ["pending", "dry-run"]
    assert statuses(svc, mid) == [(None, "pending"), ("pending", "dry-run")]


def test_410_gone_stops_at_once_and_is_replayed_with_the_other_failures(service_factory, receiver):
    svc = service_factory(start_scheduler=True)
    endpoint_id, _ = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.STATUS_CHANGED])
    receiver.fail_next(2, 410)
    with svc.db.tx() as c:
        enqueue(c, draft("a"))
    svc.bridge.wake_worker()
    wait_until(lambda: receiver.answered(410) == 2 and svc.db.scalar(
        "SELECT COUNT(*) FROM messages WHERE kind='event' AND status='failed'") == 2, 10, what="two given up")
    assert receiver.acted == []
    assert outgoing.replay_failed(svc.db, endpoint_id) == 2
    svc.bridge.wake_worker()
    wait_until(lambda: len(receiver.acted) == 2, 10, what="both replayed")
    assert [receiver.bodies[e]["data"]["status"] for e in receiver.acted] == ["pending", "dry-run"]
    assert outgoing.replay_failed(svc.db, endpoint_id) == 0   # each failure is replayed once
