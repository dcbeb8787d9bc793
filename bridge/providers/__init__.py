"""Every outside system, one package each, and the registry the core reads them from.

The core (outbox, intake, payments, web, scheduler) never imports a provider or names one: it
asks this registry for the channels, webhooks, periodic jobs, settings and secrets the installed
providers declare. Adding a provider is a new package here plus its name in INSTALLED.

A provider package's `__init__` holds only its `PROVIDER` declaration (strings and its settings
mixin), so reading the registry imports no HTTP client and no Flask view.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

INSTALLED = ("woocommerce", "esms", "smsgate", "fibo", "notification", "messenger", "http", "dryrun")


@dataclass(frozen=True)
class Job:
    """A periodic job a provider needs (status polling, balance, reconcile with the shop)."""
    id: str
    name: str                                  # what the scheduler log says
    target: str                                # "package.module:function", called with the Bridge
    every: Callable[[Any], float]              # seconds between runs, from the settings
    when: Callable[[Any], bool] = lambda s: True   # installed only when this holds (configured)
    at_start: bool = False                     # run once right at start as well


@dataclass(frozen=True)
class Provider:
    name: str
    settings: type | None = None               # a frozen dataclass mixin of its settings (with defaults)
    env: dict[str, tuple[str, Callable[[str], Any]]] = field(default_factory=dict)   # VAR -> (field, parser)
    channels: dict[str, str] = field(default_factory=dict)    # channel name -> "module:Class"
    webhooks: tuple[str, ...] = ()             # "module:attr", each a providers.base.Webhook
    blueprints: tuple[str, ...] = ()           # "module:bp" for endpoints that are not webhooks
    jobs: tuple[Job, ...] = ()
    secrets: dict[str, str] = field(default_factory=dict)     # generated on first start: field -> VAR
    sensitive: tuple[str, ...] = ()            # settings fields never to appear in a log
    endpoints: str = ""                        # "module:function"(bridge) -> [(label, url, note)] for banner/settings
    shop: str = ""                             # "module": the shop the orders come from (bridge.orders.Shop)
    # "module" adding the provider's CLI commands: register(subparsers) -> {command: run(args)};
    # optional problems(settings) -> (errors, warnings) and summary(settings) -> str for check-config
    cli: str = ""
    admin: str = ""                            # "module" adding its pages/actions to the admin blueprint;
                                               # optional settings_context(bridge) -> dict for the Settings page
    # How a retry after an answer that may have been lost is made safe, per channel it serves
    # ("key": the provider deduplicates on our id; "device": only the same phone does; "none").
    retry_safety: dict[str, str] = field(default_factory=dict)


def resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@lru_cache(maxsize=1)
def installed() -> tuple[Provider, ...]:
    return tuple(importlib.import_module(f"{__name__}.{n}").PROVIDER for n in INSTALLED)


def channel_adapters() -> dict[str, str]:
    out: dict[str, str] = {}
    for p in installed():
        out.update(p.channels)
    return out


def env_table() -> dict[str, tuple[str, Callable[[str], Any]]]:
    out: dict[str, tuple[str, Callable[[str], Any]]] = {}
    for p in installed():
        out.update(p.env)
    return out


def settings_mixins() -> tuple[type, ...]:
    return tuple(p.settings for p in installed() if p.settings is not None)


def generated_secrets() -> dict[str, str]:
    out: dict[str, str] = {}
    for p in installed():
        out.update(p.secrets)
    return out


def sensitive_fields() -> tuple[str, ...]:
    return tuple(f for p in installed() for f in p.sensitive)


def jobs() -> tuple[Job, ...]:
    return tuple(j for p in installed() for j in p.jobs)


def shop() -> Any:
    """The installed shop provider's module (bridge.orders.Shop): the core's one way to the shop."""
    return next(importlib.import_module(p.shop) for p in installed() if p.shop)


def cli_modules() -> list[Any]:
    """The providers' CLI modules (Provider.cli), in INSTALLED order."""
    return [importlib.import_module(p.cli) for p in installed() if p.cli]


def admin_modules() -> list[Any]:
    """The providers' admin modules (Provider.admin): importing one adds its routes to the admin."""
    return [importlib.import_module(p.admin) for p in installed() if p.admin]


def endpoints(bridge: Any) -> list[tuple[str, str, str]]:
    """(what, URL, note) for every endpoint the providers want shown in the banner and on Settings."""
    return [e for p in installed() if p.endpoints for e in resolve(p.endpoints)(bridge)]


def retry_safety(channel: str) -> str:
    for p in installed():
        if channel in p.retry_safety:
            return p.retry_safety[channel]
    return "none"
