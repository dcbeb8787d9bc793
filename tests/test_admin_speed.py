"""What the admin reads faster at a year of data (bench/admin_pages.py) must read the same: the
messages list's totals come from counts kept by triggers, and must equal a count of the rows
after every kind of write the outbox makes (and after an upgrade of a database that had rows
before the counts existed)."""
from __future__ import annotations

import itertools

import pytest

from bridge.store import messages as stored, reports, search
from bridge.store.db import Database
from bridge.store.reports import MessageFilter, search_messages

STATUSES = ("pending", "queued", "sent", "delivered", "failed", "dry-run", "cancelled", "in-doubt")


@pytest.fixture
def db(tmp_path):
    d = Database(str(tmp_path / "speed.db"))
    d.migrate()
    yield d
    d.close()


def add(db: Database, mid: str, status: str = "pending", channel: str | None = "esms", kind: str | None = "message",
        at: float = 1_000.0) -> None:
    with db.tx() as c:
        stored.insert(c, {"id": mid, "created_at": at, "updated_at": at, "dedupe_key": f"k-{mid}", "rule": "r",
                          "channel": channel, "recipient": "+84912345678", "text": f"tin {mid}", "segments": 1,
                          "status": status, "due_at": at, "kind": kind}, ignore_duplicate=False)


def totals_agree(db: Database) -> int:
    """Every filter the counts answer: the same total as counting the rows; returns how many."""
    checked = 0
    for kind, status, channel in itertools.product((None, "all", "order_update", "forward"), (None, *STATUSES),
                                                   (None, "esms", "smsgate", "messenger")):
        f = MessageFilter(kind=kind, status=status, channel=channel)
        assert f.counted() is not None
        where, params = f.sql()
        rows = db.scalar(f"SELECT COUNT(*) FROM messages m{where}", tuple(params))
        total = search_messages(db, f, 50).total
        assert total == rows, (kind, status, channel)
        checked += 1
    return checked


def test_counts_follow_every_write_of_the_outbox(db):
    add(db, "a")
    add(db, "b", channel=None)
    add(db, "c", kind=None)                               # a row from before job kinds: a message
    add(db, "d", kind="order_update", channel="woocommerce")
    add(db, "e", status="dry-run", channel="smsgate")
    t = 2_000.0
    with db.tx() as c:
        stored.lease(c, ["a", "b", "c"], t + 60, t)
        stored.mark_taken(c, "a", "sent", "smsgate", "", None, "p1", "", t)        # status and channel change
        stored.finish(c, "b", "failed", "esms", "no channel", t)                   # a NULL channel gets one
        stored.advance(c, "a", "delivered", t)
        stored.next_leg(c, "c", "pending", "messenger", "", "fell through", t)
        stored.set_reason(c, "e", "noted")                                         # no counted column
        c.execute("UPDATE messages SET kind='forward' WHERE id='c'")              # a kind moved (v8's migration)
        c.execute("DELETE FROM messages WHERE id='d'")
    assert totals_agree(db) > 100
    assert search_messages(db, MessageFilter(), 50).total == 3   # a, b, e: c is a forward now, d is gone


def test_a_database_with_rows_from_before_the_counts_gets_them_counted(db):
    for i, status in enumerate(STATUSES * 3):
        add(db, f"m{i}", status=status, channel=("esms", "smsgate", None)[i % 3], kind=(None, "message", "forward")[i % 3])
    with db.tx() as c:   # as a database migrated by the version before this one had it
        for name in ("message_counts_ai", "message_counts_ad", "message_counts_au"):
            c.execute(f"DROP TRIGGER {name}")
        c.execute("DROP TABLE message_counts")
    add(db, "late", status="sent")
    db.migrate()
    totals_agree(db)
    add(db, "after", status="failed", channel="smsgate")
    assert totals_agree(db) and search_messages(db, MessageFilter(status="failed"), 50).total == \
        db.scalar("SELECT COUNT(*) FROM messages WHERE status='failed' AND COALESCE(kind, 'message')='message'")


def test_a_filter_beyond_kind_status_and_channel_counts_the_rows(db):
    add(db, "x", at=1_000.0)
    add(db, "y", at=5_000.0)
    assert MessageFilter(from_ts=2_000.0).counted() is None
    assert search_messages(db, MessageFilter(from_ts=2_000.0), 50).total == 1
    assert search_messages(db, MessageFilter(fts='"tin"*'), 50).total == 2
    assert search_messages(db, MessageFilter(phone_raw="0912345678", phone_e164="+84912345678"), 50).total == 2


