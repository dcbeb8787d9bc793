"""A receiver of forwarded messages (a chatbot, a CRM) that honours `Idempotency-Key`, as the
README asks of one: a repeat of a key it has acted on is answered 200 and not acted on again.
It can also lose its answer: act on the request, then drop the connection without answering."""
from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, request

from .server import LoopbackServer, drop_connection


class FakeReceiver(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.acted: dict[str, dict[str, Any]] = {}   # Idempotency-Key -> the body it acted on
        self.requests_log: list[str] = []            # every key received, repeats included
        self.hold = 0.0                              # with lose_next: how long before dropping
        self._lose = 0
        self._lock = threading.Lock()
        self.url = ""
        self.app = self._make_app()

    def started(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def lose_next(self, n: int = 1, hold: float = 0.0) -> None:
        """The next n requests are acted on, held `hold` seconds, then the connection drops."""
        with self._lock:
            self._lose, self.hold = n, hold

    def _make_app(self) -> Flask:
        app = Flask("fake-receiver")

        @app.post("/hook")
        def hook():
            key = request.headers.get("Idempotency-Key", "")
            with self._lock:
                self.requests_log.append(key)
                self.acted.setdefault(key, request.get_json(silent=True) or {})
                lose = self._lose > 0
                self._lose -= 1 if lose else 0
            if lose:
                time.sleep(self.hold)
                return drop_connection()
            return {"ok": True}

        return app
