"""Settings from the environment (and an optional `.env`), validated once at start.

Everything the service needs to know about its surroundings comes through here, so that a
misconfiguration is reported with the variable's name before any request is accepted.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path

from dotenv import dotenv_values

from . import envparse as p
from . import providers
from .bank_registry import ALIASES, bank_name  # noqa: F401  (bank_name is part of this module's API)

BANK_ALIASES = ALIASES   # one registry: bridge/bank_registry.py

# Which adapter serves which channel name. The core looks channels up here by name and never
# imports an adapter module itself; CHANNEL_ADAPTERS can add or replace entries.
DEFAULT_CHANNEL_ADAPTERS = providers.channel_adapters()
# Which channel carries each outbox job kind that is not a message (bridge.outbox names the
# kinds by what is done; the provider that does it declares the kind).
JOB_CHANNELS = providers.job_channels()
# Which channels carry an owner alert, in order: those the providers say can (ALERT_CHANNELS overrides).
DEFAULT_ALERT_CHANNELS = providers.owner_channels()
# What runs on every inbound SMS, in order (name=package.module:Class); INBOUND_HANDLERS adds more.
DEFAULT_INBOUND_HANDLERS = {
    "payments": "bridge.payments.handler:PaymentHandler",
    "forward": "bridge.text_handlers.forward:KeywordForwarder",
    "cod": "bridge.text_handlers.cod:CodReplies",
    "optout": "bridge.text_handlers.optout:OptOut",
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class CoreSettings:
    """The core's settings; each provider adds its own (providers/<name>/settings.py) and `Settings`
    below is all of them in one frozen record, so code reads `settings.<field>` either way."""

    db_path: str = "data/bridge.db"
    host: str = "127.0.0.1"
    port: int = 8000
    web_threads: int = 8
    switch_interval: float = 0.001
    public_url: str = "http://127.0.0.1:8000"
    mappings_dir: str = "mappings"
    sqlite_synchronous: str = "NORMAL"

    alert_channels: tuple[str, ...] = DEFAULT_ALERT_CHANNELS  # owner alerts: tried in order, like a rule's list
    alert_repeat: float = 21_600.0       # the same trouble is alerted at most once per this many seconds
    stale_pending_hours: float = 48.0    # a bank-transfer order unpaid this long is flagged to the owner
    alert_every: float = 60.0            # how often the alert conditions are checked (seconds)
    alert_review_queue: int = 5          # alert when the payment review queue reaches a multiple of this

    inbound_token: str = ""              # legacy (before issue 12): now only a fallback (Provider.inbound_token_fallback)
    owner_phones: tuple[str, ...] = ()
    shop_name: str = "Cửa hàng"
    transfer_bank: str = ""
    transfer_account: str = ""
    transfer_holder: str = ""
    payment_code_prefix: str = "DH"
    bank_accounts: tuple[tuple[str, str], ...] = ()
    payment_paid_status: str = "processing"
    payment_overpaid: str = "hold"
    payment_partial_window_hours: float = 72.0   # transfers for one order within this add up to its total; 0: never
    payment_expire_hours: float = 0.0    # unpaid bank-transfer orders older than this are cancelled; 0: never

    # Cash on delivery: asking the customer to confirm (rules with event order.cod_confirm)
    cod_link_secret: str = ""            # signs the confirm links (PUBLIC_URL/c/<token>); generated on first start
    cod_remind_after_hours: float = 4.0  # no answer this long after asking -> one reminder; 0: no reminder
    cod_call_after_hours: float = 24.0   # no answer this long after asking -> "call this customer" on the dashboard
    cod_confirmed_status: str = ""       # the order's status once confirmed ("" keeps it, e.g. processing)
    cod_alert_owner: bool = False        # also alert OWNER_PHONES when a customer is to be called
    # Carriers' status: what a delivered parcel does to its order ("" leaves it), and whether a
    # returned parcel is flagged to the owner
    shipment_delivered_status: str = "completed"
    shipment_returned_flag: bool = True

    send_max_attempts: int = 12
    send_backoff_base: float = 5.0
    send_backoff_max: float = 1_800.0
    send_concurrency: int = 64           # sends in flight: 60/s at a 1 s provider; providers' budgets pace them
    send_lease: float = 120.0
    in_doubt_after: float = 600.0        # seconds an in-doubt message waits for a receipt before its next channel
    worker_interval: float = 1.0
    worker_nice: int = 10
    worker_yield: float = 0.2            # seconds a deciding or sending transaction waits while webhooks queue (bridge/pressure.py)
    scheduler_lease: float = 30.0        # seconds a process holds the periodic jobs without renewing
    run_scheduler: bool = True
    decide_in: str = "process"           # where received rows are decided: "process" (each one that answers) or "worker"
    decide_batch: int = 50               # rows decided per write transaction (also bounded by time: bridge/intake.py)
    hooks_timeout: float = 10.0          # seconds an owner's URL has to answer an outgoing event (bridge/outgoing.py)

    # Retention (bridge/retention.py), in days; 0 keeps forever
    retain_raw_days: float = 30.0        # raw payloads of requests (webhook bodies, envelopes): nulled, rows stay
    retain_attempts_days: float = 30.0   # provider attempts and delivery-report events of final messages
    retain_messages_days: float = 400.0  # final messages (with their attempts, events and legs)
    retain_deliveries_days: float = 400.0   # webhook deliveries no kept message names
    retain_inbound_days: float = 400.0   # transactions that paid no order, and texts nothing kept refers to
    retain_batch: int = 500              # most rows per write transaction (fewer when it takes > 50 ms)
    retain_every: float = 600.0          # seconds between retention passes

    # Bulk sends (bridge/bulk.py): the CSV an owner may upload, and recipients queued per transaction
    bulk_max_bytes: int = 800_000       # below the 1 MiB any request may carry (bridge/rejections.py MAX_BODY)
    bulk_max_rows: int = 10_000
    bulk_batch: int = 200

    quiet_hours: tuple[int, int] | None = (21 * 60, 7 * 60)
    timezone: str = "Asia/Ho_Chi_Minh"
    inbound_handlers: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_INBOUND_HANDLERS))

    channel_adapters: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CHANNEL_ADAPTERS))
    secret_key: str = ""
    admin_password: str = ""
    # werkzeug's method for the admin password hash ("scrypt": its default work factor). Not read from
    # the environment: only tests lower it (tests/conftest.py), since every start in a test hashes one.
    password_hash_method: str = "scrypt"
    health_token: str = ""               # Bearer token for /healthz?details (empty: details need the admin sign-in)
    log_level: str = "INFO"
    proxy_count: int = 0                 # reverse proxies in front (nginx: 1): trust that many X-Forwarded-* hops
    log_format: str = "text"             # "text" for people, "json" (one object per line) for log collectors

    # The send API (/api/v1/, bridge/web/api.py)
    api_rate_per_minute: int = 60        # calls per minute per key unless the key sets its own (token bucket)
    api_call_log_rows: int = 50_000      # calls kept in the API call log (the oldest go first)
    api_max_schedule_days: float = 30.0  # how far ahead `send_at` may be

    @property
    def receiving_accounts(self) -> tuple[tuple[str, str], ...]:
        """BANK_ACCOUNTS, or the account shown in transfer instructions when that is unset."""
        if self.bank_accounts:
            return self.bank_accounts
        if self.transfer_bank and self.transfer_account:
            try:
                return ((bank_name(self.transfer_bank), self.transfer_account),)
            except ValueError:
                return ()
        return ()


def _adapters(v: str, defaults: dict[str, str] | None = None) -> dict[str, str]:
    out = dict(DEFAULT_CHANNEL_ADAPTERS if defaults is None else defaults)
    for item in v.split(","):
        if not item.strip():
            continue
        name, sep, target = item.partition("=")
        if not sep or ":" not in target:
            raise ValueError(f"expected name=package.module:Class, got {item.strip()!r}")
        out[name.strip()] = target.strip()
    return out


def _handlers(v: str) -> dict[str, str]:
    return _adapters(v, DEFAULT_INBOUND_HANDLERS)



Settings = make_dataclass("Settings", [], bases=(*providers.settings_mixins(), CoreSettings), frozen=True)
Settings.__doc__ = CoreSettings.__doc__
Settings.__module__ = __name__


# env var -> (field, parser). One table (the core's, then every provider's), so the README and
# .env.example can be checked against it.
CORE_ENV = {
    "BRIDGE_DB": ("db_path", str),
    "HOST": ("host", str),
    "PORT": ("port", int),
    "WEB_THREADS": ("web_threads", p.positive_int),
    "SWITCH_INTERVAL": ("switch_interval", p.positive_float),
    "PUBLIC_URL": ("public_url", p.url),
    "MAPPINGS_DIR": ("mappings_dir", str),
    "SQLITE_SYNCHRONOUS": ("sqlite_synchronous", p.sqlite_sync),
    "ALERT_CHANNELS": ("alert_channels", p.name_list),
    "ALERT_REPEAT": ("alert_repeat", p.positive_float),
    "ALERT_EVERY": ("alert_every", p.positive_float),
    "STALE_PENDING_HOURS": ("stale_pending_hours", p.positive_float),
    "ALERT_REVIEW_QUEUE": ("alert_review_queue", p.positive_int),
    "INBOUND_TOKEN": ("inbound_token", str),
    "OWNER_PHONES": ("owner_phones", p.phone_list),
    "SHOP_NAME": ("shop_name", str),
    "TRANSFER_BANK": ("transfer_bank", str),
    "TRANSFER_ACCOUNT": ("transfer_account", str),
    "TRANSFER_HOLDER": ("transfer_holder", str),
    "PAYMENT_CODE_PREFIX": ("payment_code_prefix", str),
    "BANK_ACCOUNTS": ("bank_accounts", p.bank_accounts),
    "PAYMENT_PAID_STATUS": ("payment_paid_status", p.choice("processing", "completed", "on-hold")),
    "PAYMENT_OVERPAID": ("payment_overpaid", p.choice("hold", "confirm")),
    "PAYMENT_PARTIAL_WINDOW_HOURS": ("payment_partial_window_hours", p.non_negative_float),
    "PAYMENT_EXPIRE_HOURS": ("payment_expire_hours", p.non_negative_float),
    "COD_LINK_SECRET": ("cod_link_secret", str),
    "COD_REMIND_AFTER_HOURS": ("cod_remind_after_hours", p.non_negative_float),
    "COD_CALL_AFTER_HOURS": ("cod_call_after_hours", p.non_negative_float),
    "COD_CONFIRMED_STATUS": ("cod_confirmed_status", str),
    "COD_ALERT_OWNER": ("cod_alert_owner", p.boolean),
    "SHIPMENT_DELIVERED_STATUS": ("shipment_delivered_status", str),
    "SHIPMENT_RETURNED_FLAG": ("shipment_returned_flag", p.boolean),
    "SEND_MAX_ATTEMPTS": ("send_max_attempts", p.positive_int),
    "SEND_BACKOFF_BASE": ("send_backoff_base", p.positive_float),
    "SEND_BACKOFF_MAX": ("send_backoff_max", p.positive_float),
    "SEND_CONCURRENCY": ("send_concurrency", p.positive_int),
    "SEND_LEASE": ("send_lease", p.positive_float),
    "IN_DOUBT_AFTER": ("in_doubt_after", p.positive_float),
    "WORKER_INTERVAL": ("worker_interval", p.positive_float),
    "WORKER_NICE": ("worker_nice", p.int_between(0, 19)),
    "WORKER_YIELD": ("worker_yield", p.float_between(0, 5)),
    "SCHEDULER_LEASE": ("scheduler_lease", p.positive_float),
    "RUN_SCHEDULER": ("run_scheduler", p.boolean),
    "DECIDE_IN": ("decide_in", p.choice("process", "worker")),
    "DECIDE_BATCH": ("decide_batch", p.positive_int),
    "HOOKS_TIMEOUT": ("hooks_timeout", p.positive_float),
    "CHANNEL_ADAPTERS": ("channel_adapters", _adapters),
    "INBOUND_HANDLERS": ("inbound_handlers", _handlers),
    "RETAIN_RAW_DAYS": ("retain_raw_days", p.non_negative_float),
    "RETAIN_ATTEMPTS_DAYS": ("retain_attempts_days", p.non_negative_float),
    "RETAIN_MESSAGES_DAYS": ("retain_messages_days", p.non_negative_float),
    "RETAIN_DELIVERIES_DAYS": ("retain_deliveries_days", p.non_negative_float),
    "RETAIN_INBOUND_DAYS": ("retain_inbound_days", p.non_negative_float),
    "RETAIN_BATCH": ("retain_batch", p.int_between(1, 5000)),   # more holds the write lock for seconds
    "RETAIN_EVERY": ("retain_every", p.positive_float),
    "BULK_MAX_BYTES": ("bulk_max_bytes", p.int_between(1_000, 900_000)),
    "BULK_MAX_ROWS": ("bulk_max_rows", p.int_between(1, 100_000)),
    "BULK_BATCH": ("bulk_batch", p.int_between(1, 2_000)),   # more holds the write lock too long
    "QUIET_HOURS": ("quiet_hours", p.quiet_hours),
    "TIMEZONE": ("timezone", p.time_zone),
    "SECRET_KEY": ("secret_key", str),
    "ADMIN_PASSWORD": ("admin_password", str),
    "HEALTH_TOKEN": ("health_token", str),
    "LOG_LEVEL": ("log_level", str),
    "LOG_FORMAT": ("log_format", p.log_format),
    "PROXY_COUNT": ("proxy_count", int),
    "API_RATE_PER_MINUTE": ("api_rate_per_minute", p.positive_int),
    "API_CALL_LOG_ROWS": ("api_call_log_rows", p.positive_int),
    "API_MAX_SCHEDULE_DAYS": ("api_max_schedule_days", p.positive_float),
}


ENV = {**CORE_ENV, **providers.env_table()}


def load_settings(environ: dict[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
    """Read settings: process environment first, then `.env` for anything not set there."""
    source: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    source.update(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    errors: list[str] = []
    for var, (name, parse) in ENV.items():
        raw = source.get(var)
        if raw is None or (raw.strip() == "" and parse is not str):
            continue
        try:
            values[name] = parse(raw)
        except (ValueError, TypeError) as exc:
            errors.append(f"{var}={raw!r}: {exc}")
    for mixin in providers.settings_mixins():
        check = getattr(mixin, "problems_in", None)
        if check is not None:
            errors.extend(check(values))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    if "public_url" not in values:
        host = values.get("host", Settings.host)
        port = values.get("port", Settings.port)
        values["public_url"] = f"http://{host}:{port}"
    return Settings(**values)  # type: ignore[arg-type]


def settings_with(base: Settings, **changes: object) -> Settings:
    """A copy with some fields replaced (tests and the CLI use it)."""
    data = {f.name: getattr(base, f.name) for f in fields(base)}
    data.update(changes)
    return Settings(**data)  # type: ignore[arg-type]
