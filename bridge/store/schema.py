"""The schema and its migrations: safe to run on every start and from several processes.

Each version adds tables, columns and indexes with `if_not_exists`, so an older database is
upgraded in place; data moves between versions are written to run once and be harmless again.
"""
from __future__ import annotations

import logging
import sqlite3

import sqlite_utils

from .db import Database
from .messages import TEMPLATE_FAILURES
from .search import RECIPIENTS

SCHEMA_VERSION = 15
# How long a process starting beside an upgrade waits for it. v11 -> v12 at a year of data
# (1,000,000 messages: the folded search index and the tallies are built from every row) held
# the write lock about 3 minutes on a loaded 2-CPU machine; the default busy timeout (15 s) made
# the second process (web beside worker, `bridge init` beside a running service) fail instead.
UPGRADE_WAIT_S = 3600

log = logging.getLogger(__name__)


def migrate(db: Database) -> None:
    """Create or upgrade the schema inside one write transaction. A process that finds the schema
    older waits for the process already upgrading it (its transaction holds the write lock; the
    upgrade is then a no-op here) rather than failing after the busy timeout."""
    c = db.conn()
    found = schema_version(db)
    if found >= SCHEMA_VERSION:
        _upgrade(db, c)
        return
    log.info("database schema v%d is older than v%d: upgrading (at a year of data this takes minutes)",
             found, SCHEMA_VERSION)
    try:
        db.set_busy_timeout(c, 0)
        try:
            _upgrade(db, c)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            log.warning("another process holds the database, likely upgrading its schema: waiting up to %d s"
                        " for it", UPGRADE_WAIT_S)
            db.set_busy_timeout(c, UPGRADE_WAIT_S * 1000)
            _upgrade(db, c)
    finally:
        db.set_busy_timeout(c, db.busy_timeout_ms)
    log.info("database schema upgraded to v%d", SCHEMA_VERSION)


def _upgrade(db: Database, c: sqlite3.Connection) -> None:
    with db.tx():
        _create_schema(sqlite_utils.Database(c), c.execute("PRAGMA user_version").fetchone()[0])
        c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def schema_version(db: Database) -> int:
    return db.scalar("PRAGMA user_version")


