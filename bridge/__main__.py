"""Command line: `python -m bridge init | run | worker | check-config | admin-password | rotate-secret |
send-test | connect | reconcile | import-orders | backup`."""
from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import threading
from typing import Any

from . import logs, providers, reasons
from .config import ConfigError, load_settings, settings_with
from .rules import RulesError


def _bridge(run_scheduler: bool, shows: bool = False):
    """`shows`: the command prints the banner (init, worker), so what is shown once is made and
    shown here; the others leave it to such a start (service.Bridge)."""
    from .service import Bridge
    settings = load_settings()
    return Bridge(settings_with(settings, run_scheduler=run_scheduler), shows=shows)


def cmd_init(_args) -> int:
    b = _bridge(False, shows=True)
    print(b.banner())
    b.shutdown()
    return 0


def cmd_check_config(_args: argparse.Namespace) -> int:
    """Validate the environment and `mappings/` (building the service does both, naming the
    variable, file, rule and field), then what only makes sense across settings."""
    b = _bridge(False)
    try:
        errors, warnings = config_problems(b)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        if errors:
            print("woo-bridge: invalid configuration:\n  " + "\n  ".join(errors), file=sys.stderr)
            return 2
        print(f"configuration OK: {len(b.rules.rules)} rules, channels: "
              + ", ".join(f"{n} ({'live' if c.configured else 'dry-run'})" for n, c in b.channels.items()
                          if n != "dry-run")
              + "".join(f"; {m.summary(b.settings)}" for m in providers.cli_modules() if hasattr(m, "summary")))
        if not b.admin_password_hash:
            print("admin password: none yet; the first start (python app.py, make run or python -m bridge init) "
                  "makes one and prints it once (or set ADMIN_PASSWORD)")
        return 0
    finally:
        b.shutdown()


def config_problems(b: Any) -> tuple[list[str], list[str]]:
    """(errors, warnings) no single variable shows: half-given credentials, owner phones that
    cannot be texted, alert channels that do not exist, a PUBLIC_URL WordPress cannot reach."""
    from .phones import normalize_phone
    s = b.settings
    errors, warnings = [], []
    for m in providers.cli_modules():
        if hasattr(m, "problems"):
            theirs, warned = m.problems(s)
            errors += theirs
            warnings += warned
    errors += providers.config_errors(s)
    for raw in s.owner_phones:
        phone = normalize_phone(raw)
        if not phone.ok:
            errors.append(f"OWNER_PHONES: {raw!r} cannot be texted: {phone.reason}")
    unknown = [c for c in s.alert_channels if c not in b.channels]
    if unknown:
        errors.append(f"ALERT_CHANNELS: unknown channel(s) {', '.join(unknown)}; known: {', '.join(b.channels)}")
    if not s.owner_phones:
        warnings.append("OWNER_PHONES is empty: nobody receives new-order and trouble alerts")
    from . import bank_details
    bank = bank_details.warning(s, bank_details.count(b.db))
    if bank:
        warnings.append(bank)
    warnings.extend(getattr(b, "secret_warnings", []))
    return errors, warnings


def cmd_admin_password(_args) -> int:
    """A new admin password when the generated one was lost (without ADMIN_PASSWORD set)."""
    from . import admin_password
    from .store.db import Database
    settings = load_settings()
    if settings.admin_password:
        print("ADMIN_PASSWORD is set: that is the password; change it there", file=sys.stderr)
        return 2
    db = Database(settings.db_path)
    db.migrate()
    print(f"new admin password: {admin_password.reset(db)}   (the old one no longer works)")
    return 0


ROTATION_EFFECT = {
    "secret_key": "admin sessions and every outstanding signed link (chat refs) stop working",
    **providers.rotation_effects(),
}