def _plain_phone_filter(db: Database, raw: str, e164: str | None) -> list[str]:
    """The phone filter as it was before the trigram index: LIKEs over every row."""
    import re
    digits = re.sub(r"\D", "", raw)
    return [r["id"] for r in db.query(
        "SELECT id FROM messages WHERE COALESCE(kind, 'message') = 'message' AND (recipient = ? OR recipient LIKE ?"
        " OR recipient_raw LIKE ?) ORDER BY created_at DESC, rowid DESC",
        (e164 or raw, f"%{digits[-9:]}%" if len(digits) >= 6 else raw, f"%{raw}%"))]


def test_the_phone_filter_finds_what_the_plain_likes_found(db):
    recipients = [("+84912345678", "0912 345 678"), ("+84912345678", "+84 912345678"), ("+84987654321", "0987654321"),
                  ("+84912345679", "0912345679"), ("1234567890123456", "PSID-AbC_x%1"), ("order 5", "order 5"),
                  (None, "0912 345 678"), ("+8491234", "91234")]
    for i, (to, raw) in enumerate(recipients):
        add(db, f"p{i}", at=1_000.0 + i)
        with db.tx() as c:
            c.execute("UPDATE messages SET recipient=?, recipient_raw=? WHERE id=?", (to, raw, f"p{i}"))
    add(db, "gone")
    with db.tx() as c:
        c.execute("DELETE FROM messages WHERE id='gone'")
    for raw, e164 in (("0912345678", "+84912345678"), ("0912 345 678", "+84912345678"), ("345678", None),
                      ("912345", None), ("psid-abc", None), ("AbC_", None), ("x%1", None), ("_", None), ("12", None),
                      ("order", None), ("0987654321", "+84987654321"), ("+84912345679", "+84912345679"),
                      ("khong co", None)):
        f = MessageFilter(phone_raw=raw, phone_e164=e164)
        page = search_messages(db, f, 50)
        assert [r["id"] for r in page.rows] == _plain_phone_filter(db, raw, e164), raw
        assert page.total == len(page.rows)
    assert {r["id"] for r in search_messages(db, MessageFilter(phone_raw="0912345678", phone_e164="+84912345678"),
                                             50).rows} == {"p0", "p1"}


def test_a_text_matching_many_rows_gives_the_same_page_walked_in_time_order(db):
    """Both ways of reading a text search's page (matches looked up and sorted, or rows walked
    newest first a window at a time, each window checked against the matches in its rowid
    range) give the same rows in the same order, with ties on the time, both directions, and
    rows whose rowid order is not their time order."""
    for i in range(120):
        add(db, f"t{i}", status=STATUSES[i % len(STATUSES)], kind=("message", None, "forward")[i % 3],
            at=1_000.0 + (i // 4 if i % 7 else 200 - i))   # four rows a second; every 7th out of rowid order
    assert search.keep_index(db)   # the reference reads the full-text index as it is
    for f in (MessageFilter(fts='"tin"*'), MessageFilter(fts='"tin"*', status="failed"),
              MessageFilter(fts='"tin"*', kind="all"), MessageFilter(fts='"t1"*', channel="esms")):
        where, params = f.sql()
        plain = [r[0] for r in db.query(f"SELECT m.rowid, m.created_at FROM messages m{where}"
                                        " ORDER BY m.created_at DESC, m.rowid DESC", tuple(params))]
        keys = {r[0]: (r[1], r[0]) for r in db.query("SELECT rowid, created_at FROM messages")}
        for window in (1, 3, 0):
            assert reports.text_walk(db, f, None, None, 20, window) == plain[:20] and plain, (f, window)
            k = len(plain) // 2
            mid = keys[plain[k]]
            assert reports.text_walk(db, f, mid, None, 20, window) == plain[k + 1:k + 21], (f, window)
            assert reports.text_walk(db, f, None, mid, 3, window) == plain[k - 3:k][::-1], (f, window)


def test_a_messages_copies_are_its_resends_only(db):
    add(db, "a")
    add(db, "ab")
    for key, mid in (("resend:a:1", "c1"), ("resend:a:10", "c2"), ("resend:ab:1", "c3"), ("resend:a;x", "c4"),
                     ("resend:a", "c5")):
        add(db, mid)
        with db.tx() as c:
            c.execute("UPDATE messages SET dedupe_key=? WHERE id=?", (key, mid))
    assert [r["id"] for r in stored.copies(db, "a")] == ["c1", "c2"]
    with db.tx() as c:
        assert stored.count_copies(c, "a") == 2 and stored.count_copies(c, "ab") == 1