def _create_schema(db: sqlite_utils.Database, found: int) -> None:
    """Every table, index and trigger, created when missing (each start); `found`: the version the
    database had, so work that reads every row of a table runs only on the upgrade that needs it."""
    db["kv"].create({"key": str, "value": str, "updated_at": float}, pk="key", if_not_exists=True)

    # Every accepted WooCommerce delivery, raw, before anything is decided from it.
    db["deliveries"].create({
        "id": int, "received_at": float, "delivery_id": str, "webhook_id": str, "topic": str,
        "resource": str, "resource_id": int, "source_url": str, "headers": str, "body": bytes,
        "state": str, "reason": str, "processed_at": float,
    }, pk="id", if_not_exists=True)   # its indexes: v14 below

    # Requests we refused (bad signature, malformed, too large...): kept so an admin sees them.
    db["rejections"].create({
        "id": int, "at": float, "endpoint": str, "http_status": int, "reason": str,
        "remote_addr": str, "headers": str, "body_excerpt": bytes,
    }, pk="id", if_not_exists=True)

    db["orders"].create({
        "id": int, "number": str, "order_key": str, "status": str, "date_modified_gmt": str,
        "notified_status": str, "notified_at": float, "payment_method": str,
        "payment_method_title": str, "currency": str, "total_minor": int, "customer_name": str,
        "phone_raw": str, "phone_e164": str, "email": str, "source_url": str, "deleted": int,
        "body": str, "first_seen_at": float, "updated_at": float,
    }, pk="id", if_not_exists=True)
    db["orders"].create_index(["status"], if_not_exists=True)

    db["customers"].create({
        "id": int, "name": str, "phone_raw": str, "phone_e164": str, "email": str,
        "welcomed_at": float, "body": str, "first_seen_at": float, "updated_at": float,
    }, pk="id", if_not_exists=True)

    # The outbox: a message is a row here before any provider is called.
    db["messages"].create({
        "id": str, "created_at": float, "updated_at": float, "dedupe_key": str,
        "delivery_ref": int, "order_id": int, "customer_id": int, "rule": str, "event": str,
        "audience": str, "channel": str, "recipient_raw": str, "recipient": str, "text": str,
        "encoding": str, "length": int, "segments": int, "status": str, "reason": str,
        "attempts": int, "due_at": float, "lease_until": float, "provider_id": str,
        "provider_status": str, "sent_at": float, "delivered_at": float, "last_polled_at": float,
    }, pk="id", not_null={"status", "dedupe_key"}, defaults={"attempts": 0}, if_not_exists=True)
    db["messages"].create_index(["dedupe_key"], unique=True, if_not_exists=True)
    db["messages"].create_index(["status", "due_at"], if_not_exists=True)
    db["messages"].create_index(["provider_id"], if_not_exists=True)
    db["messages"].create_index(["order_id"], if_not_exists=True)

    # One row per call to a provider, with its answer.
    db["attempts"].create({
        "id": int, "message_id": str, "at": float, "channel": str, "outcome": str, "code": str,
        "detail": str, "duration_ms": float,
    }, pk="id", if_not_exists=True)
    db["attempts"].create_index(["message_id"], if_not_exists=True)

    # Delivery reports (callbacks and polls), raw payload beside the normalized event.
    db["message_events"].create({
        "id": int, "at": float, "message_id": str, "source": str, "provider_id": str,
        "event": str, "raw": str,
    }, pk="id", if_not_exists=True)
    db["message_events"].create_index(["message_id"], if_not_exists=True)

    # v2: the shop's phones, and channel fallback / urgency per message.
    _ensure_columns(db["messages"], {"device": str, "urgent": int, "fallback": str})
    db["devices"].create({
        "name": str, "next_at": float, "consecutive_failures": int, "paused_until": float,
        "pause_reason": str, "last_used_at": float,
    }, pk="name", if_not_exists=True)
    db["device_sends"].create({"id": int, "device": str, "at": float}, pk="id", if_not_exists=True)
    db["device_sends"].create_index(["device", "at"], if_not_exists=True)

    # Every inbound SMS (phone gateway, Fibo) before anything is decided from it.
    db["inbox"].create({
        "id": int, "created_at": float, "source": str, "external_id": str, "device": str, "sim": int,
        "sender": str, "recipient": str, "text": str, "received_at": float, "raw": str, "state": str,
        "handled_by": str, "reason": str,
    }, pk="id", if_not_exists=True)
    db["inbox"].create_index(["source", "external_id"], unique=True, if_not_exists=True)

    # v3: payments. Every bank/MoMo message read becomes a row with its decision and reason.
    _ensure_columns(db["orders"], {"paid_at": float, "paid_transaction": int})
    db["orders"].create_index(["number"], if_not_exists=True)
    _ensure_columns(db["inbox"], {"package": str, "title": str})
    db["transactions"].create({
        "id": int, "created_at": float, "inbox_id": int, "source": str, "sender": str, "channel": str, "bank": str,
        "family": str, "kind": str, "direction": str, "amount": int, "balance": int, "memo": str, "account": str,
        "time_printed": str, "reference": str, "text": str, "fingerprint": str, "duplicate_of": int,
        "order_id": int, "code": str, "decision": str, "reason": str, "review_action": str, "reviewed_by": str,
        "reviewed_at": float, "review_note": str,
    }, pk="id", if_not_exists=True)
    db["transactions"].create_index(["fingerprint"], unique=True, if_not_exists=True)
    db["transactions"].create_index(["decision", "review_action"], if_not_exists=True)
    db["transactions"].create_index(["order_id"], if_not_exists=True)

    # v4: lookups that must stay indexed as the tables grow (bench/match.py measures them):
    # a transaction by its inbox row (restart idempotence), an inbox twin by sender and text,
    # an order by the key in its /pay link.
    db["transactions"].create_index(["inbox_id"], if_not_exists=True)
    db["inbox"].create_index(["sender", "text", "received_at"], if_not_exists=True)
    db.execute("DROP INDEX IF EXISTS idx_inbox_sender_received_at")  # v2's; the planner preferred it, scanning
    db["orders"].create_index(["order_key"], if_not_exists=True)

    # v5: channel chains and Messenger. `payload` holds what a rule adds beyond the text (a link
    # button, a Zalo template); `leg` counts the channels a message has fallen through; every
    # finished leg is kept in message_legs with its provider id, so a late report still lands.
    _ensure_columns(db["messages"], {"payload": str, "leg": int, "fallback_after": float})
    db["message_legs"].create({
        "id": int, "message_id": str, "leg": int, "channel": str, "provider_id": str, "started_at": float,
        "ended_at": float, "outcome": str, "reason": str,
    }, pk="id", if_not_exists=True)
    db["message_legs"].create_index(["message_id"], if_not_exists=True)
    db["message_legs"].create_index(["provider_id"], if_not_exists=True)
    # Who a Messenger user (PSID) is, bound through a signed m.me ref, and when they last wrote.
    db["messenger_contacts"].create({
        "psid": str, "phone_e164": str, "email": str, "customer_id": int, "order_id": int, "name": str,
        "bound_at": float, "last_inbound_at": float, "updated_at": float,
    }, pk="psid", if_not_exists=True)
    db["messenger_contacts"].create_index(["phone_e164"], if_not_exists=True)
    db["messenger_contacts"].create_index(["email"], if_not_exists=True)
    # v6 (security): repeated refusals are one row with a count; failed admin sign-ins shared by
    # every web process; the admin session generation; Messenger refs used once, and bindings of
    # an already-bound phone waiting for the admin.
    _ensure_columns(db["rejections"], {"count": int, "last_at": float})
    db["rejections"].create_index(["endpoint", "reason", "remote_addr", "at"], if_not_exists=True)
    db["login_failures"].create({"id": int, "at": float, "remote": str}, pk="id", if_not_exists=True)
    db["login_failures"].create_index(["remote", "at"], if_not_exists=True)
    db["login_failures"].create_index(["at"], if_not_exists=True)
    db["messenger_refs"].create({"ref_hash": str, "psid": str, "used_at": float}, pk="ref_hash", if_not_exists=True)
    db["messenger_pending"].create({
        "id": int, "psid": str, "phone_e164": str, "email": str, "customer_id": int, "order_id": int, "name": str,
        "bound_psid": str, "requested_at": float, "decision": str, "decided_at": float, "decided_by": str,
    }, pk="id", if_not_exists=True)
    db["messenger_pending"].create_index(["decision"], if_not_exists=True)
    # Full-text search over messages for the admin (text and recipients; "nguyen" finds "Nguyễn").
    if not db["messages_fts"].exists():
        db["messages"].enable_fts(["text", "recipient", "recipient_raw"], create_triggers=True,
                                  tokenize="unicode61 remove_diacritics 2")

    # v7: WooCommerce repeats X-WC-Webhook-Delivery-ID for every delivery of one webhook within a
    # second, so it is no identity: an exact replay is (webhook, delivery id, body) hashed.
    _ensure_columns(db["deliveries"], {"replay_key": str})
    db.execute("DROP INDEX IF EXISTS idx_deliveries_delivery_id")
    # Why a customer got no welcome (registered without a phone), for the admin.
    _ensure_columns(db["customers"], {"welcome_skipped": str})

    # v8: the outbox carries jobs, not only messages. `kind` says what a row does ('message': an
    # SMS or chat message with text and segments; 'order_update', 'forward': a job whose `payload`
    # is everything its channel needs). Rows from before were all messages, the jobs among them
    # with their JSON in `text`: that JSON moves to `payload` and `text` becomes what a person reads.
    _ensure_columns(db["messages"], {"kind": str})
    if found < 8:   # reads every message: once, on the upgrade to v8 (2 s per start at a million)
        _kinds_for_old_rows(db)

    # v9 (issue 14): payments from every source. A transaction reported as fields (SePay, Casso,
    # payOS) keeps them in the inbox row (`fields`, JSON); a transaction row keeps what compares it
    # with the same transfer seen by another source (bank payments/transfer.py): the bank's time,
    # the account's last digits, the reference as compared, and `event_at` (the bank's time, or
    # when it reached us) that the comparison and the bank-to-shop latency are read by.
    _ensure_columns(db["inbox"], {"fields": str})
    _ensure_columns(db["transactions"], {"bank_time": float, "account_tail": str, "ref_key": str, "event_at": float})
    db["transactions"].create_index(["bank", "amount", "event_at"], if_not_exists=True)
    db["transactions"].create_index(["duplicate_of"], if_not_exists=True)   # a record's twins, by source
    # Orders a review item may mean (payments/suggestions.py): by amount, by the payer's phone,
    # by when they were first seen; each an index lookup with 100,000 orders awaiting payment.
    db["orders"].create_index(["total_minor"], if_not_exists=True)
    db["orders"].create_index(["phone_e164"], if_not_exists=True)
    db["orders"].create_index(["first_seen_at"], if_not_exists=True)
    # payOS payment links (bridge/store/payos.py): one per order, its orderCode fixed before payOS is asked.
    db["payos_links"].create({
        "order_id": int, "order_code": int, "number": str, "amount": int, "description": str, "state": str,
        "link_id": str, "checkout_url": str, "qr_code": str, "bin": str, "account": str, "link_status": str,
        "attempts": int, "next_at": float, "error": str, "created_at": float, "updated_at": float, "checked_at": float,
    }, pk="order_id", if_not_exists=True)
    db["payos_links"].create_index(["order_code"], unique=True, if_not_exists=True)
    db["payos_links"].create_index(["state", "next_at"], if_not_exists=True)
    # An unpaid bank-transfer order cancelled for want of payment (PAYMENT_EXPIRE_HOURS): when, set
    # once in the transaction that queues the cancel and the customer's message.
    _ensure_columns(db["orders"], {"expired_at": float})
    # unknown bank layouts (template drift) counted per bank over the last 30 days
    db["transactions"].create_index(["family", "created_at"], if_not_exists=True)

    # v10 (issue 15). Each part below belongs to one feature; add to your own part only.
    # -- the shop connected from the admin (WooCommerce app authorization)
    # One row per "Kết nối WooCommerce": the sha256 of the one-time user_id sent to the shop, the
    # shop URL it resolved to, its expiry, when the callback used it and how the attempt ended;
    # `switch_confirmed`: the owner confirmed replacing the connected shop by another one.
    db["woo_authorizations"].create({
        "token_hash": str, "shop_url": str, "created_at": float, "expires_at": float, "used_at": float,
        "outcome": str, "switch_confirmed": int,
    }, pk="token_hash", if_not_exists=True)
    _ensure_columns(db["woo_authorizations"], {"switch_confirmed": int})
    db["woo_authorizations"].create_index(["created_at"], if_not_exists=True)
    # The shop's REST keys WooCommerce posted (one row, id 1), encrypted (Fernet under a key derived
    # from SECRET_KEY and the file beside the database), and the state of creating our webhooks with them (pending until done: a
    # crash after the callback's 200 leaves it pending for the next process to finish).
    db["woo_connection"].create({
        "id": int, "shop_url": str, "key_id": int, "consumer_key": str, "consumer_secret": str,
        "permissions": str, "connected_at": float, "webhooks_state": str, "webhooks_reason": str,
        "webhooks_at": float, "webhooks_lease": float,
    }, pk="id", if_not_exists=True)
    # -- template overrides edited in the admin (history: every saved version is a row)
    db["template_versions"].create({
        "id": int, "rule": str, "template": str, "saved_at": float, "saved_by": str, "restored_from": int,
    }, pk="id", if_not_exists=True)
    db["template_versions"].create_index(["rule", "id"], if_not_exists=True)
    # -- orders search (case and diacritics folded)
    # `search_folded`: name and e-mail folded (store.orders.search_folded), filled for older rows
    # here; the index covers what a search reads, so a scan never touches the wide `body`.
    _ensure_columns(db["orders"], {"search_folded": str})
    if db.execute("SELECT 1 FROM orders WHERE search_folded IS NULL LIMIT 1").fetchone():
        from .orders import search_folded
        db.register_function(search_folded, name="woo_search_folded", deterministic=True, replace=True)
        db.execute("UPDATE orders SET search_folded = woo_search_folded(customer_name, email)"
                   " WHERE search_folded IS NULL")
    db["orders"].create_index(["search_folded", "phone_e164", "number", "updated_at"], index_name="orders_search",
                              if_not_exists=True)
    db["orders"].create_index(["updated_at"], if_not_exists=True)
    # -- reports and page speed (indexes)
    # Messages by time, carrying what the dashboard, the monthly report and the messages list
    # filter and group by: each reads a range of this index alone (bench/admin_pages.py).
    db["messages"].create_index(["created_at", "kind", "status", "channel", "rule", "segments"],
                                index_name="idx_messages_created_report", if_not_exists=True)
    # The list filtered by status, newest first, read in order from one index.
    db["messages"].create_index(["status", "created_at", "kind"], if_not_exists=True)
    # Orders paid in a month (the report) (the orders list, newest change first, reads orders'
    # updated_at index above); transactions since a day (the dashboard) and by decision, newest
    # first (the payments page).
    # (partial: an index on every paid_at drew the planner to it for "paid_at IS NULL", the
    # tens of thousands of unpaid orders, in the payment lookups)
    db.execute("CREATE INDEX IF NOT EXISTS idx_orders_paid_at_set ON orders(paid_at) WHERE paid_at IS NOT NULL")
    db["transactions"].create_index(["created_at"], if_not_exists=True)
    db["transactions"].create_index(["decision", "id"], if_not_exists=True)
    db["inbox"].create_index(["source", "id"], if_not_exists=True)   # the inbound page by source, newest first
    _message_counts(db)
    _recipient_trigrams(db)

    # -- v11: cash on delivery confirmation and carrier status (issue 16)
    # One row per COD order we asked to confirm: where the question stands. Every answer that
    # reached us (applied or not: a second answer, a wrong number, a reply that did not parse)
    # is a cod_answers row, so the owner sees all of them.
    db["cod_confirmations"].create({
        "order_id": int, "rule": str, "phone": str, "state": str, "asked_at": float, "reminded_at": float,
        "call_at": float, "answer": str, "answered_at": float, "answered_via": str, "reason": str,
        "updated_at": float,
    }, pk="order_id", if_not_exists=True)
    db["cod_confirmations"].create_index(["state", "asked_at"], if_not_exists=True)
    db["cod_answers"].create({
        "id": int, "order_id": int, "at": float, "via": str, "sender": str, "answer": str, "applied": int,
        "reason": str, "inbox_id": int, "seen_at": float,
    }, pk="id", if_not_exists=True)
    db["cod_answers"].create_index(["order_id", "at"], if_not_exists=True)
    _ensure_columns(db["cod_answers"], {"seen_at": float})   # the owner saw an answer that needed them
    db.execute("CREATE INDEX IF NOT EXISTS idx_cod_answers_to_see ON cod_answers(at) WHERE applied = 0"
               " AND seen_at IS NULL")
    db["cod_confirmations"].create_index(["phone", "state"], if_not_exists=True)   # a reply finds its order
    _ensure_columns(db["cod_confirmations"], {"nonce": str})   # the link's, new when the phone changes
    # A chat app's button answer (Messenger quick reply payload) beside the text it shows.
    _ensure_columns(db["inbox"], {"payload": str})
    # A parcel as its carrier reports it (one row per carrier + tracking code), and every call the
    # carrier made, raw, stored before anything is decided (dedupe_key: the same call again).
    db["shipments"].create({
        "carrier": str, "tracking": str, "order_id": int, "status": str, "carrier_status": str,
        "event_at": float, "cod_amount": int, "cod_mismatch": int, "flag": str, "first_seen_at": float,
        "updated_at": float,
    }, pk=("carrier", "tracking"), if_not_exists=True)
    db["shipments"].create_index(["order_id"], if_not_exists=True)
    db["shipment_events"].create({
        "id": int, "received_at": float, "carrier": str, "tracking": str, "order_ref": str, "order_id": int,
        "carrier_status": str, "status": str, "event_at": float, "cod_amount": int, "state": str, "reason": str,
        "dedupe_key": str, "raw": str, "kind": str, "carrier_reason": str,
    }, pk="id", if_not_exists=True)
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS idx_shipment_events_dedupe ON shipment_events(dedupe_key)")
    db["shipment_events"].create_index(["order_id", "id"], if_not_exists=True)
    # What the owner's pages read (bridge/store/cod_report.py), each by its own index: the orders
    # asked in a month with their state and the parcels refused (the month's figures read only
    # these two indexes), the day's answers, the parcels waiting for a look and the carrier calls
    # that matched no order (partial: a year of parcels is not walked for the few flagged).
    db["cod_confirmations"].create_index(["asked_at", "state"], if_not_exists=True)
    db["shipments"].create_index(["status", "order_id"], if_not_exists=True)
    db["cod_confirmations"].create_index(["state", "answered_at"], if_not_exists=True)
    db.execute("CREATE INDEX IF NOT EXISTS idx_shipments_attention ON shipments(updated_at)"
               " WHERE flag != '' OR cod_mismatch = 1")
    db.execute("CREATE INDEX IF NOT EXISTS idx_shipment_events_not_taken ON shipment_events(received_at)"
               " WHERE state IN ('unmatched', 'error')")
    # the calls still to decide (no order yet, the carrier's API not reached) and the parcel's history
    db["shipment_events"].create_index(["state", "received_at"], if_not_exists=True)
    db["shipment_events"].create_index(["carrier", "tracking"], if_not_exists=True)
    # failed attempts at deciding a call (an unexpected error): retried a few times before "error"
    _ensure_columns(db["shipment_events"], {"attempts": int})
    # When the call happened (the carrier's time, else arrival): the waiting-calls pass pages
    # through (state, happened, id) in the index's order instead of sorting 30 days of calls.
    _ensure_columns(db["shipment_events"], {"happened": float})
    db.execute("UPDATE shipment_events SET happened = COALESCE(event_at, received_at) WHERE happened IS NULL")
    db["shipment_events"].create_index(["state", "happened"], if_not_exists=True)
    # What the order should collect when the carrier's COD was last compared: a change of either
    # (the shop edited the total, the carrier its amount) into a mismatch raises the flag again.
    _ensure_columns(db["shipments"], {"cod_expected": int})
    # The tracking codes each order carries in its meta data (a carrier plugin's, Advanced Shipment
    # Tracking's), written whenever an order is saved: a carrier's call naming only its own code
    # finds its order by an index, not by reading every order's body.
    db["shipment_codes"].create({"code": str, "order_id": int}, pk=("code", "order_id"), if_not_exists=True)
    db["shipment_codes"].create_index(["order_id"], if_not_exists=True)

    # -- v12 (issue 17: fast at a year of data). Each part below belongs to one area; add to your
    # own part only (tables, columns, indexes, triggers that area needs).
    # -- intake: acknowledge after one durable write, decide after the answer
    # A provider's delivery report (callback), normalized, stored before it is applied to its
    # message (bridge/intake.py); `report` is the StatusReport and its chat facts as JSON.
    db["received_reports"].create({
        "id": int, "received_at": float, "source": str, "provider_id": str, "send_key": str, "report": str,
        "state": str, "reason": str, "message_id": str, "decided_at": float,
    }, pk="id", if_not_exists=True)
    # The rows still to decide, oldest first, each table read from its own small index (deliveries:
    # v14's idx_deliveries_undecided). Building these reads inbox and shipment_events once (seconds at
    # a million rows, on the first start only); after that they hold only the few undecided rows.
    db.execute("CREATE INDEX IF NOT EXISTS idx_inbox_undecided ON inbox(id) WHERE state = 'received'")
    db.execute("CREATE INDEX IF NOT EXISTS idx_shipment_events_undecided ON shipment_events(id)"
               " WHERE state = 'received' AND attempts IS NULL")
    db.execute("CREATE INDEX IF NOT EXISTS idx_received_reports_undecided ON received_reports(id)"
               " WHERE state = 'received'")
    # reports whose follow-up after the commit (a chat receipt's settlement) has not run yet
    db.execute("CREATE INDEX IF NOT EXISTS idx_received_reports_settling ON received_reports(id)"
               " WHERE state = 'settling'")
    # -- reads: indexes, tallies for pages and /metrics, keyset paging, folded search
    # The messages' full-text index rebuilt folded (đ/Đ as d/D, store/search.py): once, reading
    # every message; the counts /metrics reports kept by triggers (store/tallies.py), filled once.
    from . import search, tallies
    from .cod_report import REFUSED
    search.create(db.conn)
    tallies.create(db.conn)
    # the COD month figures read the asked orders' state and refusal from this index alone
    tallies.cod_refused(db.conn, REFUSED)
    tallies.cod_month_figures(db.conn)   # a month's COD figures until a question in it changes
    tallies.message_days(db.conn)   # the monthly report's whole days
    db["cod_confirmations"].create_index(["asked_at", "state", "refused"], if_not_exists=True)
    db.execute("CREATE INDEX IF NOT EXISTS idx_payment_confirmations_window"
               " ON payment_confirmations(created_at, tx_id, source, seconds)")   # the 30-day quantiles, covered
    # -- retention: raw bodies stored once, pruning per kind in small batches
    # A delivery's body and an order's last body are kept zlib-compressed in `zbody` (read through
    # store.deliveries.raw_body and store.orders.body); rows written before keep `body` as it was,
    # never rewritten, so the first start only adds the columns. `created_gmt`: when the shop
    # created the order, kept beside the compressed body that SQL can no longer read as JSON.
    _ensure_columns(db["deliveries"], {"zbody": bytes, "body_apart": int})
    # a decided delivery's body and headers (store/deliveries.py set_outcome): dropped after
    # RETAIN_RAW_DAYS by deleting the row here, whose pages SQLite then reuses
    db["delivery_bodies"].create({"id": int, "headers": str, "zbody": bytes}, pk="id", if_not_exists=True)
    _ensure_columns(db["orders"], {"zbody": bytes, "created_gmt": str})
    # A delivery is kept while a kept message names it (bridge/retention.py). Built once from the
    # outbox on the first start (about a second per million messages).
    db.execute("CREATE INDEX IF NOT EXISTS idx_messages_delivery_ref ON messages(delivery_ref)"
               " WHERE delivery_ref IS NOT NULL")
    # An inbound text is kept while a COD answer refers to it (small table: built at once).
    db.execute("CREATE INDEX IF NOT EXISTS idx_cod_answers_inbox ON cod_answers(inbox_id) WHERE inbox_id IS NOT NULL")
    # -- sending: per-channel rate limits
    # since when a provider has kept answering "too many requests" for a message (NULL: it has not):
    # past its bound the wait counts as a failed attempt (bridge/outbox.py _record). A new, empty
    # column: the first start only adds it.
    _ensure_columns(db["messages"], {"waited_since": float})

    # -- v13 (issue 18: the shop's channels for other systems). Each part below belongs to one
    # area; add to your own part only. New tables and columns only: the first start on a year of
    # data must stay cheap (no rewrite of messages).
    # -- api: the send API, its keys and its call log
    # A key is found by its public id (the part after "wb_live_"), then its SHA-256 checked; the
    # token bucket (per-key rate limit) lives on the row, so every web process shares it.
    db["api_keys"].create({
        "id": int, "public_id": str, "name": str, "scopes": str, "secret_hash": str, "rate_per_minute": int,
        "created_at": float, "revoked_at": float, "last_used_at": float, "calls": int, "bucket_tokens": float,
        "bucket_at": float,
    }, pk="id", defaults={"calls": 0}, if_not_exists=True)
    db["api_keys"].create_index(["public_id"], unique=True, if_not_exists=True)
    # Every message the API created, in the order it was created (`seq`: the list's keyset), with
    # the key, its Idempotency-Key and the hash of the body it was created from.
    db["api_messages"].create({
        "seq": int, "message_id": str, "key_id": int, "idempotency_key": str, "body_hash": str,
        "phone": str, "created_at": float,
    }, pk="seq", if_not_exists=True)
    db["api_messages"].create_index(["message_id"], unique=True, if_not_exists=True)
    db["api_messages"].create_index(["key_id", "idempotency_key"], unique=True, if_not_exists=True)
    db["api_messages"].create_index(["phone", "seq"], if_not_exists=True)
    # Every call with a key (bounded: the oldest rows go past API_CALL_LOG_ROWS).
    db["api_calls"].create({
        "id": int, "at": float, "key_id": int, "method": str, "path": str, "status": int, "message_id": str,
        "error": str,
    }, pk="id", if_not_exists=True)
    db["api_calls"].create_index(["key_id", "id"], if_not_exists=True)
    # -- bulk: bulk sends to a list, the opt-out list
    # A bulk send (bridge/bulk.py): its text, channel and state; its recipients as read from the
    # CSV or the orders, each queued as one ordinary outbox message (dedupe key "bulk:<id>:<phone>",
    # a range of the unique index: the bulk's messages are found without a column on messages).
    db["bulks"].create({
        "id": int, "created_at": float, "updated_at": float, "name": str, "source": str, "filters": str,
        "channel": str, "template": str, "unicode": int, "state": str, "started_at": float, "finished_at": float,
        "total": int, "valid": int, "invalid": int, "duplicates": int, "opted_out": int, "errors": int,
        "segments": int, "cost": int, "estimate_s": float, "created_by": str, "next_due": float,
    }, pk="id", if_not_exists=True)
    db["bulk_recipients"].create({
        "bulk_id": int, "seq": int, "phone": str, "raw": str, "vars": str, "state": str, "detail": str,
    }, pk=("bulk_id", "seq"), if_not_exists=True)
    db["bulk_recipients"].create_index(["bulk_id", "state", "seq"], if_not_exists=True)
    # Phones that asked for no more marketing (a text "TU CHOI"/"STOP", or the owner by hand).
    db["optouts"].create({"phone": str, "at": float, "source": str, "note": str}, pk="phone", if_not_exists=True)
    # -- hooks: outgoing events to the owner's URLs
    # The owner's endpoints. `secret` signs every delivery, so it is kept as it is (not hashed):
    # the database file is 0600 (db.private_files) and the secret is never logged. The events an
    # endpoint wants are rows (event, endpoint): "does anyone want this event" is one index read.
    # AUTOINCREMENT (here and on hook_deliveries): an id is never given again after a delete, so
    # a job still carrying a deleted endpoint's id is never signed with a new endpoint's secret.
    db.execute("CREATE TABLE IF NOT EXISTS hook_endpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT,"
               " secret TEXT, enabled INTEGER, created_at FLOAT, updated_at FLOAT)")
    db.execute("CREATE TABLE IF NOT EXISTS hook_subscriptions (event TEXT NOT NULL, endpoint_id INTEGER NOT NULL,"
               " PRIMARY KEY (event, endpoint_id)) WITHOUT ROWID")
    # An event once (its id is what a receiver deduplicates on; `body` the JSON every delivery
    # sends), and one delivery per endpoint: `subject` (the message, the order) orders them, an
    # endpoint gets a subject's next event only when the one before is done (bridge/outgoing.py);
    # `state`: waiting (no job yet), sending (its outbox job exists), done (that job is final).
    db["hook_events"].create({"id": str, "type": str, "subject": str, "created_at": float, "body": str},
                             pk="id", if_not_exists=True)
    db["hook_events"].create_index(["created_at"], if_not_exists=True)
    db.execute("CREATE TABLE IF NOT EXISTS hook_deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT,"
               " endpoint_id INTEGER, event_id TEXT, subject TEXT, state TEXT, job_id TEXT, created_at FLOAT,"
               " replay_of INTEGER)")
    db["hook_deliveries"].create_index(["endpoint_id", "id"], if_not_exists=True)
    db["hook_deliveries"].create_index(["event_id"], if_not_exists=True)
    db["hook_deliveries"].create_index(["created_at"], if_not_exists=True)   # pruned with the messages (RETAIN_MESSAGES_DAYS)
    db.execute("CREATE INDEX IF NOT EXISTS idx_hook_deliveries_job ON hook_deliveries(job_id) WHERE job_id IS NOT NULL")
    db.execute("CREATE INDEX IF NOT EXISTS idx_hook_deliveries_open ON hook_deliveries(endpoint_id, subject, id)"
               " WHERE state != 'done'")
    # The scheduler's pass each second reads only these (store/hooks.groups_to_advance): an index
    # per open state, so the done deliveries of a year are never scanned.
    db.execute("CREATE INDEX IF NOT EXISTS idx_hook_deliveries_sending ON hook_deliveries(job_id)"
               " WHERE state = 'sending'")
    db.execute("CREATE INDEX IF NOT EXISTS idx_hook_deliveries_waiting ON hook_deliveries(endpoint_id, subject, id)"
               " WHERE state = 'waiting'")
    # Every status a message takes (its first on insert) and every move to the next channel of its
    # chain, captured by triggers in the writing transaction whichever path wrote it, only while an
    # enabled endpoint wants message.status_changed: otherwise the trigger's condition (one index
    # read) stops it. Turned into events right after (bridge/outgoing.pump). Jobs (forwards, order
    # updates, the event deliveries themselves) are not messages and are left out.
    db["hook_pending"].create({
        "id": int, "message_id": str, "previous": str, "status": str, "previous_channel": str, "channel": str,
        "reason": str, "at": float,
    }, pk="id", if_not_exists=True)
    wanted = ("COALESCE(new.kind, 'message') = 'message' AND EXISTS (SELECT 1 FROM hook_subscriptions s"
              " JOIN hook_endpoints e ON e.id = s.endpoint_id WHERE s.event = 'message.status_changed'"
              " AND e.enabled = 1)")
    capture = ("INSERT INTO hook_pending(message_id, previous, status, previous_channel, channel, reason, at)"
               " VALUES (new.id, {previous}, new.status, {channel}, new.channel, new.reason, new.updated_at);")
    db.execute(f"CREATE TRIGGER IF NOT EXISTS hook_status_ai AFTER INSERT ON messages WHEN {wanted}"
               f" BEGIN {capture.format(previous='NULL', channel='NULL')} END")
    # a fall-back to the chain's next channel may keep the status (pending): the channel changes
    db.execute(f"CREATE TRIGGER IF NOT EXISTS hook_status_au AFTER UPDATE OF status, channel ON messages"
               f" WHEN (old.status IS NOT new.status OR old.channel IS NOT new.channel) AND {wanted}"
               f" BEGIN {capture.format(previous='old.status', channel='old.channel')} END")
    # -- reads (issue 17): searches and pages that stop at their page at a year of data
    # Every term of the messages' folded full-text index, so a typed prefix is read as its terms,
    # lazily (store/search.py); built once from the index's vocabulary (about 1.5 s at 1,000,000
    # messages), then kept with the index, in the same batches.
    from . import search as _search
    _search.create_terms(db.conn)
    # The COD list of every question pages by (asked_at, order id): this index reads it in that
    # order (the (asked_at, state) ones sort the rows of one asked_at by id). A small table.
    db["cod_confirmations"].create_index(["asked_at"], if_not_exists=True)
    # The orders paid in a month with the transaction that paid it (the monthly report), from the
    # index alone: paid_transaction is stored after the order's body, so reading it from the row
    # read the body's overflow pages, for each of a month's thousands of paid orders. Built in
    # about half a second at 100,000 orders.
    db.execute("CREATE INDEX IF NOT EXISTS idx_orders_paid_at_tx ON orders(paid_at, paid_transaction)"
               " WHERE paid_at IS NOT NULL")
    # The orders search by name or phone, read newest change first with what it compares (the
    # folded name, phone, number): a name in many orders stops after its page (orders_search,
    # led by the name, had every match sorted by time), a rare one reads this narrow index once.
    db["orders"].create_index(["updated_at", "search_folded", "phone_e164", "number"],
                              index_name="orders_search_recent", if_not_exists=True)
    # -- v14 (issue 17): the acknowledgement writes as few pages as it can
    # Each index a delivery's insert touches is a page more in the commit, and the commit is most
    # of an acknowledgement's cost. Four indexes became two: the undecided rows (a partial index
    # holding only the few not decided yet: the decider reads it) and one by the resource's id
    # that also finds an exact replay (the id, the replay key; both come from signed bytes, the
    # resource's kind from an unsigned header, so it is no part of it): a new order's deliveries
    # go to the index's end, where the one on the replay key alone (a hash) put each on a random
    # page. The one on delivery_id served no query (WooCommerce repeats it within a second).
    for old in ("idx_deliveries_state", "idx_deliveries_resource_resource_id", "idx_deliveries_delivery_id_v6",
                "idx_deliveries_replay_key", "idx_deliveries_replay"):
        db.execute(f"DROP INDEX IF EXISTS {old}")
    db.execute("CREATE INDEX IF NOT EXISTS idx_deliveries_undecided ON deliveries(id) WHERE state = 'received'")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS idx_deliveries_by_id_replay ON deliveries(resource_id, replay_key)")
    # -- v15 (issue 17): the worker's and the scheduler's reads at a year of data
    # The worker's periodic passes over messages waiting on a time (store/messages.py stalled and
    # doubts_due): each reads only the rows it may act on. Through the (status, ...) indexes they
    # read every message in flight and every in-doubt one, in the write transaction: 170-350 ms of
    # the lock every few seconds at a year of data, the acknowledgements' p99 (bench/cpu.py
    # --db-from). Both stay small: a message leaves them when it is delivered, falls back or waits
    # for a person. Built in about half a second at 1,000,000 messages.
    db.execute("CREATE INDEX IF NOT EXISTS idx_messages_fallback_due ON messages(sent_at + fallback_after)"
               " WHERE status IN ('queued','sent') AND fallback_after IS NOT NULL AND fallback != ''")
    db.execute("CREATE INDEX IF NOT EXISTS idx_messages_doubts_due ON messages(due_at)"
               " WHERE status = 'in-doubt' AND fallback != ''")
    # The owner-alert pass (bridge/alerts.py watch, every minute) read every failed message three
    # times, every message twice (a reason's code, no index) and every send attempt twice: about
    # half a second of reads a pass at a year of data with a warm cache, seconds with a cold one,
    # on the worker's share of the CPU. Each now reads only what it may report: failures by rule
    # and time, template failures by time (a partial index of those few), attempts by channel and
    # time. Built in about 2 s at 1,000,000 messages and attempts on the first start.
    db.execute("CREATE INDEX IF NOT EXISTS idx_messages_failed_rule ON messages(rule, updated_at)"
               " WHERE status = 'failed'")
    db.execute("CREATE INDEX IF NOT EXISTS idx_messages_template_failed ON messages(updated_at)"
               f" WHERE reason LIKE '{TEMPLATE_FAILURES}'")
    db.execute("CREATE INDEX IF NOT EXISTS idx_attempts_channel_at ON attempts(channel, at)")
    # Both full-text indexes of messages written in batches from search_terms_pending, not by a
    # trigger on each insert (store/search.py defer_indexing; at a year of data FTS5's segment
    # writes and merges were most of the time a new message held the write lock).
    _search.defer_indexing(db.conn)


