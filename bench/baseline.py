"""The two baselines bench/intake.py measures woo-bridge against, served by gunicorn with the same
deploy/gunicorn.conf.py (the app given on its command line replaces the config's `wsgi_app`):

    gunicorn -c deploy/gunicorn.conf.py "bench.baseline:create_app('bare')"     # b1
    gunicorn -c deploy/gunicorn.conf.py "bench.baseline:create_app('insert')"   # b2 (BASELINE_DB)

b1 reads the POSTed body and answers 200 with a small JSON; b2 also commits the body in one SQLite
insert, through woo-bridge's own connection class (bridge.store.db.Database: WAL, the same busy
timeout and per-process write lock, woo-bridge's SQLITE_SYNCHRONOUS: its default, or the one the
environment sets for both), so the difference between b2 and b1 is the price of one durable
write, and between woo-bridge and b2 everything else our acknowledgement does (signature check,
parsing, what it stores and decides before answering).
"""
from __future__ import annotations

import os
import time

from flask import Flask, Response, request

from bridge.config import load_settings
from bridge.store.db import Database

OK = b'{"ok":true}'


def synchronous() -> str:
    """woo-bridge's SQLITE_SYNCHRONOUS: its default, or what the environment sets for both."""
    given = {k: v for k, v in os.environ.items() if k == "SQLITE_SYNCHRONOUS"}
    return load_settings(environ=given, env_file=None).sqlite_synchronous


def create_app(kind: str) -> Flask:
    """`kind`: "bare" (b1) or "insert" (b2, into the SQLite file named by BASELINE_DB)."""
    if kind not in ("bare", "insert"):
        raise ValueError(f"unknown baseline {kind!r}")
    app = Flask(f"baseline-{kind}")
    db = None
    if kind == "insert":
        db = Database(os.environ["BASELINE_DB"], synchronous=synchronous())
        with db.tx() as c:
            c.execute("CREATE TABLE IF NOT EXISTS deliveries(id INTEGER PRIMARY KEY, received_at REAL, body BLOB)")

    @app.post("/webhooks/woocommerce")
    def webhook() -> Response:
        body = request.get_data()
        if db is not None:
            with db.tx() as c:
                c.execute("INSERT INTO deliveries(received_at, body) VALUES (?, ?)", (time.time(), body))
        return Response(OK, content_type="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(OK, content_type="application/json")

    return app
