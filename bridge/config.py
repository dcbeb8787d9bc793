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

ESMS_REAL_BASE_URL = "https://rest.esms.vn/MainService.svc"

# Which adapter serves which channel name. The core looks channels up here by name and never
# imports an adapter module itself; CHANNEL_ADAPTERS can add or replace entries.
DEFAULT_CHANNEL_ADAPTERS = providers.channel_adapters()
# What runs on every inbound SMS, in order (name=package.module:Class); INBOUND_HANDLERS adds more.
DEFAULT_INBOUND_HANDLERS = {
    "payments": "bridge.payments.handler:PaymentHandler",
    "forward": "bridge.inbound.forward:KeywordForwarder",
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

    woo_url: str = ""
    woo_consumer_key: str = ""
    woo_consumer_secret: str = ""
    woo_webhook_secret: str = ""
    woo_order_received_endpoint: str = "order-received"   # WooCommerce > Advanced > checkout endpoints
    welcome_catch_up_hours: float = 48.0   # reconcile welcomes customers it finds registered this recently

    esms_api_key: str = ""
    esms_secret_key: str = ""
    esms_brandname: str = ""
    esms_sms_type: int = 2
    esms_sandbox: bool = False
    esms_base_url: str = ESMS_REAL_BASE_URL
    esms_timeout: float = 10.0
    esms_low_balance: int = 50_000
    alert_channels: tuple[str, ...] = ("esms", "smsgate")  # owner alerts: tried in order, like a rule's list
    alert_repeat: float = 21_600.0       # the same trouble is alerted at most once per this many seconds
    reconcile_every: float = 900.0       # seconds between reconciles with the WooCommerce REST API
    stale_pending_hours: float = 48.0    # a bank-transfer order unpaid this long is flagged to the owner
    alert_every: float = 60.0            # how often the alert conditions are checked (seconds)
    alert_review_queue: int = 5          # alert when the payment review queue reaches a multiple of this
    esms_poll_after: float = 600.0
    esms_poll_give_up: float = 86_400.0
    esms_balance_every: float = 3_600.0

    inbound_token: str = ""              # legacy (before issue 12): now only a fallback for esms_callback_token
    esms_callback_token: str = ""        # in the CallbackUrl handed to eSMS: opens only /callbacks/esms
    fibo_token: str = ""                 # in the FiboSMS push URL: opens only /inbound/fibo
    notify_token: str = ""               # signs (or is the bearer of) /inbound/notification requests
    notify_auth: str = "bearer"          # "signed": only X-Signature/X-Timestamp; "bearer": that or the bearer token
    fibo_payments: str = "review"        # what a bank credit pushed by FiboSMS may do: off | review | confirm
    owner_phones: tuple[str, ...] = ()
    shop_name: str = "Cửa hàng"
    transfer_bank: str = ""
    transfer_account: str = ""
    transfer_holder: str = ""
    payment_code_prefix: str = "DH"
    bank_accounts: tuple[tuple[str, str], ...] = ()
    payment_paid_status: str = "processing"
    payment_overpaid: str = "hold"
    woo_timeout: float = 10.0

    graph_base_url: str = "https://graph.facebook.com/v21.0"
    messenger_page: str = ""
    messenger_page_token: str = ""
    messenger_app_secret: str = ""
    messenger_verify_token: str = ""
    messenger_tag: str = ""
    messenger_timeout: float = 10.0
    zalo_oaid: str = ""

    send_max_attempts: int = 12
    send_backoff_base: float = 5.0
    send_backoff_max: float = 1_800.0
    send_concurrency: int = 8
    send_lease: float = 120.0
    in_doubt_after: float = 600.0        # seconds an in-doubt message waits for a receipt before its next channel
    send_stagger: float = 0.02
    worker_interval: float = 1.0
    scheduler_lease: float = 30.0        # seconds a process holds the periodic jobs without renewing
    run_scheduler: bool = True

    smsgate_url: str = ""
    smsgate_user: str = ""
    smsgate_password: str = ""
    smsgate_mode: str = "cloud"
    smsgate_device_id: str = ""
    smsgate_sim: int | None = None
    smsgate_devices: str = ""
    smsgate_signing_key: str = ""
    smsgate_per_minute: int = 6
    smsgate_per_hour: int = 60
    smsgate_gap_min: float = 10.0
    smsgate_gap_max: float = 25.0
    smsgate_pause_after: int = 5
    smsgate_cooldown: float = 900.0
    smsgate_timeout: float = 10.0
    smsgate_poll_after: float = 300.0
    quiet_hours: tuple[int, int] | None = (21 * 60, 7 * 60)
    timezone: str = "Asia/Ho_Chi_Minh"
    inbound_handlers: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_INBOUND_HANDLERS))

    channel_adapters: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CHANNEL_ADAPTERS))
    secret_key: str = ""
    admin_password: str = ""
    health_token: str = ""               # Bearer token for /healthz?details (empty: details need the admin sign-in)
    messenger_ref_ttl: float = 3 * 86_400.0   # seconds an m.me ref in a message or pay page binds (then refused)
    log_level: str = "INFO"
    proxy_count: int = 0                 # reverse proxies in front (nginx: 1): trust that many X-Forwarded-* hops
    log_format: str = "text"             # "text" for people, "json" (one object per line) for log collectors

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

    @property
    def woo_configured(self) -> bool:
        return bool(self.woo_url and self.woo_consumer_key and self.woo_consumer_secret)

    @property
    def esms_configured(self) -> bool:
        return bool(self.esms_api_key and self.esms_secret_key)


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
    "WOO_URL": ("woo_url", p.url),
    "WOO_CONSUMER_KEY": ("woo_consumer_key", str),
    "WOO_CONSUMER_SECRET": ("woo_consumer_secret", str),
    "WOO_WEBHOOK_SECRET": ("woo_webhook_secret", str),
    "WOO_ORDER_RECEIVED_ENDPOINT": ("woo_order_received_endpoint", str),
    "WELCOME_CATCH_UP_HOURS": ("welcome_catch_up_hours", p.positive_float),
    "ESMS_API_KEY": ("esms_api_key", str),
    "ESMS_SECRET_KEY": ("esms_secret_key", str),
    "ESMS_BRANDNAME": ("esms_brandname", str),
    "ESMS_SMS_TYPE": ("esms_sms_type", p.sms_type),
    "ESMS_SANDBOX": ("esms_sandbox", p.boolean),
    "ESMS_BASE_URL": ("esms_base_url", p.url),
    "ESMS_TIMEOUT": ("esms_timeout", p.positive_float),
    "ESMS_LOW_BALANCE": ("esms_low_balance", int),
    "ALERT_CHANNELS": ("alert_channels", p.name_list),
    "ALERT_REPEAT": ("alert_repeat", p.positive_float),
    "ALERT_EVERY": ("alert_every", p.positive_float),
    "RECONCILE_EVERY": ("reconcile_every", p.positive_float),
    "STALE_PENDING_HOURS": ("stale_pending_hours", p.positive_float),
    "ALERT_REVIEW_QUEUE": ("alert_review_queue", p.positive_int),
    "ESMS_POLL_AFTER": ("esms_poll_after", p.positive_float),
    "ESMS_POLL_GIVE_UP": ("esms_poll_give_up", p.positive_float),
    "ESMS_BALANCE_EVERY": ("esms_balance_every", p.positive_float),
    "INBOUND_TOKEN": ("inbound_token", str),
    "ESMS_CALLBACK_TOKEN": ("esms_callback_token", str),
    "FIBO_TOKEN": ("fibo_token", str),
    "NOTIFY_TOKEN": ("notify_token", str),
    "NOTIFY_AUTH": ("notify_auth", p.choice("signed", "bearer")),
    "FIBO_PAYMENTS": ("fibo_payments", p.choice("off", "review", "confirm")),
    "OWNER_PHONES": ("owner_phones", p.phone_list),
    "SHOP_NAME": ("shop_name", str),
    "TRANSFER_BANK": ("transfer_bank", str),
    "TRANSFER_ACCOUNT": ("transfer_account", str),
    "TRANSFER_HOLDER": ("transfer_holder", str),
    "PAYMENT_CODE_PREFIX": ("payment_code_prefix", str),
    "BANK_ACCOUNTS": ("bank_accounts", p.bank_accounts),
    "PAYMENT_PAID_STATUS": ("payment_paid_status", p.choice("processing", "completed", "on-hold")),
    "PAYMENT_OVERPAID": ("payment_overpaid", p.choice("hold", "confirm")),
    "WOO_TIMEOUT": ("woo_timeout", p.positive_float),
    "GRAPH_BASE_URL": ("graph_base_url", p.url),
    "MESSENGER_PAGE": ("messenger_page", str),
    "MESSENGER_PAGE_TOKEN": ("messenger_page_token", str),
    "MESSENGER_APP_SECRET": ("messenger_app_secret", str),
    "MESSENGER_VERIFY_TOKEN": ("messenger_verify_token", str),
    "MESSENGER_TAG": ("messenger_tag", str),
    "MESSENGER_TIMEOUT": ("messenger_timeout", p.positive_float),
    "ZALO_OAID": ("zalo_oaid", str),
    "SEND_MAX_ATTEMPTS": ("send_max_attempts", p.positive_int),
    "SEND_BACKOFF_BASE": ("send_backoff_base", p.positive_float),
    "SEND_BACKOFF_MAX": ("send_backoff_max", p.positive_float),
    "SEND_CONCURRENCY": ("send_concurrency", p.positive_int),
    "SEND_LEASE": ("send_lease", p.positive_float),
    "IN_DOUBT_AFTER": ("in_doubt_after", p.positive_float),
    "SEND_STAGGER": ("send_stagger", float),
    "WORKER_INTERVAL": ("worker_interval", p.positive_float),
    "SCHEDULER_LEASE": ("scheduler_lease", p.positive_float),
    "RUN_SCHEDULER": ("run_scheduler", p.boolean),
    "CHANNEL_ADAPTERS": ("channel_adapters", _adapters),
    "INBOUND_HANDLERS": ("inbound_handlers", _handlers),
    "SMSGATE_URL": ("smsgate_url", p.url),
    "SMSGATE_USER": ("smsgate_user", str),
    "SMSGATE_PASSWORD": ("smsgate_password", str),
    "SMSGATE_MODE": ("smsgate_mode", p.gateway_mode),
    "SMSGATE_DEVICE_ID": ("smsgate_device_id", str),
    "SMSGATE_SIM": ("smsgate_sim", p.positive_int),
    "SMSGATE_DEVICES": ("smsgate_devices", str),
    "SMSGATE_SIGNING_KEY": ("smsgate_signing_key", str),
    "SMSGATE_PER_MINUTE": ("smsgate_per_minute", p.positive_int),
    "SMSGATE_PER_HOUR": ("smsgate_per_hour", p.positive_int),
    "SMSGATE_GAP_MIN": ("smsgate_gap_min", float),
    "SMSGATE_GAP_MAX": ("smsgate_gap_max", float),
    "SMSGATE_PAUSE_AFTER": ("smsgate_pause_after", p.positive_int),
    "SMSGATE_COOLDOWN": ("smsgate_cooldown", p.positive_float),
    "SMSGATE_TIMEOUT": ("smsgate_timeout", p.positive_float),
    "SMSGATE_POLL_AFTER": ("smsgate_poll_after", p.positive_float),
    "QUIET_HOURS": ("quiet_hours", p.quiet_hours),
    "TIMEZONE": ("timezone", p.time_zone),
    "SECRET_KEY": ("secret_key", str),
    "ADMIN_PASSWORD": ("admin_password", str),
    "HEALTH_TOKEN": ("health_token", str),
    "MESSENGER_REF_TTL": ("messenger_ref_ttl", p.positive_float),
    "LOG_LEVEL": ("log_level", str),
    "LOG_FORMAT": ("log_format", p.log_format),
    "PROXY_COUNT": ("proxy_count", int),
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
    if values.get("smsgate_gap_min", Settings.smsgate_gap_min) > values.get("smsgate_gap_max", Settings.smsgate_gap_max):
        errors.append("SMSGATE_GAP_MIN must not be larger than SMSGATE_GAP_MAX")
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
