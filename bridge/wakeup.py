"""Wake the sending process from another process: a datagram on a Unix socket beside the
database.

When the web side and the worker are separate processes (gunicorn + `python -m bridge
worker`), a message committed by the web side would otherwise wait for the worker's next look
at the outbox (WORKER_INTERVAL). The web side sends one byte to the worker's socket after
committing; the worker drains at once. The socket lives next to the SQLite file, so it works
wherever the database is shared (same host, or containers sharing the volume). Losing a wake-up
costs nothing but latency: the interval still runs.
"""
from __future__ import annotations

import hashlib
import logging
import os
import select
import socket
import threading
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


def socket_path(db_path: str) -> str:
    p = Path(db_path).resolve()
    path = str(p.with_name(f".{p.name}.wake"))
    # AF_UNIX paths are limited to ~107 bytes; a deep data directory falls back to /tmp, under a
    # name every process computes alike (Python's hash() of a str differs per process)
    digest = hashlib.sha256(path.encode()).hexdigest()[:20]
    return path if len(path.encode()) < 100 else f"/tmp/woo-bridge-{digest}.wake"


# What a datagram asks for. A webhook's acknowledgement only leaves a row to decide; deciding
# then wakes the sender itself (Bridge.decider's `decided`). Anything else (the outbox written by
# a command or an admin page; "w" from an older process) asks for both.
DECIDE = b"d"
SEND = b"w"


class Waker:
    """The sending side of the wake-up (web processes)."""

    def __init__(self, db_path: str):
        self.path = socket_path(db_path)
        self._sock: socket.socket | None = None

    def notify(self, what: bytes = SEND) -> bool:
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            self._sock.sendto(what, self.path)
            return True
        except OSError:   # no worker listening (yet), or its queue is full: the interval covers it
            return False


class Listener:
    """The receiving side (the process running the scheduler): per wake-up, `on_wake` when any
    datagram since the last one asked to send, else `on_decide` (when given; `on_wake` if not).

    `settle`, when given, runs after the first datagram of a wake-up and before the rest are
    read: the service waits there (briefly) while webhooks queue in a web process, so that at
    a thousand acknowledgements a second the worker wakes a few dozen times, not once per
    answer, taking the CPU the answers need (bench/intake.py: a sixth of the worker's share)."""

    def __init__(self, db_path: str, on_wake: Callable[[], None], on_decide: Callable[[], None] | None = None,
                 settle: Callable[[], object] | None = None):
        self.path = socket_path(db_path)
        self.on_wake = on_wake
        self.on_decide = on_decide or on_wake
        self.settle = settle
        self._sock: socket.socket | None = None
        self._stop = threading.Event()

    def start(self) -> bool:
        try:
            if os.path.exists(self.path):
                os.unlink(self.path)   # a previous worker's socket (crash, kill -9)
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.bind(self.path)
            self._sock.settimeout(0.5)
        except OSError as exc:
            log.warning("cross-process wake-up unavailable (%s): sending follows WORKER_INTERVAL", exc)
            return False
        threading.Thread(target=self._run, name="wake-listener", daemon=True).start()
        return True

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                first = self._sock.recv(64)
                if self.settle is not None:
                    self.settle()
                send = self._drain(first != DECIDE)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                (self.on_wake if send else self.on_decide)()
            except Exception:  # never let the listener die on a bug in the callback
                log.exception("wake-up handler failed")

    def _drain(self, send: bool) -> bool:
        """The datagrams that came meanwhile ask for the same thing: one wake-up answers them all
        (at hundreds of acknowledgements a second, one per datagram kept the worker's threads
        switching for nothing). Whether any of them asked to send."""
        assert self._sock is not None
        # select, not recv(MSG_DONTWAIT): on a socket with a timeout Python waits for data first
        while select.select([self._sock], [], [], 0)[0]:
            send = self._sock.recv(64) != DECIDE or send
        return send

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
            try:
                os.unlink(self.path)
            except OSError:
                pass