def _kinds_for_old_rows(db: sqlite_utils.Database) -> None:
    """Give every row without a kind its kind (once: a row with a kind is never touched again).

    Before v8 an order update was queued with audience 'shop', recipient 'order N' and the action
    as JSON in the text; a forward with event 'sms.forward', audience 'webhook' and the body as
    JSON in the text. Everything else was a message."""
    note = "COALESCE(json_extract(text, '$.note'), '')"
    db.execute(
        "UPDATE messages SET kind='order_update', event='order.update', payload=text, encoding=NULL, length=0,"
        " segments=0, text=CASE WHEN json_extract(text, '$.action')='mark_paid'"
        f" THEN rtrim('mark paid (' || COALESCE(json_extract(text, '$.status'), '') || '): ' || {note}, ': ')"
        f" ELSE {note} END"
        " WHERE kind IS NULL AND audience='shop' AND recipient_raw LIKE 'order %' AND json_valid(text)"
        " AND json_extract(text, '$.order_id') IS NOT NULL")
    db.execute(
        "UPDATE messages SET kind='forward', payload=text, encoding=NULL, length=0, segments=0,"
        " text=COALESCE(json_extract(text, '$.sender'), '') || ': ' || COALESCE(json_extract(text, '$.text'), '')"
        " WHERE kind IS NULL AND event='sms.forward' AND audience='webhook' AND json_valid(text)")
    db.execute("UPDATE messages SET kind='message' WHERE kind IS NULL")


