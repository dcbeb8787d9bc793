"""The messages' full-text index, folded so that `đơn`, `don`, `Đơn` and `ĐƠN` find the same rows.

FTS5's unicode61 tokenizer (remove_diacritics 2) folds case and every Vietnamese mark that is a
combining accent (ơ, ư, ă, â, ê, ô and the tones), but not đ/Đ: they are letters of their own,
not d with a mark. So the index holds the text with đ/Đ replaced by d/D, and what a person types
goes through the very same SQL expression (`fold_typed`) before the tokenizer folds both alike.
The index reads its rows through the `messages_folded` view (external content), so FTS5's own
'rebuild' re-reads them folded.

Both full-text indexes of messages (this one and the recipients' trigrams) are written in
batches, not by a trigger on every insert: a message's rowid waits in PENDING (a trigger: plain
SQL, no tokenizer) until the scheduler's job (keep_index) or the next search indexes the waiting
ones, a few hundred per write transaction. Inserted one message per transaction, FTS5 wrote a new
segment and merged older ones each time: at a year of data that was most of the time the
decider held the write lock, and the acknowledgements' p99 waited behind it (README, "Intake at
a year of data"). In a batch of 100 the same index costs about 1/20 per message.
"""
from __future__ import annotations

import re
import sqlite3
import time
from typing import Callable

from .db import Database

FTS = "messages_fts"
VIEW = "messages_folded"
COLUMNS = ("text", "recipient", "recipient_raw")
# the recipients' trigram index (the phone filter: any part of a number), created by schema.py
RECIPIENTS = "messages_recipients"
RECIPIENT_COLUMNS = ("recipient", "recipient_raw")


def fold_sql(expr: str) -> str:
    """The one folding of stored and typed text (đ -> d, Đ -> D), as SQL over `expr`. The look-alike
    eth (Ð U+00D0, ð) that old Vietnamese encodings used for Đ folds to D/d too."""
    return f"replace(replace(replace(replace({expr}, 'đ', 'd'), 'Đ', 'D'), 'Ð', 'D'), 'ð', 'd')"


def fold_typed(db: Database, text: str) -> str:
    """What a person typed, folded by the same expression as the stored text."""
    return db.scalar(f"SELECT {fold_sql('?')}", (text,)) if text else text


