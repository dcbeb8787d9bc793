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

from . import admin_password, alerts, logs
from .providers.base import load_channels
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
from .providers.woocommerce.ownership import delivery_url
from .wakeup import Listener, Waker
from .worker import Worker

log = logging.getLogger(__name__)



# Secrets made on first start when not configured: kept in the database, printed once.
# Each opens one door only (SECURITY.md): the eSMS callback token travels to eSMS inside every
# message's CallbackUrl, so it must be worthless for payment ingest.
GENERATED_SECRETS = {
    "woo_webhook_secret": "WOO_WEBHOOK_SECRET", "esms_callback_token": "ESMS_CALLBACK_TOKEN",
    "fibo_token": "FIBO_TOKEN", "notify_token": "NOTIFY_TOKEN", "smsgate_signing_key": "SMSGATE_SIGNING_KEY",
    "secret_key": "SECRET_KEY",
}


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def resolve_secrets(settings: Settings, db: Database) -> tuple[Settings, dict[str, str]]:
    """Fill the generated secrets from the database, generating each once.

    A shop owner without a configured secret still gets signed webhooks and guarded callbacks:
    the secret is made on first start, kept in the database (so it survives restarts) and shown
    once to be pasted where it belongs.

    INBOUND_TOKEN (one token for everything, before issue 12) is only a fallback for the eSMS
    callback token: eSMS still holds CallbackUrls carrying it for messages sent before the
    upgrade. It no longer opens /inbound/fibo or /inbound/notification.
    """
    origin: dict[str, str] = {}
    changes: dict[str, str] = {}
    legacy = settings.inbound_token or db.kv_get("inbound_token") or ""
    if legacy and not settings.inbound_token:
        changes["inbound_token"] = legacy   # only to recognise it and say why it is refused
    for name in GENERATED_SECRETS:
        if getattr(settings, name):
            origin[name] = "configured"
            continue
        if name == "esms_callback_token" and settings.inbound_token:
            changes[name], origin[name] = settings.inbound_token, "configured"
            continue
        existing = db.kv_get(name)
        if existing is None and name == "esms_callback_token" and legacy:
            existing = db.kv_setdefault(name, legacy)
        changes[name] = existing or db.kv_setdefault(name, new_secret())
        origin[name] = "stored" if existing else "generated"
    return (settings_with(settings, **changes) if changes else settings), origin


def secret_warnings(settings: Settings, origin: dict[str, str], legacy_stored: bool = False) -> list[str]:
    """What an operator upgrading from the single INBOUND_TOKEN must do (start-up log and banner).

    `settings` as configured (before resolve_secrets); `legacy_stored`: an older version generated
    and stored an INBOUND_TOKEN, so FiboSMS and the forwarder were given it: said on the start that
    makes their new tokens (the upgrade), with the new URLs printed in the same banner."""
    out = []
    if legacy_stored and "generated" in (origin.get("fibo_token"), origin.get("notify_token")):
        out.append("upgrade: the stored INBOUND_TOKEN no longer opens payment ingest (it stays the eSMS callback "
                   "token). Give FiboSMS the new FiboSMS push URL (FIBO_TOKEN) and the notification forwarder "
                   "NOTIFY_TOKEN, both printed above and on the admin page > Settings.")
    if settings.inbound_token:
        out.append("INBOUND_TOKEN no longer opens payment ingest: it only guards the eSMS delivery callback"
                   + (" (ESMS_CALLBACK_TOKEN is set, so not even that)" if origin.get("esms_callback_token") ==
                      "configured" and settings.esms_callback_token != settings.inbound_token else "")
                   + ". FiboSMS needs the FIBO_TOKEN push URL and the notification forwarder NOTIFY_TOKEN"
                   " (admin page > Settings); then rename INBOUND_TOKEN to ESMS_CALLBACK_TOKEN.")
    return out


def rotate_secret(db: Database, settings: Settings, name: str) -> str:
    """A new value for a generated secret, stored in the database (read at the next start).

    Refused for a secret set in the environment: that one is changed where it is set."""
    attr = next((a for a, env in GENERATED_SECRETS.items() if name in (a, env, env.lower())), None)
    if attr is None:
        raise ValueError(f"unknown secret {name!r}; generated secrets: {', '.join(GENERATED_SECRETS.values())}")
    env = GENERATED_SECRETS[attr]
    if getattr(settings, attr) or (attr == "esms_callback_token" and settings.inbound_token):
        raise ValueError(f"{env} is set in the environment (or .env): change it there and restart")
    value = new_secret()
    db.kv_set(attr, value)
    return value


