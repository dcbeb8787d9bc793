"""The shop's commands in `python -m bridge`: connect, reconcile, import-orders; and what
check-config says about the WooCommerce settings. Registered through the provider registry, so
the core's CLI names no shop."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable
from urllib.parse import urlsplit

# What an operator does after `rotate-secret` of a secret of ours (the core's table adds these).
ROTATION_EFFECT = {"woo_webhook_secret": "run `python -m bridge connect` (or paste it into every WooCommerce webhook)"}


def _bridge() -> Any:
    from ...config import load_settings, settings_with
    from ...service import Bridge
    return Bridge(settings_with(load_settings(), run_scheduler=False))


def _need_woo(b: Any) -> Any:
    """The settings the shop is reached with (environment, else the connection stored from the admin)."""
    from .connection import effective
    s = effective(b.settings)
    if not s.woo_configured:
        raise ValueError("WooCommerce REST is not configured: connect the shop in the admin (Kết nối WooCommerce), "
                         "or set WOO_URL, WOO_CONSUMER_KEY and WOO_CONSUMER_SECRET (WooCommerce > Settings > "
                         "Advanced > REST API, Read/Write)")
    return s


def _print_summary(summary: Any) -> int:
    """The pass as the owner reads it; 1 when it failed (the error on stderr)."""
    print(f"since {summary.since or '-'}: {summary.fetched} orders fetched, {summary.processed} taken in, "
          f"{summary.notified} messages queued" + (f", {summary.failed} unusable" if summary.failed else ""))
    if summary.customers_fetched:
        print(f"customers registered since the last seen: {summary.customers_fetched}, "
              f"{summary.customers_taken} taken in")
    for line in summary.webhooks:
        if not line.startswith("already right"):
            print(f"webhooks {line}")
    if summary.stale_pending:
        print(f"bank-transfer orders unpaid too long: {', '.join('#' + n for n in summary.stale_pending)}"
              + (f" (new: {', '.join('#' + n for n in summary.stale_new)})" if summary.stale_new else ""))
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)
        return 1
    return 0


def _send_queued(b: Any) -> None:
    """Hand the queued messages to the running sender; send them here only when none runs.

    Two processes draining would each pace the providers with their own budget, together twice
    the provider's limit: with a service running, its sender (the one holding the scheduler
    lease, listening for wake-ups) sends them at once."""
    if b.waker.notify():
        print("messages queued: the running service sends them now", file=sys.stderr)
        return
    print("no running service took the wake-up: sending the queued messages from here", file=sys.stderr)
    b.worker.drain()


def cmd_reconcile(_args: argparse.Namespace) -> int:
    """One reconcile pass now (the scheduler also runs it every RECONCILE_EVERY seconds); the
    messages it queued go to the running service's sender, or are sent here when none runs."""
    from . import reconcile
    b = _bridge()
    try:
        _need_woo(b)
        summary = reconcile.run(b)
        if summary.notified:
            _send_queued(b)
        return _print_summary(summary)
    finally:
        b.shutdown()


def cmd_connect(_args: argparse.Namespace) -> int:
    """Create or repair every webhook the bridge needs in the shop (running it again changes nothing)."""
    from . import connection, ownership
    from .client import WooClient
    b = _bridge()
    try:
        s = _need_woo(b)
        report = ownership.ensure(WooClient(s), s, b.db)
        connection.record_report(b, report)
        print(f"webhooks -> {ownership.delivery_url(s)}")
        for line in report.lines():
            print(f"  {line}", file=sys.stderr if line.startswith("error") else sys.stdout)
        return 1 if report.error else 0
    finally:
        b.shutdown()


def cmd_import_orders(args: argparse.Namespace) -> int:
    """Take in the shop's orders changed since a date so later changes are told as news, without
    messaging anyone about the old ones (unless --notify)."""
    from datetime import datetime

    from tqdm import tqdm

    from . import reconcile
    try:
        since = datetime.strptime(args.since, "%Y-%m-%d").strftime(reconcile.ISO)
    except ValueError:
        raise ValueError(f"--since must be a date like 2026-11-01, not {args.since!r}") from None
    b = _bridge()
    bar = tqdm(unit="order", desc="importing orders", file=sys.stderr, disable=args.quiet, dynamic_ncols=True)

    def progress(read: int, total: int) -> None:
        bar.total = total
        bar.n = read
        bar.refresh()

    try:
        _need_woo(b)
        summary = reconcile.run(b, since=since, notify=args.notify, progress=progress)
        bar.close()
        if args.notify and summary.notified:
            _send_queued(b)
        return _print_summary(summary)
    finally:
        b.shutdown()


def register(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add the shop's subcommands to the CLI's subparsers; the function running each."""
    sub.add_parser("connect", help="create or repair the shop's webhooks to this service (needs REST keys)")
    sub.add_parser("reconcile", help="fetch orders changed since the last seen change from WooCommerce now")
    im = sub.add_parser("import-orders", help="take in existing orders without messaging customers")
    im.add_argument("--since", required=True, help="date (YYYY-MM-DD, GMT) of the oldest change to import")
    im.add_argument("--notify", action="store_true", help="send the notices as if the webhooks had arrived")
    im.add_argument("--quiet", action="store_true", help="no progress bar")
    return {"connect": cmd_connect, "reconcile": cmd_reconcile, "import-orders": cmd_import_orders}


def problems(s: Any) -> tuple[list[str], list[str]]:
    """(errors, warnings) of check-config about the shop: half-given REST keys, a PUBLIC_URL
    WordPress cannot deliver to."""
    from .ownership import port_warning
    errors: list[str] = []
    warnings: list[str] = []
    woo = {"WOO_URL": s.woo_url, "WOO_CONSUMER_KEY": s.woo_consumer_key, "WOO_CONSUMER_SECRET": s.woo_consumer_secret}
    if (s.woo_consumer_key or s.woo_consumer_secret) and not s.woo_configured:
        errors.append("WooCommerce REST needs all of " + ", ".join(woo) + "; missing: "
                      + ", ".join(k for k, v in woo.items() if not v))
    if s.woo_url and (urlsplit(s.public_url).hostname or "") in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        warnings.append(f"PUBLIC_URL is {s.public_url}: WordPress cannot deliver webhooks there, and `connect` "
                        "would point the shop's webhooks at it")
    elif s.woo_url:
        warnings += [w for w in (port_warning(s),) if w]
    if s.woo_url and not s.woo_configured:
        warnings.append("WOO_URL without WOO_CONSUMER_KEY/WOO_CONSUMER_SECRET: no reconcile, and payments are not "
                        "written back to WooCommerce (dry-run)")
    return errors, warnings


def summary(s: Any) -> str:
    """check-config's word on the shop's periodic work (a shop connected from the admin counts)."""
    from .connection import env_set, stored
    if s.woo_configured:
        return f"reconcile with WooCommerce every {s.reconcile_every:g} s"
    found = None if env_set(s) else stored(s)
    if found is not None:
        return f"reconcile with {found.shop_url} (connected from the admin) every {s.reconcile_every:g} s"
    return "reconcile off (WooCommerce REST not configured; connect the shop from the admin)"