def create(db: sqlite3.Connection) -> None:
    """Replace the unfolded index (v6: FTS5 over messages itself, kept by triggers on every update
    of a message) by the folded one, once: the rebuild reads every message (measured in README)."""
    have = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (FTS,)).fetchone()
    if have and VIEW in have[0]:
        return
    for trigger in ("messages_ai", "messages_ad", "messages_au"):   # sqlite-utils' enable_fts names
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute(f"DROP TABLE IF EXISTS {FTS}")
    db.execute(f"DROP TABLE IF EXISTS {TERMS}")   # the old index's terms: create_terms reads the new one's
    db.execute(f"DROP VIEW IF EXISTS {VIEW}")
    folded = ", ".join(f"{fold_sql(c)} AS {c}" for c in COLUMNS)
    db.execute(f"CREATE VIEW {VIEW} AS SELECT rowid AS rid, {folded} FROM messages")
    db.execute(f"CREATE VIRTUAL TABLE {FTS} USING fts5({', '.join(COLUMNS)}, content='{VIEW}', content_rowid='rid',"
               " tokenize='unicode61 remove_diacritics 2')")
    db.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (RECIPIENTS,)).fetchone():
        # create_terms empties PENDING next: the recipients' index must hold those rows too
        db.execute(f"INSERT INTO {RECIPIENTS}({RECIPIENTS}) VALUES ('rebuild')")
    cols = ", ".join(COLUMNS)

    def values(r: str) -> str:
        return ", ".join(fold_sql(f"{r}.{c}") for c in COLUMNS)
    add = f"INSERT INTO {FTS}(rowid, {cols}) VALUES (new.rowid, {values('new')});"
    remove = f"INSERT INTO {FTS}({FTS}, rowid, {cols}) VALUES ('delete', old.rowid, {values('old')});"
    db.execute(f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON messages BEGIN {add} END")
    db.execute(f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON messages BEGIN {remove} END")
    db.execute(f"CREATE TRIGGER {FTS}_au AFTER UPDATE OF {cols} ON messages BEGIN {remove} {add} END")


# -- a typed prefix as the index's own terms ---------------------------------------------------
# FTS5 (3.40) answers a prefix query ("ha"*) by merging the lists of every term starting with it
# into one list before returning its first row: "ha"* includes "hang" (in every message's "đơn
# hàng"), 955,000 rows at a year of data, 50-70 ms of CPU for each query whatever its LIMIT. The
# same query written as the terms themselves ("ha" OR "hai" OR "hang" OR "hanh") is read lazily,
# newest rowid first, and stops at its LIMIT. So every term of the index is kept in TERMS, added
# in the transaction that indexes the messages they come from (tokenized by a private in-memory
# FTS5 table with the index's tokenizer): TERMS always holds every term of the indexed messages.
TERMS = "search_terms"
# The messages not indexed yet (inserted, or their text or recipient changed): the name is from
# when it listed only the messages whose terms were missing from TERMS.
PENDING = "search_terms_pending"
TOKENIZE = "unicode61 remove_diacritics 2"
EXPAND_MAX = 32          # a prefix of more terms than this ("d", "dh1") stays a prefix query
BATCH = 100              # messages indexed per write transaction: a few ms of the write lock at a year of data
KEEP_EVERY = 10          # seconds between two passes of the job that empties PENDING (keep_index)
KEEP_BUDGET = 2.0        # seconds a pass may take; what is left waits for the next
SEARCH_BUDGET = 5.0      # seconds a search may spend indexing what waits before it reads the index
_SCRATCH = "temp.search_scratch"
_SCRATCH_TERMS = "temp.search_scratch_terms"
_SCRATCH_TOKENS = "temp.search_scratch_tokens"


def create_terms(db: sqlite3.Connection) -> None:
    """TERMS from the index's vocabulary (once: about 1.5 s at 1,000,000 messages), PENDING
    empty. A deleted message needs nothing in TERMS: its terms left there only add a term that
    matches no row to an expansion."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TERMS,)).fetchone():
        return
    db.execute(f"CREATE TABLE {TERMS} (term TEXT PRIMARY KEY) WITHOUT ROWID")
    db.execute(f"CREATE TABLE IF NOT EXISTS {PENDING} (rid INTEGER PRIMARY KEY)")
    db.execute(f"DELETE FROM {PENDING}")   # (after create() rebuilt the index) its vocabulary has them all
    _terms_from_vocabulary(db)


def _terms_from_vocabulary(db: sqlite3.Connection) -> None:
    db.execute(f"CREATE VIRTUAL TABLE temp.search_vocab USING fts5vocab(main, {FTS}, row)")
    try:
        db.execute(f"INSERT OR IGNORE INTO {TERMS} SELECT term FROM temp.search_vocab")
    finally:
        db.execute("DROP TABLE temp.search_vocab")


def _delete_unless_pending(index: str, columns: tuple[str, ...], values: str) -> str:
    """An external-content FTS5 index is told what a row held when it was indexed ('delete' with
    the old values); a row still waiting in PENDING was never indexed, and telling the index to
    delete it would corrupt it."""
    return (f"INSERT INTO {index}({index}, rowid, {', '.join(columns)}) SELECT 'delete', old.rowid, {values}"
            f" WHERE NOT EXISTS (SELECT 1 FROM {PENDING} WHERE rid = old.rowid);")


def defer_indexing(db: sqlite3.Connection) -> None:
    """Both full-text indexes kept in batches from PENDING (each start; the change once).

    Before, triggers indexed every inserted message at once, and PENDING listed the messages
    whose terms were not in TERMS yet (but which were indexed): their terms are added here, then
    the old triggers are replaced. After, an insert only lists its rowid; an update of the text
    or a recipient takes the old values out of the indexes (if they were in) and lists the row
    again; a delete takes them out and unlists it."""
    old = [f"{FTS}_ai", f"{FTS}_ad", f"{FTS}_au", f"{RECIPIENTS}_ai", f"{RECIPIENTS}_ad", f"{RECIPIENTS}_au",
           f"{PENDING}_au"]
    present = {r[0] for r in db.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN ({', '.join('?' * len(old))})", old)}
    if present:
        last = db.execute(f"SELECT MAX(rid) FROM {PENDING}").fetchone()[0]
        if last is not None:
            # an index whose insert trigger was there holds the waiting rows already (only their
            # terms wait); one without it (rebuilt and converted before, then one of the two
            # created again) does not: those rows go into it now
            _index(db, last, [i for i in (FTS, RECIPIENTS) if f"{i}_ai" not in present])
            _scratch(db)
            _add_terms(db, last)
            db.execute(f"DELETE FROM {PENDING}")
        for name in old:
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
    pend = f"INSERT OR IGNORE INTO {PENDING} VALUES (new.rowid);"
    folded = ", ".join(fold_sql(f"old.{c}") for c in COLUMNS)
    plain = ", ".join(f"old.{c}" for c in RECIPIENT_COLUMNS)
    out = (_delete_unless_pending(FTS, COLUMNS, folded) + " "
           + _delete_unless_pending(RECIPIENTS, RECIPIENT_COLUMNS, plain))
    db.execute(f"CREATE TRIGGER IF NOT EXISTS {PENDING}_ai AFTER INSERT ON messages BEGIN {pend} END")
    db.execute(f"CREATE TRIGGER IF NOT EXISTS messages_index_au AFTER UPDATE OF {', '.join(COLUMNS)} ON messages"
               f" BEGIN {out} {pend} END")
    db.execute(f"CREATE TRIGGER IF NOT EXISTS messages_index_ad AFTER DELETE ON messages"
               f" BEGIN {out} DELETE FROM {PENDING} WHERE rid = old.rowid; END")


def rebuild(db: sqlite3.Connection) -> None:
    """Both indexes and TERMS read again from every message, none left waiting (a bulk load that
    listed nothing in PENDING: bench/admin_pages.py)."""
    db.execute(f"DELETE FROM {PENDING}")
    for index in (FTS, RECIPIENTS):
        db.execute(f"INSERT INTO {index}({index}) VALUES ('rebuild')")
    db.execute(f"DELETE FROM {TERMS}")
    _terms_from_vocabulary(db)


def _scratch(c: sqlite3.Connection) -> None:
    """This connection's private tokenizer: a contentless FTS5 table in its temp schema (never
    written to the database file) with the index's tokenizer, and its vocabulary views."""
    if c.execute("SELECT 1 FROM temp.sqlite_master WHERE name = 'search_scratch'").fetchone():
        return
    c.execute(f"CREATE VIRTUAL TABLE {_SCRATCH} USING fts5({', '.join(COLUMNS)}, content='', tokenize='{TOKENIZE}')")
    c.execute(f"CREATE VIRTUAL TABLE {_SCRATCH_TERMS} USING fts5vocab(temp, search_scratch, row)")
    c.execute(f"CREATE VIRTUAL TABLE {_SCRATCH_TOKENS} USING fts5vocab(temp, search_scratch, instance)")


def _clear(c: sqlite3.Connection) -> None:
    c.execute(f"INSERT INTO {_SCRATCH}(search_scratch) VALUES ('delete-all')")


def _add_terms(c: sqlite3.Connection, last: int) -> None:
    """The terms of the messages in PENDING up to rowid `last`, into TERMS."""
    _clear(c)
    folded = ", ".join(fold_sql(col) for col in COLUMNS)
    c.execute(f"INSERT INTO {_SCRATCH}(rowid, {', '.join(COLUMNS)}) SELECT rowid, {folded} FROM messages"
              f" WHERE rowid IN (SELECT rid FROM {PENDING} WHERE rid <= ?)", (last,))
    c.execute(f"INSERT OR IGNORE INTO {TERMS} SELECT term FROM {_SCRATCH_TERMS}")
    _clear(c)


def _index(c: sqlite3.Connection, last: int, indexes: list[str]) -> None:
    """The messages waiting in PENDING up to rowid `last` into these full-text indexes."""
    waiting = f"SELECT rid FROM {PENDING} WHERE rid <= ?"
    if FTS in indexes:
        c.execute(f"INSERT INTO {FTS}(rowid, {', '.join(COLUMNS)}) SELECT rid, {', '.join(COLUMNS)} FROM {VIEW}"
                  f" WHERE rid IN ({waiting})", (last,))
    if RECIPIENTS in indexes:
        c.execute(f"INSERT INTO {RECIPIENTS}(rowid, {', '.join(RECIPIENT_COLUMNS)})"
                  f" SELECT rowid, {', '.join(RECIPIENT_COLUMNS)} FROM messages WHERE rowid IN ({waiting})", (last,))


def index_pending(db: Database, limit: int | None = None) -> bool:
    """Index the oldest `limit` (BATCH) messages waiting in PENDING (both indexes and their
    terms, in one write transaction); True when none is left."""
    if not db.scalar(f"SELECT EXISTS (SELECT 1 FROM {PENDING})"):
        return True
    _scratch(db.conn())
    with db.tx() as c:
        last = c.execute(f"SELECT MAX(rid) FROM (SELECT rid FROM {PENDING} ORDER BY rid LIMIT ?)",
                         (BATCH if limit is None else limit,)).fetchone()[0]
        if last is not None:
            _index(c, last, [FTS, RECIPIENTS])
            _add_terms(c, last)
            c.execute(f"DELETE FROM {PENDING} WHERE rid <= ?", (last,))
        return not c.execute(f"SELECT EXISTS (SELECT 1 FROM {PENDING})").fetchone()[0]


def keep_index(db: Database, budget: float = KEEP_BUDGET, between: Callable[[], object] | None = None) -> bool:
    """The periodic job: PENDING emptied BATCH messages per transaction, so that a search rarely
    finds any waiting (it would index them first, in its own request). True when PENDING is empty.
    `between()` runs between two transactions: the job's waits while webhooks queue (a search,
    which a person waits for, passes none)."""
    end = time.monotonic() + budget
    while not index_pending(db):
        if time.monotonic() >= end:
            return False
        if between is not None:
            between()
    return True


def catch_up(db: Database, budget: float | None = None) -> int:
    """Before a search reads the full-text index: index what waits (in batches, the lock let go
    between them), for at most `budget` seconds. The number of messages still waiting, that the
    search cannot find (0 nearly always: the job keeps PENDING short). `budget`: SEARCH_BUDGET."""
    if keep_index(db, SEARCH_BUDGET if budget is None else budget):
        return 0
    return db.scalar(f"SELECT COUNT(*) FROM {PENDING}")


def _tokens(c: sqlite3.Connection, word: str) -> list[str]:
    """`word` as the index's tokenizer reads it (case and marks folded), in order."""
    _clear(c)
    c.execute(f"INSERT INTO {_SCRATCH}(rowid, text) VALUES (1, ?)", (word,))
    out = [r[0] for r in c.execute(f"SELECT term FROM {_SCRATCH_TOKENS} ORDER BY \"offset\"")]
    _clear(c)
    return out


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def lazy_query(db: Database, query: str) -> str:
    """`query` (the admin's: quoted phrases, each maybe a prefix, as web/admin/messages.fts_query
    writes them, folded) with each one-word prefix replaced by the OR of the terms of the index
    that start with it: the same rows, read lazily. A prefix of more than EXPAND_MAX terms, a
    phrase of several tokens stays as typed (the same rows, merged whole by FTS5). TERMS holds
    every term of the indexed messages (index_pending adds both in one transaction), so the
    expansion misses no row the prefix finds."""
    phrases = re.findall(r'"((?:[^"]|"")*)"(\*?)', query)
    if not phrases or " ".join(_quoted(w.replace('""', '"')) + s for w, s in phrases) != query:
        return query
    c = db.conn()
    _scratch(c)
    out = []
    for raw, star in phrases:
        word = raw.replace('""', '"')
        tokens = _tokens(c, word) if star else []
        if len(tokens) == 1:
            terms = [r[0] for r in c.execute(f"SELECT term FROM {TERMS} WHERE term >= ? AND term < ? ORDER BY term"
                                             " LIMIT ?", (tokens[0], tokens[0] + "\U0010ffff", EXPAND_MAX + 1))]
            if 0 < len(terms) <= EXPAND_MAX:
                out.append("(" + " OR ".join(_quoted(t) for t in terms) + ")")
                continue
        out.append(_quoted(word) + star)
    return " AND ".join(out)
