"""The set-up checklist on the dashboard: what a new shop still has to do before woo-bridge
does its work, each line with what to do next and where.

A shop owner who ran `make run` sees messages recorded as dry-run, a transfer SMS without an
account number, a phone that never reported: each a step not done, not a bug to hunt. The
checklist stays on the dashboard until every step is done. Core steps (sending channel, bank
details, receiving accounts, public address) are decided here; a provider adds its own through
`Provider.checklist` (the shop connected and its webhooks healthy, the phone gateway seen).
"""
from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from . import bank_details, providers
from .bank_registry import bank_name
from .reasons import N_

log = logging.getLogger(__name__)

DONE, TODO, INFO = "done", "todo", "info"   # info: a choice the owner may keep (dry-run said plainly)
DELIVERABLE_PORTS = (80, 443, 8080)         # WordPress refuses to deliver webhooks to any other port
# PUBLIC_URL/healthz?probe=<nonce>: /healthz stores the nonce under PROBE_KEY; finding it in our own
# database proves the request reached a process of this service, not another one behind that name.
PROBE_KEY = "setup.probe"
PROBE_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
RESULT_KEY = "setup.public_url"             # the last check: {"url", "state", "status", "at"}
EVERY = 600.0                               # seconds between two checks of PUBLIC_URL
HEARD_WITHIN = 3600.0                       # a phone that reported within this is "seen"


@dataclass(frozen=True)
class Step:
    key: str                 # stable id: tests and the page's anchors use it
    state: str               # DONE, TODO or INFO
    title: str               # English, marked with N_; the page translates
    hint: str = ""           # what to do next (English, N_-marked, %(name)s placeholders from params)
    endpoint: str = ""       # admin endpoint (or absolute URL) of the page where it is done
    params: tuple[tuple[str, str], ...] = ()


def steps(bridge: Any) -> list[Step]:
    """Core steps first, then each provider's, in the order the providers are installed."""
    return core_steps(bridge) + providers.checklist_steps(bridge)


def core_steps(bridge: Any) -> list[Step]:
    return [_sending(bridge), *_bank(bridge), _receiving(bridge), _public_url(bridge)]


def _p(**params: Any) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in params.items())


def _sending(b: Any) -> Step:
    from .outbox import job_channel_names
    jobs = job_channel_names()
    live = [n for n, st in b.channel_status().items() if st["listed"] and n not in jobs and st["configured"]]
    used = list(dict.fromkeys(c for r in b.rules.rules if r.enabled for c in r.channels if c not in jobs))
    if not live:
        return Step("sending", INFO, N_("Dry-run: messages are recorded, not sent"),
                    N_("No sending channel is set up yet. Give one channel its credentials (Settings shows what "
                       "each one lacks) and restart; until then every message is only recorded here."),
                    "admin.settings")
    if used and not set(used) & set(live):
        return Step("sending", TODO, N_("Your rules send through channels that are not set up"),
                    N_("The rules use %(used)s; only %(live)s is set up. Set up one of them, or change the rules' "
                       "channel."), "admin.settings", _p(used=", ".join(used), live=", ".join(live)))
    return Step("sending", DONE, N_("Messages go out through %(live)s"), "", "admin.settings",
                _p(live=", ".join(live)))


def _bank(b: Any) -> list[Step]:
    s = b.settings
    missing = bank_details.missing(s)
    held = bank_details.count(b.db)
    if missing:
        return [Step("bank", TODO, N_("Bank-transfer details are missing"),
                     N_("Set %(missing)s and restart: transfer messages and the pay page tell customers where to "
                        "pay. Messages that need them wait (%(held)s now) and go out once they are set."),
                     "admin.settings", _p(missing=", ".join(missing), held=held))]
    try:
        bank_name(s.transfer_bank)
    except ValueError:
        return [Step("bank", TODO, N_("TRANSFER_BANK %(bank)s is not a bank we know"),
                     N_("Use the bank's usual name or short name (Vietcombank, VCB, MB, Techcombank…): the pay "
                        "page's QR code needs it."), "admin.settings", _p(bank=s.transfer_bank))]
    return [Step("bank", DONE, N_("Customers pay to %(bank)s %(account)s (%(holder)s)"), "", "admin.settings",
                 _p(bank=s.transfer_bank, account=s.transfer_account, holder=s.transfer_holder))]


