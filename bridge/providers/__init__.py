"""Every outside system, one package each, and the registry the core reads them from.

The core (outbox, shop events, received texts, payments, web, scheduler) never imports a provider or names one: it
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

from .. import reasons

INSTALLED = ("woocommerce", "esms", "smsgate", "fibo", "notification", "sepay", "casso", "payos", "messenger",
             "http", "ghn", "ghtk", "dryrun")


@dataclass(frozen=True)
class Job:
    """A periodic job a provider needs (status polling, balance, reconcile with the shop)."""
    id: str
    name: str                                  # what the scheduler log says
    target: str                                # "package.module:function", called with the Bridge
    every: Callable[[Any], float]              # seconds between runs, from the settings
    when: Callable[[Any], bool] = lambda s: True   # installed only when this holds (configured)
    at_start: bool = False                     # run once right at start as well


def N_(text: str) -> str:
    """Marks English text a provider hands the admin pages, which translate it (Flask-Babel
    extracts N_ strings); the banner and the logs keep the English."""
    return text


@dataclass(frozen=True)
class StatusItem:
    """One fact about a provider the owner watches (a prepaid balance), shown on the dashboard,
    the settings page, /healthz?details (as `key`) and /metrics (as woobridge_<key>_<unit>)."""
    key: str
    label: str                                 # English, marked with N_
    value: str | None                          # None: not known yet
    unit: str = ""                             # "vnd": money in dong
    help: str = ""                             # the metric's description


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
    # Generated secrets the legacy INBOUND_TOKEN (one token for everything, before issue 12)
    # stands in for while they are unset: field -> what it still opens (said in the upgrade warning).
    inbound_token_fallback: dict[str, str] = field(default_factory=dict)
    endpoints: str = ""                        # "module:function"(bridge) -> [(label, url, note)] for banner/settings
    owner_channels: tuple[str, ...] = ()       # its channels that can alert the owner (default ALERT_CHANNELS)
    default_channel: str = ""                  # the channel of a rule without `channel:` (first provider declaring one)
    template_channels: tuple[str, ...] = ()    # its channels that send a registered template (the rule's `zns`)
    rotation_effect: dict[str, str] = field(default_factory=dict)   # secret field -> what rotating it means
    check: str = ""                            # "module:function"(settings) -> [error] for check-config
    status: str = ""                           # "module:function"(bridge) -> [StatusItem]
    checklist: str = ""                        # "module:function"(bridge) -> [setup_checklist.Step] on the dashboard
    watch: str = ""                            # "module:function"(bridge) -> [(kind, subject, text)] to alert the owner
    chat: str = ""                             # "module:attr" deciding ChatLinked/ChatSeen/ChatRead (bridge.events)
    template_vars: str = ""                    # "module:function"(settings, order_id=, customer_id=) -> rule variables
    pay_links: str = ""                        # "module:function"(settings, order_id) -> [(text, url)] on the pay page
    pay_qr: str = ""                           # "module:function"(settings, order_id) -> VietQR payload shown instead of ours
    # modules adding pages/actions to the admin blueprint; optional settings_context(bridge) -> dict
    # for the Settings page
    admin_pages: tuple[str, ...] = ()
    admin_nav: tuple[tuple[str, str], ...] = ()   # (label, endpoint) in the admin menu
    chat_sources: tuple[str, ...] = ()         # inbound sources that are people writing to the shop, never a bank
    shop: str = ""                             # "module": the shop the orders come from (bridge.orders.Shop)
    # "module" adding the provider's CLI commands: register(subparsers) -> {command: run(args)};
    # optional problems(settings) -> (errors, warnings) and summary(settings) -> str for check-config
    cli: str = ""
    # How a retry after an answer that may have been lost is made safe, per channel it serves
    # ("key": the provider deduplicates on our id; "device": only the same phone does; "none").
    retry_safety: dict[str, str] = field(default_factory=dict)
    # "module:function"(settings) -> (level, why) for texts from this provider's sources, when they
    # prove less than a signed source: level "off" (not a payment source), "review" (a person
    # confirms), "confirm" (as trusted as any); `why` is the reason a reviewer reads (encoded: bridge/reasons.py).
    payment_trust: str = ""
    # its generated secrets that took over from the single INBOUND_TOKEN of old versions (upgrade advice)
    inbound_token_successors: tuple[str, ...] = ()
    text_kinds: dict[str, str] = field(default_factory=dict)   # inbound source -> what its texts are (not "sms")
    replies: dict[str, str] = field(default_factory=dict)      # inbound source -> the channel answering on that line
    # Outbox job kinds (bridge/outbox.py, named by what is done) this provider carries out: kind -> channel.
    performs: dict[str, str] = field(default_factory=dict)
    # "module:function"(settings, ShipmentUpdate) -> bridge.shipments.Checked, or None when it cannot
    # check: a carrier whose own API confirms what its webhook says (GHN's order detail)
    shipment_check: str = ""


def resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@lru_cache(maxsize=1)
def installed() -> tuple[Provider, ...]:
    return tuple(importlib.import_module(f"{__name__}.{n}").PROVIDER for n in INSTALLED)


def _merged(attr: str) -> dict[str, Any]:
    """Every provider's `attr` table in one (a later provider's entry wins, as in INSTALLED)."""
    out: dict[str, Any] = {}
    for p in installed():
        out.update(getattr(p, attr))
    return out


def _joined(attr: str) -> tuple[Any, ...]:
    """Every provider's `attr` list, one after the other in INSTALLED order."""
    return tuple(x for p in installed() for x in getattr(p, attr))


def _first(attr: str, key: str) -> Any:
    """The first provider's entry for `key` in its `attr` table, or None."""
    return next((getattr(p, attr)[key] for p in installed() if key in getattr(p, attr)), None)