class Bridge:
    def __init__(self, settings: Settings):
        self.db = Database(settings.db_path, synchronous=settings.sqlite_synchronous)
        self.db.migrate()
        self.settings, self.secret_origin = resolve_secrets(settings, self.db)
        self.secret_warnings = secret_warnings(settings, self.secret_origin,
                                               legacy_stored=bool(self.settings.inbound_token
                                                                  and not settings.inbound_token))
        for w in self.secret_warnings:
            log.warning("%s", w)
        logs.add_secrets(getattr(self.settings, n) for n in (*GENERATED_SECRETS, "inbound_token", "esms_secret_key",
                                                              "esms_api_key", "woo_consumer_secret",
                                                              "messenger_page_token", "messenger_app_secret",
                                                              "smsgate_password", "admin_password"))
        self.admin_password_hash, self.new_admin_password = admin_password.resolve(
            self.db, settings.admin_password, settings.password_hash_method)
        self.channels = load_channels(self.settings, self.db)
        self.rules = load_rules(self.settings.mappings_dir, tuple(self.channels), sample_contexts(self.settings))
        self.intake = Intake(self.db, self.settings, self.rules,
                             alert=lambda kind, subject, text: alerts.alert_owner(self, kind, subject, text, once=True))
        self.worker = Worker(self.db, self.settings, self.channels, clock=lambda: self.clock())
        self.inbox = Inbox(self.db, load_handlers(self.settings, self))
        self.scheduler = None
        self.leader = LeaderLock(self.db, self.settings.scheduler_lease)
        self.waker = Waker(self.settings.db_path)
        self.listener: Listener | None = None
        self.started_at = datetime.now(timezone.utc)
        # "now" for security decisions (ref expiry, sign-in limits) and for the outbox (what is due,
        # quiet hours, channel fallback deadlines); tests move it forward instead of sleeping
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
        and on the admin settings page, so both say the same thing. Each carries its own secret."""
        s = self.settings
        key_origin = self.secret_origin["smsgate_signing_key"]
        notify = (f"X-Signature = hex HMAC-SHA256(NOTIFY_TOKEN, body + X-Timestamp), NOTIFY_TOKEN {s.notify_token}"
                  + ("" if s.notify_auth == "signed" else f"; or Authorization: Bearer {s.notify_token}"))
        out = [
            ("eSMS delivery callback", f"{s.public_url}/callbacks/esms?token={s.esms_callback_token}",
             "sent to eSMS with every message; opens nothing else"),
            ("SMSGate webhooks", f"{s.public_url}/inbound/smsgate",
             f"signing key: {s.smsgate_signing_key}" + ("" if key_origin == "configured" else f", {key_origin} in the database")),
            ("FiboSMS push URL", f"{s.public_url}/inbound/fibo?token={s.fibo_token}",
             f"bank credits: FIBO_PAYMENTS={s.fibo_payments}"),
            ("App notifications", f"{s.public_url}/inbound/notification", notify),
        ]
        if s.messenger_page_token:
            out.append(("Messenger webhook", f"{s.public_url}/webhooks/messenger",
                        f"verify token: {s.messenger_verify_token or 'MESSENGER_VERIFY_TOKEN is not set'}"))
        return out

    def banner(self) -> str:
        s = self.settings
        lines = [f"woo-bridge ready; database {s.db_path}; rules: {len(self.rules.rules)} from {s.mappings_dir}/"]
        lines.append(f"  WooCommerce webhook URL : {delivery_url(s)}")
        origin = self.secret_origin["woo_webhook_secret"]
        if origin == "generated":
            lines.append(f"  WooCommerce secret      : {s.woo_webhook_secret}   (generated in the database; "
                         "`python -m bridge connect` sets it on the shop's webhooks, or paste it into WooCommerce > "
                         "Settings > Advanced > Webhooks > Secret)")
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
        hide = [v for k, v in ((k, getattr(s, k)) for k in ("esms_callback_token", "fibo_token", "notify_token",
                                                               "smsgate_signing_key", "messenger_verify_token"))
                if self.secret_origin.get(k, "configured") != "generated" and v]
        if s.inbound_token:
            hide.append(s.inbound_token)
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
        lines.extend(f"  WARNING: {w}" for w in self.secret_warnings)
        return "\n".join(lines)

