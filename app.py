"""woo-bridge runner: `python app.py` serves on HOST:PORT (default 127.0.0.1:8000) with waitress
and runs the background jobs in the same process; `create_app()` is the WSGI entry (gunicorn
`app:create_app()`) and what tests build.

The factory itself (bridge/web/app.py) starts nothing in the background; this runner decides,
from RUN_SCHEDULER, whether this process also runs the scheduler.
"""
from __future__ import annotations

import errno
import gc
import logging
import socket
import sys

from flask import Flask

from bridge.config import ConfigError, Settings, load_settings
from bridge.rules import RulesError
from bridge.service import Bridge
from bridge.web.app import create_app as build_app


def create_app(settings: Settings | None = None, start_scheduler: bool | None = None) -> Flask:
    """The app, with the scheduler started when `start_scheduler` (default: RUN_SCHEDULER) says so,
    and the decider when DECIDE_IN=process (the scheduler's process always decides)."""
    app = build_app(settings)
    b: Bridge = app.extensions["bridge"]
    if start_scheduler if start_scheduler is not None else b.settings.run_scheduler:
        b.start_scheduler()
    if b.settings.decide_in == "process":
        b.start_decider()   # webhooks answered here are decided here, right after the answer
    return app


def listen(host: str, port: int) -> list[socket.socket]:
    """The listening sockets, bound before anything else starts: a port that is taken stops the
    start with one clear line, before the banner, the scheduler or the one-time password."""
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, addr in dict.fromkeys(
                socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)):
            s = socket.socket(family, kind, proto)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(addr)
            s.listen(1024)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use (another woo-bridge, or another program, listens there). "
                f"Stop it, or start on another port: PORT={port + 1} python app.py (make run PORT={port + 1})")
    if exc.errno == errno.EACCES:
        return (f"no permission to listen on port {port} of {host} (ports below 1024 need root): use a port such "
                "as 8000 behind a proxy (deploy/nginx-woo-bridge.conf)")
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def main() -> int:
    try:
        settings = load_settings()
    except (ConfigError, ValueError) as exc:
        print(f"woo-bridge cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        socks = listen(settings.host, settings.port)
    except OSError as exc:
        print(f"woo-bridge cannot start: {_cannot_listen(settings.host, settings.port, exc)}", file=sys.stderr)
        return 1
    try:
        app = create_app(settings)
    except (ConfigError, RulesError, ValueError) as exc:
        for s in socks:
            s.close()
        print(f"woo-bridge cannot start: {exc}", file=sys.stderr)
        return 2
    b: Bridge = app.extensions["bridge"]
    # Web threads and send threads share one interpreter lock; a shorter switch interval keeps a
    # webhook from waiting behind a burst of provider answers (acknowledgement p99).
    sys.setswitchinterval(settings.switch_interval)
    # Everything loaded so far lives as long as the process: keep it out of the cyclic
    # collector's way so collections during requests stay short.
    gc.freeze()
    print(b.banner(), flush=True)
    logging.getLogger("bridge").info("listening on http://%s:%s", settings.host, settings.port)
    from waitress import serve
    try:
        serve(app, sockets=socks, threads=settings.web_threads, ident="woo-bridge")
    finally:
        b.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