def channel_adapters() -> dict[str, str]:
    return _merged("channels")


def env_table() -> dict[str, tuple[str, Callable[[str], Any]]]:
    return _merged("env")


def settings_mixins() -> tuple[type, ...]:
    return tuple(p.settings for p in installed() if p.settings is not None)


def generated_secrets() -> dict[str, str]:
    return _merged("secrets")


def sensitive_fields() -> tuple[str, ...]:
    return _joined("sensitive")


def inbound_token_fallbacks() -> dict[str, str]:
    return _merged("inbound_token_fallback")


def owner_channels() -> tuple[str, ...]:
    return _joined("owner_channels")


def default_channel() -> str:
    return next((p.default_channel for p in installed() if p.default_channel), "dry-run")


def template_channels() -> tuple[str, ...]:
    return _joined("template_channels")


def rotation_effects() -> dict[str, str]:
    return _merged("rotation_effect")


def config_errors(settings: Any) -> list[str]:
    """What each provider finds wrong in a configuration that loaded (half-given credentials)."""
    return [e for p in installed() if p.check for e in resolve(p.check)(settings)]


def _gather(attr: str, bridge: Any) -> list[Any]:
    """Every installed provider's `attr` hook called with the bridge, results in registry order."""
    return [x for p in installed() if getattr(p, attr) for x in resolve(getattr(p, attr))(bridge)]


reasons.register({
    "trust.nobody_vouches": N_("%(source)s: no provider vouches for texts from it, so a person confirms"),
    "trust.unknown_source": N_("an unknown source: no provider vouches for texts from it, so a person confirms"),
})


def payment_trust(source: str, settings: Any) -> tuple[str, str]:
    """How far a bank credit received from `source` may go on its own (Provider.payment_trust)."""
    for p in installed():
        if p.name == source and p.payment_trust:
            return resolve(p.payment_trust)(settings)
    # a source no provider vouches for proves nothing about who sent the text: a person decides
    return "review", reasons.encode("trust.nobody_vouches", source=source) if source else \
        reasons.encode("trust.unknown_source")


def authenticated(settings: Any) -> tuple[str, str]:
    """Payment trust of a source whose every request is signed or carries its own secret."""
    return "confirm", ""


def inbound_token_successors() -> tuple[str, ...]:
    return _joined("inbound_token_successors")


def text_kind(source: str) -> str:
    """What texts from `source` are for the bank parsers: "sms" unless its provider says otherwise."""
    return _first("text_kinds", source) or "sms"


def reply_channel(source: str) -> str | None:
    """The channel that answers a text received from `source` on the same line (the same phone)."""
    # "*": the line that answers texts from any source by default
    return _first("replies", source) or _first("replies", "*")


def job_channels() -> dict[str, str]:
    return _merged("performs")


def shop() -> Any:
    """The installed shop provider's module (bridge.orders.Shop): the core's one way to the shop."""
    return next(importlib.import_module(p.shop) for p in installed() if p.shop)


def cli_modules() -> list[Any]:
    """The providers' CLI modules (Provider.cli), in INSTALLED order."""
    return [importlib.import_module(p.cli) for p in installed() if p.cli]


def admin_modules() -> list[Any]:
    """The providers' admin modules (Provider.admin_pages): importing one adds its routes to the admin."""
    return [importlib.import_module(m) for p in installed() for m in p.admin_pages]


def endpoints(bridge: Any, translate: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """(what, URL, note) of every provider's inbound endpoints, in English for the banner, or
    through `translate` (the admin's gettext) for the settings page."""
    return [x for p in installed() if p.endpoints for x in resolve(p.endpoints)(bridge, translate)]


def status_items(bridge: Any) -> list[StatusItem]:
    return _gather("status", bridge)


def checklist_steps(bridge: Any) -> list[Any]:
    return _gather("checklist", bridge)


def owner_alerts(bridge: Any) -> list[tuple[str, str, str]]:
    return _gather("watch", bridge)


def jobs() -> tuple[Job, ...]:
    return _joined("jobs")


def retry_safety(channel: str) -> str:
    return _first("retry_safety", channel) or "none"


def chat(provider: str) -> Any:
    """The provider's rules for chat identities (links, windows, read receipts)."""
    for p in installed():
        if p.name == provider and p.chat:
            return resolve(p.chat)
    raise LookupError(f"provider {provider!r} declares no chat hook")


def template_vars(settings: Any, order_id: int | None = None, customer_id: int | None = None) -> dict[str, Any]:
    """The rule variables every provider adds to an order's or a customer's context."""
    out: dict[str, Any] = {}
    for p in installed():
        if p.template_vars:
            out.update(resolve(p.template_vars)(settings, order_id=order_id, customer_id=customer_id))
    return out


def pay_links(settings: Any, order_id: int) -> list[tuple[str, str]]:
    """(text, url) links the providers offer on an order's pay page."""
    return [link for p in installed() if p.pay_links for link in resolve(p.pay_links)(settings, order_id)]


def pay_qr(settings: Any, order_id: int) -> str | None:
    """A provider's VietQR payload for the order (a payment link's), shown instead of the shop's own."""
    return next((qr for p in installed() if p.pay_qr for qr in (resolve(p.pay_qr)(settings, order_id),) if qr), None)


def admin_nav() -> tuple[tuple[str, str], ...]:
    return _joined("admin_nav")


def shipment_check(carrier: str) -> Callable[..., Any] | None:
    """The carrier's check of a call against its own API (Provider.shipment_check), if it has one."""
    for p in installed():
        if p.name == carrier and p.shipment_check:
            return resolve(p.shipment_check)
    return None


def chat_sources() -> tuple[str, ...]:
    return _joined("chat_sources")
