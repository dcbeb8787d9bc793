"""The assembled service: settings, database, rules, channels, shop events, received texts, worker,
scheduler; and `accept`, where every normalized event from a webhook reaches the core.

One `Bridge` per process, held by the Flask app (no module-level globals), so tests can run
several side by side against different databases and fakes.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from . import admin_password, alerts, bank_details, logs, providers, received_reports, shipments
from .intake import Decider
from .providers.base import load_channels
from .config import Settings, settings_with
from .context import sample_contexts
from .store import intake as stored_intake
from .store.db import Database
from .store.templates import Overrides
from .text_handlers import load_handlers
from .received_texts import ReceivedTexts
from .shop_events import ShopEvents
from .jobs import make_scheduler
from .leader import LeaderLock
from .login_limit import LoginLimiter
from .rules import load_rules
from .pressure import Board
from .wakeup import DECIDE, Listener, Waker
from .events import (Acknowledged, BankTransaction, ChatLinked, ChatRead, ChatSeen, DeliveryReport, ReceivedText,
                     ShipmentUpdate, ShopDelivery, ShopPing)
from .rejections import record_rejection
from .shop_events import IGNORED, store_delivery
from .sending import Event, StatusReport
from .worker import Worker

log = logging.getLogger(__name__)



# Secrets made on first start when not configured: kept in the database, printed once.
# Each opens one door only (SECURITY.md): a callback token travels to its provider inside every
# message, so it must be worthless for payment ingest. Providers declare their own (`secrets=`).
CORE_SECRETS = {"secret_key": "SECRET_KEY", "cod_link_secret": "COD_LINK_SECRET"}
GENERATED_SECRETS = {**CORE_SECRETS, **providers.generated_secrets()}
# Generated secrets INBOUND_TOKEN still stands in for while unset -> what it opens through them.
INBOUND_FALLBACK = providers.inbound_token_fallbacks()
# the longest a wake-up waits while webhooks queue (Bridge._settle): deciding gives way to them
# for WORKER_YIELD anyway; this only gathers the wake-ups meanwhile into one
SETTLE = 0.02


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def resolve_secrets(settings: Settings, db: Database, shows: bool = True) -> tuple[Settings, dict[str, str]]:
    """Fill the generated secrets from the database, generating each once.

    A shop owner without a configured secret still gets signed webhooks and guarded callbacks:
    the secret is made on first start, kept in the database (so it survives restarts) and shown
    once to be pasted where it belongs.

    INBOUND_TOKEN (one token for everything, before issue 12) is only a fallback for the secrets
    a provider declares (`inbound_token_fallback`: eSMS still holds CallbackUrls carrying it for
    messages sent before the upgrade). It no longer opens /inbound/fibo or /inbound/notification.

    `shows`: this process prints the banner. A secret made by one that does not (check-config
    before the first start) stays "generated" until a start that prints it.
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
        if name in INBOUND_FALLBACK and settings.inbound_token:
            changes[name], origin[name] = settings.inbound_token, "configured"
            continue
        existing = db.kv_get(name)
        if existing is None and name in INBOUND_FALLBACK and legacy:
            existing = db.kv_setdefault(name, legacy)
        changes[name] = existing or db.kv_setdefault(name, new_secret())
        origin[name] = "stored" if existing else "generated"
        unshown = f"{name}.unshown"
        if origin[name] == "generated" and not shows:
            db.kv_set(unshown, "1")
        elif shows and existing and db.kv_get(unshown) == "1":
            origin[name] = "generated"
            db.kv_set(unshown, "0")
    return (settings_with(settings, **changes) if changes else settings), origin


def secret_warnings(settings: Settings, origin: dict[str, str], legacy_stored: bool = False) -> list[str]:
    """What an operator upgrading from the single INBOUND_TOKEN must do (start-up log and banner).

    `settings` as configured (before resolve_secrets); `legacy_stored`: an older version generated
    and stored an INBOUND_TOKEN, so FiboSMS and the forwarder were given it: said on the start that
    makes their new tokens (the upgrade), with the new URLs printed in the same banner."""
    out = []
    guards = " and ".join(INBOUND_FALLBACK.values()) or "nothing"
    successors = providers.inbound_token_successors()   # what INBOUND_TOKEN used to open, each its own now
    told = " and ".join(GENERATED_SECRETS[n] for n in successors)
    if legacy_stored and any(origin.get(n) == "generated" for n in successors):
        out.append(f"upgrade: the stored INBOUND_TOKEN no longer opens payment ingest (it still guards {guards})."
                   f" Give each sender its new secret ({told}), printed above and on the admin page > Settings.")
    if settings.inbound_token:
        own = [GENERATED_SECRETS[n] for n in INBOUND_FALLBACK
               if origin.get(n) == "configured" and getattr(settings, n) != settings.inbound_token]
        out.append(f"INBOUND_TOKEN no longer opens payment ingest: it only guards {guards}"
                   + (f" ({' and '.join(own)} is set, so not even that)" if own else "")
                   + f". The senders of bank texts need their own secrets ({told}; admin page > Settings)"
                   + "".join(f"; then rename INBOUND_TOKEN to {GENERATED_SECRETS[n]}" for n in INBOUND_FALLBACK) + ".")
    return out


