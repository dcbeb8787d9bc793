"""How long a payment takes to reach the shop: from the bank's own transaction time (as the
source reports or prints it) to our finished WooCommerce write, per source. SePay advertises
5-10 s; a bank SMS prints only the minute, so its figures carry up to a minute of rounding."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store import reports

WINDOW = 30 * 86_400.0


@dataclass(frozen=True)
class Latency:
    source: str
    count: int
    p50: float
    p95: float


def quantile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank quantile: a figure that really occurred, not an interpolation."""
    rank = max(1, -(-int(q * 100) * len(sorted_values) // 100))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latencies(db: Any, now: float, window: float = WINDOW) -> list[Latency]:
    """p50/p95 per source over the automatic confirmations of the last `window` seconds (the
    latest reports.LATENCY_SAMPLE of them), and "all" across them; a negative figure (a clock
    ahead of the bank's) counts as zero."""
    by: dict[str, list[float]] = {}
    for r in reports.payment_latencies(db, now - window):
        seconds = max(0.0, float(r["seconds"]))
        by.setdefault(r["source"] or "", []).append(seconds)
        by.setdefault("all", []).append(seconds)
    out = []
    for source, values in sorted(by.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        values.sort()
        out.append(Latency(source, len(values), quantile(values, 0.50), quantile(values, 0.95)))
    return out