def _message_counts(db: sqlite_utils.Database) -> None:
    """The outbox's row count per (kind, status, channel), kept by triggers in the writing
    transaction: the messages list's total (all, by status, by channel, by kind) is then a sum
    over a few dozen rows instead of a count over a million. Filled once, in the migration's
    transaction, when the table is new."""
    if db["message_counts"].exists():
        return
    db.execute("CREATE TABLE message_counts (kind TEXT NOT NULL, status TEXT NOT NULL, channel TEXT NOT NULL,"
               " n INTEGER NOT NULL, PRIMARY KEY (kind, status, channel)) WITHOUT ROWID")
    db.execute("INSERT INTO message_counts SELECT COALESCE(kind, 'message'), status, COALESCE(channel, ''), COUNT(*)"
               " FROM messages GROUP BY 1, 2, 3")
    add = ("INSERT INTO message_counts VALUES (COALESCE(new.kind, 'message'), new.status, COALESCE(new.channel, ''), 1)"
           " ON CONFLICT DO UPDATE SET n = n + 1;")
    remove = ("UPDATE message_counts SET n = n - 1 WHERE kind = COALESCE(old.kind, 'message') AND status = old.status"
              " AND channel = COALESCE(old.channel, '');")
    db.execute(f"CREATE TRIGGER message_counts_ai AFTER INSERT ON messages BEGIN {add} END")
    db.execute(f"CREATE TRIGGER message_counts_ad AFTER DELETE ON messages BEGIN {remove} END")
    db.execute("CREATE TRIGGER message_counts_au AFTER UPDATE OF kind, status, channel ON messages"
               " WHEN old.kind IS NOT new.kind OR old.status IS NOT new.status OR old.channel IS NOT new.channel"
               f" BEGIN {remove} {add} END")


