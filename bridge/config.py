"""Settings from the environment (and an optional `.env`), validated once at start.

Everything the service needs to know about its surroundings comes through here, so that a
misconfiguration is reported with the variable's name before any request is accepted.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from dotenv import dotenv_values

ESMS_REAL_BASE_URL = "https://rest.esms.vn/MainService.svc"

# Which adapter serves which channel name. The core looks channels up here by name and never
# imports an adapter module itself; CHANNEL_ADAPTERS can add or replace entries.
DEFAULT_CHANNEL_ADAPTERS = {
    "esms": "bridge.channels.esms:EsmsChannel",
    "dry-run": "bridge.channels.dryrun:DryRunChannel",
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

    esms_api_key: str = ""
    esms_secret_key: str = ""
    esms_brandname: str = ""
    esms_sms_type: int = 2
    esms_sandbox: bool = False
    esms_base_url: str = ESMS_REAL_BASE_URL
    esms_timeout: float = 10.0
    esms_low_balance: int = 50_000
    esms_poll_after: float = 600.0
    esms_poll_give_up: float = 86_400.0
    esms_balance_every: float = 3_600.0

    inbound_token: str = ""
    owner_phones: tuple[str, ...] = ()
    shop_name: str = "Cửa hàng"
    transfer_bank: str = ""
    transfer_account: str = ""
    transfer_holder: str = ""
    payment_code_prefix: str = "DH"

    send_max_attempts: int = 12
    send_backoff_base: float = 5.0
    send_backoff_max: float = 1_800.0
    send_concurrency: int = 8
    send_lease: float = 120.0
    send_stagger: float = 0.02
    worker_interval: float = 1.0
    run_scheduler: bool = True

    channel_adapters: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CHANNEL_ADAPTERS))
    secret_key: str = ""
    log_level: str = "INFO"

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


def _adapters(v: str) -> dict[str, str]:
    out = dict(DEFAULT_CHANNEL_ADAPTERS)
    for item in v.split(","):
        if not item.strip():
            continue
        name, sep, target = item.partition("=")
        if not sep or ":" not in target:
            raise ValueError(f"expected name=package.module:Class, got {item.strip()!r}")
        out[name.strip()] = target.strip()
    return out


def _sync(v: str) -> str:
    s = v.strip().upper()
    if s not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError("expected FULL, NORMAL or EXTRA")
    return s


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
    "ESMS_API_KEY": ("esms_api_key", str),
    "ESMS_SECRET_KEY": ("esms_secret_key", str),
    "ESMS_BRANDNAME": ("esms_brandname", str),
    "ESMS_SMS_TYPE": ("esms_sms_type", _sms_type),
    "ESMS_SANDBOX": ("esms_sandbox", _bool),
    "ESMS_BASE_URL": ("esms_base_url", _url),
    "ESMS_TIMEOUT": ("esms_timeout", _positive_float),
    "ESMS_LOW_BALANCE": ("esms_low_balance", int),
    "ESMS_POLL_AFTER": ("esms_poll_after", _positive_float),
    "ESMS_POLL_GIVE_UP": ("esms_poll_give_up", _positive_float),
    "ESMS_BALANCE_EVERY": ("esms_balance_every", _positive_float),
    "INBOUND_TOKEN": ("inbound_token", str),
    "OWNER_PHONES": ("owner_phones", _phones),
    "SHOP_NAME": ("shop_name", str),
    "TRANSFER_BANK": ("transfer_bank", str),
    "TRANSFER_ACCOUNT": ("transfer_account", str),
    "TRANSFER_HOLDER": ("transfer_holder", str),
    "PAYMENT_CODE_PREFIX": ("payment_code_prefix", str),
    "SEND_MAX_ATTEMPTS": ("send_max_attempts", _positive_int),
    "SEND_BACKOFF_BASE": ("send_backoff_base", _positive_float),
    "SEND_BACKOFF_MAX": ("send_backoff_max", _positive_float),
    "SEND_CONCURRENCY": ("send_concurrency", _positive_int),
    "SEND_LEASE": ("send_lease", _positive_float),
    "SEND_STAGGER": ("send_stagger", float),
    "WORKER_INTERVAL": ("worker_interval", _positive_float),
    "RUN_SCHEDULER": ("run_scheduler", _bool),
    "CHANNEL_ADAPTERS": ("channel_adapters", _adapters),
    "SECRET_KEY": ("secret_key", str),
    "LOG_LEVEL": ("log_level", str),
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
