"""The owner's URL for outgoing events (a chatbot, a CRM), as the README asks one to be: it keeps
the raw body and headers of every request, acts on an event id once and answers a repeat 200.

It can fail the ways a real one does: answer 5xx (`fail_next`), not listen at all (`stop`, then
`start` again on the same port: connection refused meanwhile), or act and lose its answer
(`lose_next`: the connection drops before any answer)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from flask import Flask, request
from werkzeug.serving import make_server

from .server import LoopbackServer, drop_connection


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]   # names in lower case
    body: bytes
    status: int        # what it answered (0: it dropped the connection)


class EventReceiver(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Received] = []       # every request, failed ones included
        self.acted: list[str] = []               # event ids acted on, repeats included, in arrival order
        self.bodies: dict[str, dict[str, Any]] = {}   # event id -> the event, as first acted on
        self._fail = 0
        self._fail_status = 500
        self._lose = 0
        self._lock = threading.Lock()
        self.app = self._make_app()

    def start(self) -> "EventReceiver":
        """Listen (again on the same port after `stop`: the sender's URL stays valid)."""
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}/events"
        threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def fail_next(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._fail, self._fail_status = n, status

    def lose_next(self, n: int = 1) -> None:
        with self._lock:
            self._lose = n

    def answered(self, status: int) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.status == status)

    def _make_app(self) -> Flask:
        app = Flask("fake-event-receiver")

        @app.post("/events")
        def events():
            body = request.get_data()
            headers = {k.lower(): v for k, v in request.headers.items()}
            with self._lock:
                if self._fail > 0:
                    self._fail -= 1
                    self.requests.append(Received(headers, body, self._fail_status))
                    return {"error": "receiver down " * 100}, self._fail_status
                lose = self._lose > 0
                self._lose -= 1 if lose else 0
                event = request.get_json(silent=True) or {}
                event_id = headers.get("x-woobridge-event-id", "")
                self.acted.append(event_id)
                self.bodies.setdefault(event_id, event)
                self.requests.append(Received(headers, body, 0 if lose else 200))
            if lose:   # acted on, and the answer never leaves
                return drop_connection()
            return {"ok": True}

        return app