def _recipient_trigrams(db: sqlite_utils.Database) -> None:
    """A trigram index of each message's recipient (as stored and as typed): the messages page's
    phone filter matches any part of a number (LIKE '%345678%'), which no B-tree index serves;
    FTS5's trigram tokenizer answers such a LIKE from its index. It only narrows the rows: the
    filter's own LIKE still decides (reports.MessageFilter). Built once, then kept in batches with
    the text's index (store/search.py defer_indexing)."""
    if db[RECIPIENTS].exists():
        return
    db.execute(f"CREATE VIRTUAL TABLE {RECIPIENTS} USING fts5(recipient, recipient_raw, content='messages',"
               " content_rowid='rowid', tokenize='trigram')")
    db.execute(f"INSERT INTO {RECIPIENTS}({RECIPIENTS}) VALUES ('rebuild')")
    add = f"INSERT INTO {RECIPIENTS}(rowid, recipient, recipient_raw) VALUES (new.rowid, new.recipient, new.recipient_raw);"
    remove = (f"INSERT INTO {RECIPIENTS}({RECIPIENTS}, rowid, recipient, recipient_raw)"
              " VALUES ('delete', old.rowid, old.recipient, old.recipient_raw);")
    db.execute(f"CREATE TRIGGER {RECIPIENTS}_ai AFTER INSERT ON messages BEGIN {add} END")
    db.execute(f"CREATE TRIGGER {RECIPIENTS}_ad AFTER DELETE ON messages BEGIN {remove} END")
    db.execute(f"CREATE TRIGGER {RECIPIENTS}_au AFTER UPDATE OF recipient, recipient_raw ON messages"
               f" BEGIN {remove} {add} END")


def _ensure_columns(table: sqlite_utils.db.Table, columns: dict[str, type]) -> None:
    """Add columns that a newer version introduced to a table an older version created."""
    have = {c.name for c in table.columns}
    for name, kind in columns.items():
        if name not in have:
            table.add_column(name, kind)


