"""Command line: `python -m bridge init | run | worker | check-config | admin-password | send-test |
reconcile | import-orders | backup`."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from . import logs
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
    logs.setup(settings.log_level, settings.log_format)
    b = _bridge(True)
    b.start_scheduler()
    print(b.banner(), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    b.shutdown()
    return 0


def cmd_send_test(args) -> int:
    """One real message now, through the normal outbox (recorded, idempotent), to check a channel."""
    import uuid

    from .outbox import Draft, enqueue
    from .phones import normalize_phone
    from .smstext import prepare
    b = _bridge(False)
    try:
        if args.channel not in b.channels:
            raise ValueError(f"unknown channel {args.channel!r}; known: {', '.join(sorted(b.channels))}")
        phone = normalize_phone(args.phone)
        if not phone.ok:
            raise ValueError(f"{args.phone!r} is not a usable phone number: {phone.reason}")
        text = args.text or f"{b.settings.shop_name}: tin nhan thu tu woo-bridge."
        with b.db.tx() as c:
            mid = enqueue(c, Draft.to_phone(phone, dedupe_key=f"send-test:{uuid.uuid4().hex}", rule="send-test",
                                            event="test", audience="test", channels=(args.channel,),
                                            sms=prepare(text, not args.plain)))
        b.worker.drain()
        m = b.db.one("SELECT status, channel, reason, provider_id, segments FROM messages WHERE id=?", (mid,))
        print(f"message {mid} to {phone.e164} via {m['channel']}: {m['status']}"
              + (f" (provider id {m['provider_id']})" if m["provider_id"] else "")
              + (f": {m['reason']}" if m["reason"] else "") + f"; {m['segments']} SMS")
        return 0 if m["status"] in ("queued", "sent", "delivered", "dry-run") else 1
    finally:
        b.shutdown()


def _print_summary(summary) -> int:
    print(f"since {summary.since}: {summary.fetched} orders fetched, {summary.processed} taken in, "
          f"{summary.notified} messages queued")
    if summary.webhooks_reactivated:
        print(f"webhooks re-activated: {', '.join(map(str, summary.webhooks_reactivated))}")
    if summary.stale_pending:
        print(f"bank-transfer orders still unpaid: {', '.join(summary.stale_pending)}")
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)
        return 1
    return 0


def cmd_reconcile(_args) -> int:
    """One reconcile pass now (the scheduler also runs it every RECONCILE_EVERY seconds)."""
    from . import reconcile
    b = _bridge(False)
    try:
        summary = reconcile.run(b)
        b.worker.drain()
        return _print_summary(summary)
    finally:
        b.shutdown()


def cmd_import_orders(args) -> int:
    """Take in the shop's orders changed since a date, without messaging anyone (unless --notify)."""
    from datetime import datetime

    from tqdm import tqdm

    from . import reconcile
    try:
        since = datetime.strptime(args.since, "%Y-%m-%d").strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise ValueError(f"--since must be a date like 2026-11-01, not {args.since!r}") from None
    b = _bridge(False)
    bar = tqdm(unit="page", desc="importing orders", file=sys.stderr, disable=args.quiet)

    def progress(page: int, pages: int) -> None:
        bar.total = pages
        bar.update(1)

    try:
        summary = reconcile.run(b, since=since, notify=args.notify, progress=progress)
        bar.close()
        if args.notify:
            b.worker.drain()
        return _print_summary(summary)
    finally:
        b.shutdown()


def cmd_backup(args) -> int:
    """A consistent copy of the live database (SQLite's online backup), checked after writing."""
    import os
    import sqlite3
    from pathlib import Path
    settings = load_settings()
    target = Path(args.path)
    if target.exists() and not args.force:
        raise ValueError(f"{target} exists; use --force to overwrite it")
    if not Path(settings.db_path).exists():
        raise ValueError(f"no database at {settings.db_path} (BRIDGE_DB)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    src = sqlite3.connect(settings.db_path, timeout=30)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst, pages=1024)
    finally:
        dst.close()
        src.close()
    check = sqlite3.connect(tmp)
    try:
        result = check.execute("PRAGMA integrity_check").fetchone()[0]
        orders = check.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        messages = check.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    finally:
        check.close()
    if result != "ok":
        tmp.unlink(missing_ok=True)
        print(f"backup failed its integrity check: {result}", file=sys.stderr)
        return 1
    os.replace(tmp, target)
    print(f"backup written to {target}: {target.stat().st_size} bytes, integrity ok, {orders} orders, "
          f"{messages} messages")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bridge", description="woo-bridge service commands")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create/upgrade the database, validate rules, print the webhook URL and secret")
    sub.add_parser("check-config", help="validate environment and mappings; exit non-zero with reasons")
    sub.add_parser("run", help="start the web service with background jobs (same as python app.py)")
    sub.add_parser("worker", help="run only the background jobs (outbox, polling) as their own process")
    sub.add_parser("admin-password", help="make a new admin password (when ADMIN_PASSWORD is not set)")
    st = sub.add_parser("send-test", help="send one test message now and print what the provider said")
    st.add_argument("phone")
    st.add_argument("--channel", default="esms", help="channel to use (default esms)")
    st.add_argument("--text", default="", help="the text (default: a short test message)")
    st.add_argument("--plain", action="store_true", help="send without diacritics (GSM-7)")
    sub.add_parser("reconcile", help="fetch orders changed since the last seen change from WooCommerce now")
    im = sub.add_parser("import-orders", help="take in existing orders without messaging customers")
    im.add_argument("--since", required=True, help="date (YYYY-MM-DD, GMT) of the oldest change to import")
    im.add_argument("--notify", action="store_true", help="send the notices as if the webhooks had arrived")
    im.add_argument("--quiet", action="store_true", help="no progress bar")
    bk = sub.add_parser("backup", help="copy the live database to PATH (safe while the service runs)")
    bk.add_argument("path")
    bk.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    args = p.parse_args(argv)
    handlers = {"init": cmd_init, "check-config": cmd_check_config, "run": cmd_run, "worker": cmd_worker,
                "admin-password": cmd_admin_password, "send-test": cmd_send_test, "reconcile": cmd_reconcile,
                "import-orders": cmd_import_orders, "backup": cmd_backup}
    try:
        return handlers[args.command](args)
    except (ConfigError, RulesError, ValueError) as exc:
        print(f"woo-bridge: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
