"""woo-bridge runner: `python app.py` serves on HOST:PORT (default 127.0.0.1:8000) with waitress
and runs the background jobs in the same process; `create_app()` is the WSGI entry (gunicorn
`app:create_app()`) and what tests build.

The factory itself (bridge/web/app.py) starts nothing in the background; this runner decides,
from RUN_SCHEDULER, whether this process also runs the scheduler.
"""
from __future__ import annotations

import gc
import logging
import sys

from flask import Flask

from bridge.config import ConfigError, Settings, load_settings
from bridge.rules import RulesError
from bridge.service import Bridge
from bridge.web.app import create_app as build_app


def create_app(settings: Settings | None = None, start_scheduler: bool | None = None) -> Flask:
    """The app, with the scheduler started when `start_scheduler` (default: RUN_SCHEDULER) says so."""
    app = build_app(settings)
    b: Bridge = app.extensions["bridge"]
    if start_scheduler if start_scheduler is not None else b.settings.run_scheduler:
        b.start_scheduler()
    return app


def main() -> int:
    try:
        settings = load_settings()
        app = create_app(settings)
    except (ConfigError, RulesError, ValueError) as exc:
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
        serve(app, host=settings.host, port=settings.port, threads=settings.web_threads,
              ident="woo-bridge")
    finally:
        b.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
