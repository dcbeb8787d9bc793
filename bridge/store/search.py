"""The messages' full-text index, folded so that `đơn`, `don`, `Đơn` and `ĐƠN` find the same rows.

FTS5's unicode61 tokenizer (remove_diacritics 2) folds case and every Vietnamese mark that is a
combining accent (ơ, ư, ă, â, ê, ô and the tones), but not đ/Đ: they are letters of their own,
not d with a mark. So the index holds the text with đ/Đ replaced by d/D, and what a person types
goes through the very same SQL expression (`fold_typed`) before the tokenizer folds both alike.
The index reads its rows through the `messages_folded` view (external content), so FTS5's own
'rebuild' re-reads them folded.
"""
from __future__ import annotations

import sqlite3

from .db import Database

FTS = "messages_fts"
VIEW = "messages_folded"
COLUMNS = ("text", "recipient", "recipient_raw")


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
    db.execute(f"DROP VIEW IF EXISTS {VIEW}")
    folded = ", ".join(f"{fold_sql(c)} AS {c}" for c in COLUMNS)
    db.execute(f"CREATE VIEW {VIEW} AS SELECT rowid AS rid, {folded} FROM messages")
    db.execute(f"CREATE VIRTUAL TABLE {FTS} USING fts5({', '.join(COLUMNS)}, content='{VIEW}', content_rowid='rid',"
               " tokenize='unicode61 remove_diacritics 2')")
    db.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")
    cols = ", ".join(COLUMNS)

    def values(r: str) -> str:
        return ", ".join(fold_sql(f"{r}.{c}") for c in COLUMNS)
    add = f"INSERT INTO {FTS}(rowid, {cols}) VALUES (new.rowid, {values('new')});"
    remove = f"INSERT INTO {FTS}({FTS}, rowid, {cols}) VALUES ('delete', old.rowid, {values('old')});"
    db.execute(f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON messages BEGIN {add} END")
    db.execute(f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON messages BEGIN {remove} END")
    db.execute(f"CREATE TRIGGER {FTS}_au AFTER UPDATE OF {cols} ON messages BEGIN {remove} {add} END")
