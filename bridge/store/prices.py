"""What a send costs the shop, per channel, as the owner entered it in the admin (prices change
and differ per contract, so there is no built-in figure): read by the template editor (cost per
send) and the monthly report (cost per channel)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from . import kv
from .db import Database

KEY = "prices"
PER_PART, PER_MESSAGE = "part", "message"   # SMS are billed per part; ZNS and Messenger per message


@dataclass(frozen=True)
class Price:
    channel: str
    vnd: int          # dong per unit
    per: str          # PER_PART or PER_MESSAGE


def all_prices(db: Database) -> dict[str, Price]:
    """Every channel with a price; a channel without one has an unknown cost (shown as such)."""
    try:
        raw = json.loads(kv.get(db, KEY) or "{}")
    except ValueError:
        return {}
    return {ch: Price(ch, int(p["vnd"]), p["per"]) for ch, p in raw.items()
            if isinstance(p, dict) and isinstance(p.get("vnd"), int) and p.get("per") in (PER_PART, PER_MESSAGE)}


def set_prices(db: Database, prices: dict[str, Price]) -> None:
    kv.set(db, KEY, json.dumps({ch: {"vnd": p.vnd, "per": p.per} for ch, p in prices.items()}, sort_keys=True))


def cost(price: Price | None, parts: int) -> int | None:
    """The cost of one send of `parts` SMS parts (1 for a message billed per message)."""
    if price is None:
        return None
    return price.vnd * (max(1, parts) if price.per == PER_PART else 1)
