"""The set-up checklist on the dashboard: what a new shop still has to do before woo-bridge
does its work, each line with what to do next and where.

A shop owner who ran `make run` sees messages recorded as dry-run, a transfer SMS without an
account number, a phone that never reported: each a step not done, not a bug to hunt. The
checklist stays on the dashboard until every step is done. Core steps (sending channel, bank
details, receiving accounts, public address) are decided here; a provider adds its own through
`Provider.checklist` (the shop connected and its webhooks healthy, the phone gateway seen).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import providers

DONE, TODO, INFO = "done", "todo", "info"   # info: a choice the owner may keep (dry-run said plainly)


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
    return []