def _receiving(b: Any) -> Step:
    s = b.settings
    accounts = s.receiving_accounts
    if not accounts:
        return Step("receiving", TODO, N_("No account to match payments on"),
                    N_("Set BANK_ACCOUNTS (BANK:ACCOUNT, comma-separated) or the bank-transfer details: until then "
                       "every credit the bank reports waits for a person."), "admin.payments")
    shown = ", ".join(f"{bank} {account}" for bank, account in accounts)
    if s.bank_accounts:
        return Step("receiving", DONE, N_("Payments are matched on %(accounts)s"), "", "admin.payments",
                    _p(accounts=shown))
    return Step("receiving", DONE, N_("Payments are matched on %(accounts)s"),
                N_("Taken from the bank-transfer details; BANK_ACCOUNTS adds the shop's other accounts."),
                "admin.payments", _p(accounts=shown))


def _port(url: str) -> int | None:
    parts = urlsplit(url)
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


def _public_url(b: Any) -> Step:
    url = b.settings.public_url
    port = _port(url)
    if port not in DELIVERABLE_PORTS:
        return Step("public_url", TODO, N_("PUBLIC_URL uses port %(port)s"),
                    N_("WordPress delivers webhooks only to ports 80, 443 and 8080: set PUBLIC_URL to the address "
                       "the internet reaches, e.g. https://your-domain behind a proxy (deploy/nginx-woo-bridge.conf)."),
                    "admin.settings", _p(port=port if port is not None else "?", url=url))
    last = last_check(b.db)
    if last is None or last.get("url") != url:
        return Step("public_url", TODO, N_("Checking that %(url)s reaches this service"),
                    N_("Checked in the background every 10 minutes; reload this page in a moment."),
                    "admin.settings", _p(url=url))
    if last["state"] == "reached":
        return Step("public_url", DONE, N_("%(url)s reaches this service"), "", "admin.settings", _p(url=url))
    hints = {
        "other": N_("%(url)s/healthz answered, but from another service, not this one: point the name (DNS) and the "
                    "proxy at this server."),
        "status": N_("%(url)s/healthz answered HTTP %(status)s: check the proxy in front of woo-bridge."),
        "unreachable": N_("Nothing answered at %(url)s/healthz: check the domain name, the firewall and the proxy."),
    }
    return Step("public_url", TODO, N_("%(url)s does not reach this service"), hints[last["state"]],
                "admin.settings", _p(url=url, status=last.get("status") or ""))


def last_check(db: Any) -> dict[str, Any] | None:
    raw = db.kv_get(RESULT_KEY)
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("state") in ("reached", "other", "status", "unreachable") \
        else None


def check_public_url(bridge: Any, timeout: float = 10.0) -> str:
    """Ask PUBLIC_URL/healthz with a fresh nonce and keep the verdict for the dashboard (a periodic
    job: the page never waits on the network). "reached": the nonce arrived in our database."""
    url = bridge.settings.public_url
    nonce = secrets.token_urlsafe(24)
    status = None
    try:
        r = requests.get(url.rstrip("/") + "/healthz", params={"probe": nonce}, timeout=timeout)
        status = r.status_code
        if bridge.db.kv_get(PROBE_KEY) == nonce:
            state = "reached"
        else:
            state = "status" if r.status_code != 200 else "other"
    except (requests.RequestException, ValueError) as exc:
        # ValueError: a name no resolver takes (a label over 63 characters) is urllib3's
        # LocationParseError, which requests lets through; the address is as unreachable
        log.info("PUBLIC_URL check: %s/healthz did not answer: %s", url, type(exc).__name__)
        state = "unreachable"
    bridge.db.kv_set(RESULT_KEY, json.dumps({"url": url, "state": state, "status": status, "at": bridge.clock()}))
    return state


def heard(bridge: Any, *sources: str) -> float | None:
    """When any of `sources` last reached us (Bridge.accept records it), or None."""
    times = [float(v) for v in (bridge.db.kv_get(f"heard.{s}") for s in sources) if v]
    return max(times) if times else None
