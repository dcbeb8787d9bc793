"""SMS to the owner when something needs their hand: a provider refusing every message, what a
provider watches (a prepaid balance running low), a phone paused, a WooCommerce webhook
disabled, the payment review queue growing, a bank-transfer order unpaid for too long.

Each alert is an ordinary outbox message (audience `owner`, rule `alert:<kind>`), so it is
durable, visible in the admin page and never sent twice: its dedupe key carries the kind, the
subject and a time bucket, so the same trouble is repeated at most every ALERT_REPEAT seconds.
The channel list falls through like any rule's: when the SMS provider itself is the trouble, the
phone gateway carries the alert.
"""
from __future__ import annotations

import logging
from typing import Any

from . import providers, reasons
from .store import intake as stored_intake, messages
from .store.db import now
from .outbox import Draft, enqueue
from .payments.review import review_queue
from .phones import normalize_phone
from .smstext import prepare

log = logging.getLogger(__name__)


def alert_owner(bridge: Any, kind: str, subject: str, text: str, once: bool = False) -> int:
    """Queue `text` to every OWNER_PHONES number. Returns how many messages were queued (0 when
    this alert went out within ALERT_REPEAT seconds, or always after the first time if `once`)."""
    s = bridge.settings
    if not s.owner_phones:
        log.warning("owner alert (%s) not sent, OWNER_PHONES is empty: %s", kind, text)
        return 0
    bucket = "once" if once else str(int(now() // s.alert_repeat))
    channels = tuple(c for c in s.alert_channels if c in bridge.channels) or ("dry-run",)
    n = 0
    with bridge.db.tx() as c:
        for raw in s.owner_phones:
            mid = enqueue(c, Draft.to_phone(normalize_phone(raw), dedupe_key=f"alert:{kind}:{subject}:{bucket}:{raw}",
                                            rule=f"alert:{kind}", event="alert", audience="owner", channels=channels,
                                            sms=prepare(f"{s.shop_name}: {text}", False), urgent=True))
            n += mid is not None
    if n:
        log.warning("owner alert %s (%s): %s", kind, subject, text)
        bridge.wake_worker()
    return n


def failing_channels(db: Any, window: float = 3600, at_least: int = 3) -> dict[str, str]:
    """Channels whose last `at_least` attempts within `window` all failed for good."""
    out = {}
    since = now() - window
    for ch in messages.recent_channels(db, since):
        last = messages.last_attempts(db, ch, since, at_least)
        if len(last) == at_least and all(r["outcome"] == "permanent" for r in last):
            out[ch] = last[0]["detail"] or "permanent failure"
    return out


UNDECIDED_ALERT_AFTER = 300   # seconds a row may wait for its decision before the owner hears of it


def watch(bridge: Any) -> int:
    """The periodic check (leader only): every condition that should wake the owner."""
    s, db = bridge.settings, bridge.db
    sent = 0
    for ch, detail in failing_channels(db).items():
        sent += alert_owner(bridge, "provider", ch, f"kenh {ch} dang tu choi gui tin: {reasons.english(detail)}. Kiem tra cau hinh.")
    for kind, subject, text in providers.owner_alerts(bridge):
        sent += alert_owner(bridge, kind, subject, text)
    for d in bridge.device_status():
        if d["paused"]:
            sent += alert_owner(bridge, "device", f"{d['name']}:{int(d['paused_until'] or 0)}",
                                f"dien thoai {d['name']} tam dung gui tin: {d['pause_reason']}", once=True)
    # The customer heard "paid" at once (the bank's message is the proof); an update WooCommerce
    # then refused for good (order deleted, a plugin blocking the status) is the owner's to fix.
    for m in messages.failed_since(db, "payment-mark-paid", now() - 7 * 86400):
        sent += alert_owner(bridge, "mark-paid", m["id"],
                            f"don #{m['number'] or m['order_id']} da nhan tien nhung WooCommerce tu choi danh dau da "
                            f"thanh toan ({reasons.english(m['reason'])[:80]}). Cap nhat don bang tay.", once=True)
    # The customer was told "expired" and the order cancelled in our books; a shop that refused
    # the cancel (it moved the order on meanwhile) leaves the two to reconcile by hand.
    for m in messages.failed_since(db, "payment-expiry", now() - 7 * 86400):
        sent += alert_owner(bridge, "expiry", m["id"],
                            f"don #{m['number'] or m['order_id']} qua han thanh toan nhung WooCommerce khong huy "
                            f"({reasons.english(m['reason'])[:80]}). Kiem tra don va bao lai khach.", once=True)
    # The customer answered the COD question and heard so; the shop refused the write-back (the
    # order moved on meanwhile: cancelled by hand, already shipped): the owner reconciles by hand.
    for m in messages.failed_since(db, "cod-answer", now() - 7 * 86400):
        sent += alert_owner(bridge, "cod-writeback", m["id"],
                            f"don #{m['number'] or m['order_id']}: khach da tra loi xac nhan COD nhung WooCommerce "
                            f"khong cap nhat ({reasons.english(m['reason'])[:80]}). Kiem tra don.", once=True)
    # A template that could not be written for a real order (a name split on an empty name): that
    # customer got the default text or nothing, and the next such order will too until the owner
    # fixes the text. Once per rule per ALERT_REPEAT, not once per order.
    for code in ("rules.template_failed", "rules.override_failed"):
        for m in messages.with_reason_since(db, code, now() - s.alert_repeat):
            sent += alert_owner(bridge, "template", m["rule"],
                                f"don #{m['number'] or m['order_id']}: {reasons.english(m['reason'])[:160]}."
                                f" Sua mau tin {m['rule']} trong trang quan tri.")
    queue = len(review_queue(db))
    if queue >= s.alert_review_queue:
        sent += alert_owner(bridge, "review", str(queue // s.alert_review_queue),
                            f"{queue} giao dich chuyen khoan dang cho duyet trong trang quan tri.")
    # Acknowledged and never decided (DECIDE_IN=worker with no worker deciding, a decider stuck):
    # the orders, payments and messages behind them wait, silently.
    waiting = stored_intake.backlog(db)
    oldest = min((t for _, t in waiting.values() if t is not None), default=None)
    if oldest is not None and bridge.clock() - oldest > UNDECIDED_ALERT_AFTER:
        n = sum(k for k, _ in waiting.values())
        sent += alert_owner(bridge, "undecided", "backlog",
                            f"{n} webhook/tin nhan da nhan nhung chua xu ly sau {int((bridge.clock() - oldest) // 60)} phut."
                            " Kiem tra tien trinh worker (python -m bridge worker).")
    return sent
