"""Command line: `python -m bridge init | run | worker | check-config | admin-password`."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .config import ConfigError, load_settings, settings_with
from .rules import RulesError


def _bridge(run_scheduler: bool):
    from .service import Bridge
    settings = load_settings()
    return Bridge(settings_with(settings, run_scheduler=run_scheduler))


def cmd_init(_args) -> int:
    b = _bridge(False)
    print(b.banner())
    b.shutdown()
    return 0


def cmd_check_config(_args) -> int:
    b = _bridge(False)
    print(f"configuration OK: {len(b.rules.rules)} rules, channels: "
          + ", ".join(f"{n} ({'live' if c.configured else 'dry-run'})" for n, c in b.channels.items() if n != "dry-run"))
    b.shutdown()
    return 0


def cmd_admin_password(_args) -> int:
    """A new admin password when the generated one was lost (without ADMIN_PASSWORD set)."""
    from . import admin_password
    from .db import Database
    settings = load_settings()
    if settings.admin_password:
        print("ADMIN_PASSWORD is set: that is the password; change it there", file=sys.stderr)
        return 2
    db = Database(settings.db_path)
    db.migrate()
    print(f"new admin password: {admin_password.reset(db)}   (the old one no longer works)")
    return 0


def cmd_run(_args) -> int:
    import runpy
    from pathlib import Path
    app_py = Path(__file__).resolve().parent.parent / "app.py"
    sys.argv = [str(app_py)]
    runpy.run_path(str(app_py), run_name="__main__")
    return 0


def cmd_worker(_args) -> int:
    """The background jobs without the web surface, for deployments that separate them."""
    settings = load_settings()
    logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    b = _bridge(True)
    b.start_scheduler()
    print(b.banner(), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    b.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bridge", description="woo-bridge service commands")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create/upgrade the database, validate rules, print the webhook URL and secret")
    sub.add_parser("check-config", help="validate environment and mappings; exit non-zero with reasons")
    sub.add_parser("run", help="start the web service with background jobs (same as python app.py)")
    sub.add_parser("worker", help="run only the background jobs (outbox, polling) as their own process")
    sub.add_parser("admin-password", help="make a new admin password (when ADMIN_PASSWORD is not set)")
    args = p.parse_args(argv)
    handlers = {"init": cmd_init, "check-config": cmd_check_config, "run": cmd_run, "worker": cmd_worker,
                "admin-password": cmd_admin_password}
    try:
        return handlers[args.command](args)
    except (ConfigError, RulesError, ValueError) as exc:
        print(f"woo-bridge: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