def rotate_secret(db: Database, settings: Settings, name: str) -> str:
    """A new value for a generated secret, stored in the database (read at the next start).

    Refused for a secret set in the environment: that one is changed where it is set."""
    attr = next((a for a, env in GENERATED_SECRETS.items() if name in (a, env, env.lower())), None)
    if attr is None:
        raise ValueError(f"unknown secret {name!r}; generated secrets: {', '.join(GENERATED_SECRETS.values())}")
    env = GENERATED_SECRETS[attr]
    if getattr(settings, attr) or (attr in INBOUND_FALLBACK and settings.inbound_token):
        raise ValueError(f"{env} is set in the environment (or .env): change it there and restart")
    value = new_secret()
    db.kv_set(attr, value)
    return value


class Bridge:
    def __init__(self, settings: Settings, shows: bool = False):
        """`shows`: this process serves the admin or prints the banner, so it makes the one-time
        admin password and shows what was generated. A command that prints no banner
        (check-config, send-test, a provider's command) leaves both to the first start that does."""
        self.db = Database(settings.db_path, synchronous=settings.sqlite_synchronous)
        self.db.migrate()
        self.settings, self.secret_origin = resolve_secrets(settings, self.db, shows)
        self.secret_warnings = secret_warnings(settings, self.secret_origin,
                                               legacy_stored=bool(self.settings.inbound_token
                                                                  and not settings.inbound_token))
        for w in self.secret_warnings:
            log.warning("%s", w)
        logs.add_secrets(getattr(self.settings, n) for n in (*GENERATED_SECRETS, "inbound_token", "admin_password",
                                                              *providers.sensitive_fields()))
        self.admin_password_hash, self.new_admin_password = admin_password.resolve(
            self.db, settings.admin_password, settings.password_hash_method, generate=shows)
        self.channels = load_channels(self.settings, self.db)
        self.rules = load_rules(self.settings.mappings_dir, tuple(self.channels), sample_contexts(self.settings))
        self.rules.overrides = Overrides(self.db)   # the owner's edits from the admin, in every process
        for problem in self.rules.override_problems(sample_contexts(self.settings)):
            log.warning("%s", problem)
        self.shop_events = ShopEvents(self.db, self.settings, self.rules,
                             alert=lambda kind, subject, text: alerts.alert_owner(self, kind, subject, text, once=True),
                             clock=lambda: self.clock())
        self.worker = Worker(self.db, self.settings, self.channels, clock=lambda: self.clock())
        self.received = ReceivedTexts(self.db, load_handlers(self.settings, self), calls_out=self.calls_out,
                                      on_stored=self.acknowledged)
        # Deciding after the answer, in order of arrival across tables (texts, reports and carrier
        # calls refer to the orders deliveries make), a bounded batch per transaction (bridge/intake.py).
        self.decider = Decider(self.shop_events.decide_pending,
                               [lambda n, t: received_reports.decide_pending(self, n, t), self.received.decide_pending,
                                lambda n, t: shipments.decide_pending(self, n, t)],
                               others_head=lambda: stored_intake.others_head(self.db),
                               decided=self.wake_worker, batch=self.settings.decide_batch)
        self.scheduler = None
        self.leader = LeaderLock(self.db, self.settings.scheduler_lease)
        self.waker = Waker(self.settings.db_path)
        # webhooks queueing in a web process make the deciding and sending here give way (bridge/pressure.py)
        self.board = Board(self.settings.db_path)
        self.decider.give_way = self.give_way
        self._stopping = threading.Event()   # set by shutdown: nothing gives way any more
        self.worker.pressure = self.board
        self.listener: Listener | None = None
        self.started_at = datetime.now(timezone.utc)
        # "now" for security decisions (ref expiry, sign-in limits) and for the outbox (what is due,
        # quiet hours, channel fallback deadlines); tests move it forward instead of sleeping
        self.clock: Callable[[], float] = time.time
        self.login_limiter = LoginLimiter(self.db, clock=lambda: self.clock())
        self.heard_written: dict[str, float] = {}

    def give_way(self, up_to: float | None = None) -> bool:
        """Between two of a background writer's transactions (deciding, retention, the search
        index, a bulk send): wait while webhooks queue in a web process, at most WORKER_YIELD
        seconds, or `up_to` (housekeeping that can wait out a burst: retention). True when they
        still queue at the end. No wait once the service is stopping, or with WORKER_YIELD=0."""
        if self._stopping.is_set() or self.settings.worker_yield <= 0:
            return False
        return self.board.give_way(self.settings.worker_yield if up_to is None else up_to, self._stopping)

    # -- lifecycle ---------------------------------------------------------------------
    def start_scheduler(self) -> None:
        if self.scheduler is None:
            self.leader.renew()
            self.scheduler = make_scheduler(self)
            self.scheduler.start()
            self.start_decider()   # the worker decides whatever the web processes leave to it
            self.listener = Listener(self.settings.db_path, self._woken, on_decide=self.decider.wake,
                                     settle=self._settle)
            self.listener.start()
            log.info("scheduler started: %s", ", ".join(j.id for j in self.scheduler.get_jobs()))

    def start_decider(self) -> None:
        """Decide received rows in this process (bridge/intake.py), from now on and whatever was
        left undecided before (a restart)."""
        self.decider.start()

    def acknowledged(self) -> None:
        """A row was committed to be decided: wake the decider, here or in the worker process."""
        if self.decider.running:
            self.decider.wake()
        else:   # DECIDE_IN=worker: the process running the scheduler decides
            self.waker.notify(DECIDE)

    def calls_out(self) -> bool:
        """Whether deciding here may ask the outside world (the shop, a carrier): in the process
        leading the jobs, or in any when none leads; the others leave those rows to the leader,
        so several processes never repeat the same slow calls."""
        return self.leader.leading or not self.leader.elsewhere()

    def decide_pending(self) -> int:
        """Decide everything received and undecided now, in the calling thread (commands, benches)."""
        return self.decider.decide_all()

    def _settle(self) -> None:
        """A wake-up came while webhooks may be queueing in a web process: the decider would give
        way to them anyway, so the wake-up waits too (SETTLE at most) and answers every datagram
        that came meanwhile at once."""
        self.give_way(SETTLE)

    def _woken(self) -> None:
        """Another process committed something: rows to decide, messages to send."""
        self.decider.wake()
        self.wake_worker()

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
        self._stopping.set()
        self.decider.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
            if self.listener is not None:
                self.listener.stop()
            if self.leader.leading:
                self.leader.release()
        self.worker.shutdown()

    # -- what the outside world tells us (every webhook's normalized events) ------------
    def accept(self, event: Any) -> dict[str, Any]:
        """Store one normalized event from a webhook (one small write) and have it decided right
        after the answer; what the answer to the caller reports (what was stored, not decided).
        Chat links, seen and read events are applied here: each is one small write already."""
        self._heard(getattr(event, "source", ""))
        if isinstance(event, DeliveryReport):
            row = received_reports.store(self.db, event, self.clock())
            self.acknowledged()
            return {"report": row, "state": "received"}
        if isinstance(event, ReceivedText):
            result = self.received.accept(source=event.source, external_id=event.external_id, device=event.device,
                                       sim=event.sim, sender=event.sender, recipient=event.recipient, text=event.text,
                                       received_at=event.received_at, raw=event.raw, package=event.package,
                                       title=event.title, payload=event.payload)
            return {"inbox": result.row_id, "duplicate": result.duplicate, "state": result.state}
        if isinstance(event, BankTransaction):
            result = self.received.accept_transaction(event)
            return {"inbox": result.row_id, "duplicate": result.duplicate, "state": result.state}
        if isinstance(event, ShopPing):
            store_delivery(self.db, event.delivery, state=IGNORED, reason=f"ping for webhook {event.webhook_id}")
            return {"ping": int(event.webhook_id) if event.webhook_id.isdigit() else event.webhook_id}
        if isinstance(event, ShopDelivery):
            stored = store_delivery(self.db, event)   # committed before we answer; decided right after
            if stored.duplicate:
                return {"duplicate": True, "delivery": stored.row_id}
            self.acknowledged()
            return {"delivery": stored.row_id, "state": stored.state}
        if isinstance(event, ShipmentUpdate):
            answer = shipments.accept(self, event)   # committed before the carrier hears 200
            self.acknowledged()   # a repeat too: its first arrival may have been left undecided
            return answer
        if isinstance(event, Acknowledged):
            return {"event": event.what, **({"ignored": True} if event.ignored else {})}
        if isinstance(event, ChatLinked):
            linked = providers.chat(event.provider).link(self.db, self.settings, event, self.clock())
            if linked.kind == "refused":
                # seeing a link must not be enough: what the provider's rules refuse, the admin sees
                record_rejection(self.db, event.endpoint, linked.status, linked.detail, event.remote_addr,
                                 event.headers, event.token.encode("utf-8", "replace")[:1024])
                log.warning("%s: not bound", linked.detail)
                return {"linked": "ignored"}
            (log.warning if linked.kind == "pending" else log.info)("%s", linked.detail)
            return {"linked": linked.kind}
        if isinstance(event, ChatSeen):
            providers.chat(event.provider).seen(self.db, event)
            return {"seen": event.identity}
        if isinstance(event, ChatRead):
            report = StatusReport(Event.DELIVERED, "read", event.detail, event.raw)
            return {"read": [self.accept(DeliveryReport(event.source, report, pid))["report"]
                             for pid in providers.chat(event.provider).read(self.db, event)]}
        raise TypeError(f"no core handler for {type(event).__name__}")

    def _heard(self, source: str) -> None:
        """When each source last reached us (a phone's ping counts): the set-up checklist's "seen
        in the last hour". Written at most once a minute per source and process."""
        t = self.clock()
        if not source or t - self.heard_written.get(source, 0.0) < 60:
            return
        self.heard_written[source] = t
        self.db.kv_set(f"heard.{source}", repr(t))

    # -- what the owner needs to see at start -----------------------------------------
    def channel_status(self) -> dict[str, dict]:
        """Each channel live or dry-run, and why (healthz, the admin dashboard and settings)."""
        return {n: c.status() for n, c in self.channels.items() if n != "dry-run"}

    def device_status(self) -> list[dict]:
        """The shop's phones (every channel that sends through devices) with their health and
        hourly use; empty without any."""
        return [d for ch in self.channels.values() for d in ch.device_status()]

    def resume_device(self, name: str) -> bool:
        """Admin action: put a paused phone back into rotation, whichever channel has it."""
        return any(ch.resume_device(name) for ch in self.channels.values())

    def public_endpoints(self, translate: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
        """(what, URL, note) for everything outside systems call on us: shown in the banner
        and on the admin settings page (`translate`: the admin's gettext), so both say the same
        thing. Each carries its own secret."""
        return providers.endpoints(self, translate)

    def banner(self) -> str:
        s = self.settings
        lines = [f"woo-bridge ready; database {s.db_path}; rules: {len(self.rules.rules)} from {s.mappings_dir}/"]
        if self.new_admin_password:
            how = f"password {self.new_admin_password}   (generated and shown only now; set ADMIN_PASSWORD to choose one)"
        elif s.admin_password:
            how = "password from ADMIN_PASSWORD"
        else:
            how = "password stored (hashed) in the database; `python -m bridge admin-password` makes a new one"
        lines.append(f"  Admin page              : {s.public_url}/admin   {how}")
        # Logs are kept for weeks and read by more people than the admin page: a secret is printed
        # only by the start that generated it; configured and stored ones are masked.
        hide = [v for k, v in ((k, getattr(s, k)) for k in (*providers.generated_secrets(), *providers.sensitive_fields()))
                if self.secret_origin.get(k, "configured") != "generated" and v]
        if s.inbound_token:
            hide.append(s.inbound_token)
        for label, url, note in self.public_endpoints():
            line = f"  {label:<24}: {url}" + (f"   ({note})" if note else "")
            for secret in hide:
                line = line.replace(secret, "…(admin page > Settings)")
            lines.append(line)
        for name, ch in self.channels.items():
            if not ch.listed:
                continue
            if ch.configured:
                lines.append(f"  channel {name:<15}: live")
            else:
                lines.append(f"  channel {name:<15}: DRY-RUN ({ch.why_not_configured}); messages are recorded, not sent")
        if not s.owner_phones:
            lines.append("  OWNER_PHONES is empty: no new-order alerts to the owner")
        bank = bank_details.warning(s, bank_details.count(self.db))
        if bank:
            lines.append(f"  WARNING: {bank}")
        lines.extend(f"  WARNING: {w}" for w in self.secret_warnings)
        return "\n".join(lines)

