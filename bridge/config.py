"""Settings from the environment (and an optional `.env`), validated once at start.

Everything the service needs to know about its surroundings comes through here, so that a
misconfiguration is reported with the variable's name before any request is accepted.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from dotenv import dotenv_values

from .bank_registry import ALIASES, bank_name  # noqa: F401  (bank_name is part of this module's API)

ESMS_REAL_BASE_URL = "https://rest.esms.vn/MainService.svc"

# Which adapter serves which channel name. The core looks channels up here by name and never
# imports an adapter module itself; CHANNEL_ADAPTERS can add or replace entries.
DEFAULT_CHANNEL_ADAPTERS = {
    "esms": "bridge.providers.esms.sender:EsmsChannel",
    "smsgate": "bridge.providers.smsgate.sender:SmsGateChannel",
    "http": "bridge.providers.http.sender:HttpForwardChannel",
    "woocommerce": "bridge.providers.woocommerce.writeback:WooCommerceChannel",
    "messenger": "bridge.providers.messenger.sender:MessengerChannel",
    "zalo": "bridge.providers.esms.zalo:ZaloZnsChannel",
    "zalo-sms": "bridge.providers.esms.zalo:ZaloSmsChannel",
    "dry-run": "bridge.providers.dryrun:DryRunChannel",
}
# What runs on every inbound SMS, in order (name=package.module:Class); INBOUND_HANDLERS adds more.
DEFAULT_INBOUND_HANDLERS = {
    "payments": "bridge.payments.handler:PaymentHandler",
    "forward": "bridge.inbound.forward:KeywordForwarder",
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
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
    # werkzeug's method for the admin password hash ("scrypt": its default work factor). Not read from
    # the environment: only tests lower it (tests/conftest.py), since every start in a test hashes one.
    password_hash_method: str = "scrypt"
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


# env var -> (field, parser). One table, so the README and .env.example can be checked against it.
def _bool(v: str) -> bool:
    s = v.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _phones(v: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in v.split(",") if p.strip())


def _adapters(v: str, defaults: dict[str, str] = DEFAULT_CHANNEL_ADAPTERS) -> dict[str, str]:
    out = dict(defaults)
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


def _quiet(v: str) -> tuple[int, int] | None:
    s = v.strip().lower()
    if s in ("", "off", "none"):
        return None
    start, sep, end = s.partition("-")
    if not sep:
        raise ValueError("expected HH:MM-HH:MM (e.g. 21:00-07:00) or off")
    out = []
    for part in (start, end):
        hh, _, mm = part.strip().partition(":")
        h, m = int(hh), int(mm or 0)
        if not (0 <= h < 24 and 0 <= m < 60):
            raise ValueError(f"{part.strip()!r} is not a time of day")
        out.append(h * 60 + m)
    return out[0], out[1]


BANK_ALIASES = ALIASES   # one registry: bridge/bank_registry.py


def _accounts(v: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in v.split(","):
        if not item.strip():
            continue
        bank, sep, account = item.partition(":")
        if not sep or not account.strip():
            raise ValueError(f"expected BANK:ACCOUNT, got {item.strip()!r}")
        out.append((bank_name(bank), account.strip()))
    return tuple(out)


def _choice(*options: str):
    def parse(v: str) -> str:
        s = v.strip().lower()
        if s not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return s
    return parse


def _tz(v: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(v.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone (expected e.g. Asia/Ho_Chi_Minh)") from None
    return v.strip()


def _mode(v: str) -> str:
    s = v.strip().lower()
    if s not in ("cloud", "local"):
        raise ValueError("expected cloud (cloud or private server) or local (the phone's own server)")
    return s


def _sync(v: str) -> str:
    s = v.strip().upper()
    if s not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError("expected FULL, NORMAL or EXTRA")
    return s


def _names(v: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in v.split(",") if x.strip())
    if not names:
        raise ValueError("expected a comma list of channel names, e.g. esms,smsgate")
    return names


def _positive_int(v: str) -> int:
    n = int(v)
    if n < 1:
        raise ValueError("must be 1 or more")
    return n


def _positive_float(v: str) -> float:
    n = float(v)
    if n <= 0:
        raise ValueError("must be greater than 0")
    return n


def _sms_type(v: str) -> int:
    n = int(v)
    if n not in (2, 8):
        raise ValueError("eSMS SmsType must be 2 (brandname customer care) or 8 (fixed 10-digit number)")
    return n


def _url(v: str) -> str:
    s = v.strip().rstrip("/")
    if s and not (s.startswith("http://") or s.startswith("https://")):
        raise ValueError("must start with http:// or https://")
    return s


def _log_format(value: str) -> str:
    v = value.strip().lower()
    if v not in ("text", "json"):
        raise ValueError("must be text or json")
    return v


ENV = {
    "BRIDGE_DB": ("db_path", str),
    "HOST": ("host", str),
    "PORT": ("port", int),
    "WEB_THREADS": ("web_threads", _positive_int),
    "SWITCH_INTERVAL": ("switch_interval", _positive_float),
    "PUBLIC_URL": ("public_url", _url),
    "MAPPINGS_DIR": ("mappings_dir", str),
    "SQLITE_SYNCHRONOUS": ("sqlite_synchronous", _sync),
    "WOO_URL": ("woo_url", _url),
    "WOO_CONSUMER_KEY": ("woo_consumer_key", str),
    "WOO_CONSUMER_SECRET": ("woo_consumer_secret", str),
    "WOO_WEBHOOK_SECRET": ("woo_webhook_secret", str),
    "WOO_ORDER_RECEIVED_ENDPOINT": ("woo_order_received_endpoint", str),
    "WELCOME_CATCH_UP_HOURS": ("welcome_catch_up_hours", _positive_float),
    "ESMS_API_KEY": ("esms_api_key", str),
    "ESMS_SECRET_KEY": ("esms_secret_key", str),
    "ESMS_BRANDNAME": ("esms_brandname", str),
    "ESMS_SMS_TYPE": ("esms_sms_type", _sms_type),
    "ESMS_SANDBOX": ("esms_sandbox", _bool),
    "ESMS_BASE_URL": ("esms_base_url", _url),
    "ESMS_TIMEOUT": ("esms_timeout", _positive_float),
    "ESMS_LOW_BALANCE": ("esms_low_balance", int),
    "ALERT_CHANNELS": ("alert_channels", _names),
    "ALERT_REPEAT": ("alert_repeat", _positive_float),
    "ALERT_EVERY": ("alert_every", _positive_float),
    "RECONCILE_EVERY": ("reconcile_every", _positive_float),
    "STALE_PENDING_HOURS": ("stale_pending_hours", _positive_float),
    "ALERT_REVIEW_QUEUE": ("alert_review_queue", _positive_int),
    "ESMS_POLL_AFTER": ("esms_poll_after", _positive_float),
    "ESMS_POLL_GIVE_UP": ("esms_poll_give_up", _positive_float),
    "ESMS_BALANCE_EVERY": ("esms_balance_every", _positive_float),
    "INBOUND_TOKEN": ("inbound_token", str),
    "ESMS_CALLBACK_TOKEN": ("esms_callback_token", str),
    "FIBO_TOKEN": ("fibo_token", str),
    "NOTIFY_TOKEN": ("notify_token", str),
    "NOTIFY_AUTH": ("notify_auth", _choice("signed", "bearer")),
    "FIBO_PAYMENTS": ("fibo_payments", _choice("off", "review", "confirm")),
    "OWNER_PHONES": ("owner_phones", _phones),
    "SHOP_NAME": ("shop_name", str),
    "TRANSFER_BANK": ("transfer_bank", str),
    "TRANSFER_ACCOUNT": ("transfer_account", str),
    "TRANSFER_HOLDER": ("transfer_holder", str),
    "PAYMENT_CODE_PREFIX": ("payment_code_prefix", str),
    "BANK_ACCOUNTS": ("bank_accounts", _accounts),
    "PAYMENT_PAID_STATUS": ("payment_paid_status", _choice("processing", "completed", "on-hold")),
    "PAYMENT_OVERPAID": ("payment_overpaid", _choice("hold", "confirm")),
    "WOO_TIMEOUT": ("woo_timeout", _positive_float),
    "GRAPH_BASE_URL": ("graph_base_url", _url),
    "MESSENGER_PAGE": ("messenger_page", str),
    "MESSENGER_PAGE_TOKEN": ("messenger_page_token", str),
    "MESSENGER_APP_SECRET": ("messenger_app_secret", str),
    "MESSENGER_VERIFY_TOKEN": ("messenger_verify_token", str),
    "MESSENGER_TAG": ("messenger_tag", str),
    "MESSENGER_TIMEOUT": ("messenger_timeout", _positive_float),
    "ZALO_OAID": ("zalo_oaid", str),
    "SEND_MAX_ATTEMPTS": ("send_max_attempts", _positive_int),
    "SEND_BACKOFF_BASE": ("send_backoff_base", _positive_float),
    "SEND_BACKOFF_MAX": ("send_backoff_max", _positive_float),
    "SEND_CONCURRENCY": ("send_concurrency", _positive_int),
    "SEND_LEASE": ("send_lease", _positive_float),
    "SEND_STAGGER": ("send_stagger", float),
    "WORKER_INTERVAL": ("worker_interval", _positive_float),
    "SCHEDULER_LEASE": ("scheduler_lease", _positive_float),
    "RUN_SCHEDULER": ("run_scheduler", _bool),
    "CHANNEL_ADAPTERS": ("channel_adapters", _adapters),
    "INBOUND_HANDLERS": ("inbound_handlers", _handlers),
    "SMSGATE_URL": ("smsgate_url", _url),
    "SMSGATE_USER": ("smsgate_user", str),
    "SMSGATE_PASSWORD": ("smsgate_password", str),
    "SMSGATE_MODE": ("smsgate_mode", _mode),
    "SMSGATE_DEVICE_ID": ("smsgate_device_id", str),
    "SMSGATE_SIM": ("smsgate_sim", _positive_int),
    "SMSGATE_DEVICES": ("smsgate_devices", str),
    "SMSGATE_SIGNING_KEY": ("smsgate_signing_key", str),
    "SMSGATE_PER_MINUTE": ("smsgate_per_minute", _positive_int),
    "SMSGATE_PER_HOUR": ("smsgate_per_hour", _positive_int),
    "SMSGATE_GAP_MIN": ("smsgate_gap_min", float),
    "SMSGATE_GAP_MAX": ("smsgate_gap_max", float),
    "SMSGATE_PAUSE_AFTER": ("smsgate_pause_after", _positive_int),
    "SMSGATE_COOLDOWN": ("smsgate_cooldown", _positive_float),
    "SMSGATE_TIMEOUT": ("smsgate_timeout", _positive_float),
    "SMSGATE_POLL_AFTER": ("smsgate_poll_after", _positive_float),
    "QUIET_HOURS": ("quiet_hours", _quiet),
    "TIMEZONE": ("timezone", _tz),
    "SECRET_KEY": ("secret_key", str),
    "ADMIN_PASSWORD": ("admin_password", str),
    "HEALTH_TOKEN": ("health_token", str),
    "MESSENGER_REF_TTL": ("messenger_ref_ttl", _positive_float),
    "LOG_LEVEL": ("log_level", str),
    "LOG_FORMAT": ("log_format", _log_format),
    "PROXY_COUNT": ("proxy_count", int),
}


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
