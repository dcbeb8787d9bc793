"""The assembled service: settings, database, rules, channels, intake, worker, scheduler.

One `Bridge` per process, held by the Flask app (no module-level globals), so tests can run
several side by side against different databases and fakes.
"""
from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timezone
from typing import Callable

from . import admin_password
from .channels.base import load_channels
from .config import Settings, settings_with
from .context import sample_contexts
from .db import Database
from .inbound import load_handlers
from .inbox import Inbox
from .intake import Intake
from .jobs import make_scheduler
from .leader import LeaderLock
from .login_limit import LoginLimiter
from .rules import load_rules
from .wakeup import Listener, Waker
from .worker import Worker

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/woocommerce"


def resolve_secrets(settings: Settings, db: Database) -> tuple[Settings, dict[str, str]]:
    """Fill the webhook secret and inbound token from the database, generating them once.

    A shop owner without a configured secret still gets signed webhooks: the secret is made on
    first start, kept in the database (so it survives restarts) and shown to be pasted into
    WooCommerce.
    """
    origin: dict[str, str] = {}
    changes: dict[str, str] = {}
    for name in ("woo_webhook_secret", "inbound_token", "smsgate_signing_key", "secret_key"):
        if getattr(settings, name):
            origin[name] = "configured"
            continue
        existing = db.kv_get(name)
        changes[name] = existing or db.kv_setdefault(name, secrets.token_urlsafe(24))
        origin[name] = "stored" if existing else "generated"
    return (settings_with(settings, **changes) if changes else settings), origin


class Bridge:
    def __init__(self, settings: Settings):
        self.db = Database(settings.db_path, synchronous=settings.sqlite_synchronous)
        self.db.migrate()
        self.settings, self.secret_origin = resolve_secrets(settings, self.db)
        self.admin_password_hash, self.new_admin_password = admin_password.resolve(self.db, settings.admin_password)
        self.channels = load_channels(self.settings, self.db)
        self.rules = load_rules(self.settings.mappings_dir, tuple(self.channels), sample_contexts(self.settings))
        self.intake = Intake(self.db, self.settings, self.rules)
        self.worker = Worker(self.db, self.settings, self.channels)
        self.inbox = Inbox(self.db, load_handlers(self.settings, self))
        self.scheduler = None
        self.leader = LeaderLock(self.db, self.settings.scheduler_lease)
        self.waker = Waker(self.settings.db_path)
        self.listener: Listener | None = None
        self.started_at = datetime.now(timezone.utc)
        # "now" for security decisions (ref expiry, sign-in limits); tests move it forward
        self.clock: Callable[[], float] = time.time
        self.login_limiter = LoginLimiter(self.db, clock=lambda: self.clock())

    # -- lifecycle ---------------------------------------------------------------------
    def start_scheduler(self) -> None:
        if self.scheduler is None:
            self.leader.renew()
            self.scheduler = make_scheduler(self)
            self.scheduler.start()
            self.listener = Listener(self.settings.db_path, self.wake_worker)
            self.listener.start()
            log.info("scheduler started: %s", ", ".join(j.id for j in self.scheduler.get_jobs()))

    def wake_worker(self) -> None:
        """Run the outbox drain now instead of at its next tick (new messages are waiting)."""
        sched = self.scheduler
        if sched is None:   # the sender is another process (gunicorn + `python -m bridge worker`)
            self.waker.notify()
            return
        if not self.worker.poke():
            return
        try:
            sched.modify_job("drain_outbox", next_run_time=datetime.now(timezone.utc))
        except Exception:  # the scheduler may be shutting down
            pass

    def shutdown(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
            if self.listener is not None:
                self.listener.stop()
            if self.leader.leading:
                self.leader.release()
        self.worker.shutdown()

    # -- what the owner needs to see at start -----------------------------------------
    def channel_status(self) -> dict[str, dict]:
        """Each channel live or dry-run, and why (healthz, the admin dashboard and settings)."""
        return {n: c.status() for n, c in self.channels.items() if n != "dry-run"}

    def device_status(self) -> list[dict]:
        """The shop's phones (SMSGate) with their health and hourly use; empty without any."""
        budget = getattr(self.channels.get("smsgate"), "budget", None)
        return budget.status() if budget is not None else []

    def public_endpoints(self) -> list[tuple[str, str, str]]:
        """(what, URL, note) for everything outside systems call on us: shown in the banner
        and on the admin settings page, so both say the same thing."""
        s = self.settings
        key_origin = self.secret_origin["smsgate_signing_key"]
        out = [
            ("eSMS delivery callback", f"{s.public_url}/callbacks/esms?token={s.inbound_token}", ""),
            ("SMSGate webhooks", f"{s.public_url}/inbound/smsgate",
             f"signing key: {s.smsgate_signing_key}" + ("" if key_origin == "configured" else f", {key_origin} in the database")),
            ("FiboSMS push URL", f"{s.public_url}/inbound/fibo?token={s.inbound_token}", ""),
            ("App notifications", f"{s.public_url}/inbound/notification", f"Authorization: Bearer {s.inbound_token}"),
        ]
        if s.messenger_page_token:
            out.append(("Messenger webhook", f"{s.public_url}/webhooks/messenger",
                        f"verify token: {s.messenger_verify_token or 'MESSENGER_VERIFY_TOKEN is not set'}"))
        return out

    def banner(self) -> str:
        s = self.settings
        lines = [f"woo-bridge ready; database {s.db_path}; rules: {len(self.rules.rules)} from {s.mappings_dir}/"]
        lines.append(f"  WooCommerce webhook URL : {s.public_url}{WEBHOOK_PATH}")
        origin = self.secret_origin["woo_webhook_secret"]
        if origin == "generated":
            lines.append(f"  WooCommerce secret      : {s.woo_webhook_secret}   (generated in the database; paste it "
                         "into WooCommerce > Settings > Advanced > Webhooks > Secret)")
        elif origin == "stored":
            # Logs are kept for weeks: a stored secret is shown once, then only on the admin page.
            lines.append("  WooCommerce secret      : stored in the database (admin page > Settings shows it)")
        if self.new_admin_password:
            how = f"password {self.new_admin_password}   (generated and shown only now; set ADMIN_PASSWORD to choose one)"
        elif s.admin_password:
            how = "password from ADMIN_PASSWORD"
        else:
            how = "password stored (hashed) in the database; `python -m bridge admin-password` makes a new one"
        lines.append(f"  Admin page              : {s.public_url}/admin   {how}")
        # Logs are kept for weeks and read by more people than the admin page: a secret is printed
        # only by the start that generated it; configured and stored ones are masked.
        hide = [v for k, v in (("inbound_token", s.inbound_token), ("smsgate_signing_key", s.smsgate_signing_key),
                               ("messenger_verify_token", s.messenger_verify_token))
                if self.secret_origin.get(k, "configured") != "generated" and v]
        for label, url, note in self.public_endpoints():
            line = f"  {label:<24}: {url}" + (f"   ({note})" if note else "")
            for secret in hide:
                line = line.replace(secret, "…(admin page > Settings)")
            lines.append(line)
        for name, ch in self.channels.items():
            if name in ("dry-run", "http"):
                continue
            if ch.configured:
                lines.append(f"  channel {name:<15}: live")
            else:
                lines.append(f"  channel {name:<15}: DRY-RUN ({ch.why_not_configured}); messages are recorded, not sent")
        if not s.owner_phones:
            lines.append("  OWNER_PHONES is empty: no new-order alerts to the owner")
        return "\n".join(lines)