def cmd_rotate_secret(args: argparse.Namespace) -> int:
    """A new value for one generated secret (each provider's, or SECRET_KEY), printed once (SECRET_KEY never: nobody
    pastes it anywhere); the service reads it at its next start. Every admin session ends. A
    secret set in the environment is changed there instead."""
    from . import admin_password
    from .store.db import Database
    from .service import GENERATED_SECRETS, rotate_secret
    settings = load_settings()
    db = Database(settings.db_path)
    db.migrate()
    value = rotate_secret(db, settings, args.name)
    attr, env = next((a, e) for a, e in GENERATED_SECRETS.items() if args.name in (a, e, e.lower()))
    admin_password.end_sessions(db)
    effects = {**ROTATION_EFFECT,
               **{k: v for m in providers.cli_modules() for k, v in getattr(m, "ROTATION_EFFECT", {}).items()}}
    shown = "(not shown: nobody needs to paste it anywhere)" if attr == "secret_key" else f"{value}   (shown only now)"
    print(f"new {env}: {shown}\nrestart the service (web and worker) so every process uses it; {effects[attr]}")
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
    # Deciding and sending come after the answer: under a burst the web processes that
    # acknowledge get the CPU first, and the backlog is decided as soon as they leave some.
    os.nice(settings.worker_nice)
    b = _bridge(True, shows=True)
    b.start_scheduler()
    print(b.banner(), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    b.shutdown()
    return 0


def cmd_send_test(args: argparse.Namespace) -> int:
    """One message now, through the normal outbox (recorded, visible in the admin page), to see a
    channel work end to end. Only this message is sent: a backlog waits for the service."""
    import uuid

    from .outbox import Draft, claim, enqueue
    from .store import messages
    from .phones import normalize_phone
    from .smstext import prepare
    b = _bridge(False)
    try:
        channel = b.channels.get(args.channel)
        if channel is None:
            raise ValueError(f"unknown channel {args.channel!r}; known: {', '.join(sorted(b.channels))}")
        phone = normalize_phone(args.phone)
        if not phone.ok:
            raise ValueError(f"{args.phone!r} is not a usable phone number: {phone.reason}")
        if not channel.configured:
            print(f"channel {args.channel} is not configured ({channel.why_not_configured}): DRY-RUN, the message "
                  "is recorded, not sent")
        text = args.text or f"{b.settings.shop_name}: tin nhan thu tu woo-bridge."
        with b.db.tx() as c:
            mid = enqueue(c, Draft.to_phone(phone, dedupe_key=f"send-test:{uuid.uuid4().hex}", rule="send-test",
                                            event="test", audience="test", channels=(args.channel,),
                                            sms=prepare(text, not args.plain)))
        for row in claim(b.db, 1, b.settings.send_lease, only=mid,
                         doubt=(b.settings.in_doubt_after, b.worker.route_names)):
            b.worker.record([b.worker.call(row)])
        m = messages.get(b.db, mid)
        print(f"message {mid} to {phone.e164} via {m['channel']}: {m['status']}"
              + (f" (provider id {m['provider_id']})" if m["provider_id"] else "")
              + (f": {reasons.english(m['reason'])}" if m["reason"] else "") + f"; {m['segments']} SMS, {m['encoding']}")
        if m["status"] in ("pending", "scheduled"):
            print("not sent yet: the running service (python app.py or worker) sends it when it is due",
                  file=sys.stderr)
        return 0 if m["status"] in ("queued", "sent", "delivered", "dry-run") else 1
    finally:
        b.shutdown()


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the live database with SQLite's online backup API (one read
    transaction, so writers go on meanwhile), checked with integrity_check before it is kept."""
    import os
    from pathlib import Path

    from .store.db import backup
    settings = load_settings()
    target = Path(args.path)
    if target.is_dir():
        raise ValueError(f"{target} is a directory; give the path of the copy, e.g. {target / 'bridge-backup.db'}")
    if target.exists() and not args.force:
        raise ValueError(f"{target} exists; use --force to overwrite it")
    if not Path(settings.db_path).is_file():
        raise ValueError(f"no database at {settings.db_path} (BRIDGE_DB)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.unlink(missing_ok=True)
    # a copy of the database holds every secret: created empty 0600 (SQLite takes an empty file
    # as a new database), so it is never readable by other accounts, not even while it is written
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    result, orders, messages = backup(settings.db_path, tmp)
    if result != "ok":
        tmp.unlink(missing_ok=True)
        print(f"backup failed its integrity check: {result}", file=sys.stderr)
        return 1
    os.replace(tmp, target)
    print(f"backup written to {target}: {target.stat().st_size} bytes, integrity_check ok, {orders} orders, "
          f"{messages} messages")
    db = Path(settings.db_path)
    for beside in sorted(db.parent.glob(db.name + ".*")):   # secrets a provider keeps out of the database
        print(f"not in the copy: {beside} (a secret kept beside the database on purpose): back it up separately, "
              "never next to the copy")
    return 0


def cmd_vacuum(_args: argparse.Namespace) -> int:
    """Shrink the file to what it holds. Retention frees pages that SQLite reuses for new rows, so
    the file stops growing without this; it is for giving the space back once (after turning
    retention on over a large database). It rewrites the whole file and holds the write lock
    throughout (about 25 s a GB), so every write of a running service would fail: it refuses
    while the service's scheduler holds its lease. It needs free disk for a copy of the database
    where SQLite keeps temporary files, and beside the database for the write-ahead log, which
    grows to about the new file's size before it is folded back."""
    import time
    from pathlib import Path

    from . import leader, retention
    from .store.db import Database
    settings = load_settings()
    db = Path(settings.db_path)
    if not db.is_file():
        raise ValueError(f"no database at {settings.db_path} (BRIDGE_DB)")
    conn = Database(str(db))
    try:
        holder = leader.live_holder(conn, settings.scheduler_lease)
    finally:
        conn.close()
    if holder is not None:
        print(f"woo-bridge vacuum: the service is running ({holder} holds the scheduler lease); stop the web"
              " and worker processes first: a vacuum holds the write lock throughout and their writes would fail",
              file=sys.stderr)
        return 1
    short = retention.vacuum_space_short(str(db))
    if short:
        print(f"woo-bridge vacuum: {short}", file=sys.stderr)
        return 1
    started = time.monotonic()
    before, after = retention.vacuum(str(db))
    print(f"vacuum: {before} -> {after} bytes in {time.monotonic() - started:.1f} s")
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
    st.add_argument("--channel", default=providers.default_channel(),
                    help=f"channel to use (default {providers.default_channel()})")
    st.add_argument("--text", default="", help="the text (default: a short test message)")
    st.add_argument("--plain", action="store_true", help="send without diacritics (GSM-7)")
    provided = {k: v for m in providers.cli_modules() for k, v in m.register(sub).items()}
    rs = sub.add_parser("rotate-secret", help="make a new value for a generated secret, print it once")
    rs.add_argument("name", help=", ".join(providers.generated_secrets().values()) + " or SECRET_KEY")
    bk = sub.add_parser("backup", help="copy the live database to PATH (safe while the service runs)")
    bk.add_argument("path")
    bk.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    sub.add_parser("vacuum", help="shrink the database file to what it holds (service stopped; needs free disk ~ its size)")
    args = p.parse_args(argv)
    handlers = {"init": cmd_init, "check-config": cmd_check_config, "run": cmd_run, "worker": cmd_worker,
                "admin-password": cmd_admin_password, "send-test": cmd_send_test, "backup": cmd_backup,
                "rotate-secret": cmd_rotate_secret, "vacuum": cmd_vacuum, **provided}
    try:
        return handlers[args.command](args)
    except (ConfigError, RulesError, ValueError) as exc:
        print(f"woo-bridge: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:   # disk, permissions, a database that is not one
        print(f"woo-bridge {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
