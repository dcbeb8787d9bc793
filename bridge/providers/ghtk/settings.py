"""GHTK settings: the secret `hash` of the callback URL GHTK calls.

A mixin of `bridge.config.Settings`; the env table below is merged into the one the README and
`.env.example` are checked against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class GhtkSettings:
    ghtk_webhook_hash: str = ""          # `?hash=` of the callback URL given to GHTK (generated)


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "GHTK_WEBHOOK_HASH": ("ghtk_webhook_hash", str),
}
