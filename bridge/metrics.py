"""Prometheus metrics, read from the database at scrape time.

Everything the service did is already a row in SQLite, shared by every process (gunicorn
workers, the worker process). Counting rows when Prometheus asks gives the same answer whichever
process answers, survives restarts, and needs no multiprocess bookkeeping.
"""
from __future__ import annotations

from typing import Any, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from . import providers

SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)                 # one provider call, seconds
DELIVERY_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400)    # created -> delivered, seconds


def _histogram(db: Any, name: str, doc: str, expr: str, table_where: str, buckets: tuple[float, ...],
               label: str, params: tuple = ()) -> HistogramMetricFamily:
    """One histogram per label value, bucketed by SQL so no row leaves the database."""
    cases = ", ".join(f"SUM(CASE WHEN {expr} <= {b} THEN 1 ELSE 0 END)" for b in buckets)
    fam = HistogramMetricFamily(name, doc, labels=[label])
    for row in db.query(f"SELECT {label}, {cases}, COUNT(*), COALESCE(SUM({expr}), 0) FROM {table_where}"
                        f" GROUP BY {label}", params):
        counts = [row[i + 1] or 0 for i in range(len(buckets))]
        total, total_sum = row[len(buckets) + 1], row[len(buckets) + 2]
        fam.add_metric([row[0] or ""], [(str(b), c) for b, c in zip(buckets, counts)] + [("+Inf", total)],
                       sum_value=float(total_sum))
    return fam


class BridgeCollector(Collector):
    def __init__(self, bridge: Any):
        self.bridge = bridge

    def collect(self) -> Iterator[Any]:
        db = self.bridge.db
        c = CounterMetricFamily("woobridge_webhook_deliveries", "WooCommerce webhook deliveries stored, by topic"
                                " and what became of them", labels=["topic", "state"])
        for r in db.query("SELECT topic, state, COUNT(*) FROM deliveries GROUP BY topic, state"):
            c.add_metric([r[0] or "", r[1] or ""], r[2])
        yield c
        c = CounterMetricFamily("woobridge_rejected_requests", "Requests refused (bad signature, token, body)",
                                labels=["endpoint", "status"])
        for r in db.query("SELECT endpoint, http_status, SUM(COALESCE(count, 1)) FROM rejections"
                          " GROUP BY endpoint, http_status"):   # a repeated refusal is one row with a count
            c.add_metric([r[0] or "", str(r[1])], r[2])
        yield c
        g = GaugeMetricFamily("woobridge_messages", "Messages by current status and channel",
                              labels=["status", "channel"])
        for r in db.query("SELECT status, channel, COUNT(*) FROM messages GROUP BY status, channel"):
            g.add_metric([r[0], r[1] or ""], r[2])
        yield g
        c = CounterMetricFamily("woobridge_send_attempts", "Provider calls by channel and outcome",
                                labels=["channel", "outcome"])
        for r in db.query("SELECT channel, outcome, COUNT(*) FROM attempts GROUP BY channel, outcome"):
            c.add_metric([r[0] or "", r[1] or ""], r[2])
        yield c
        yield _histogram(db, "woobridge_send_duration_seconds", "Time of one provider call",
                         "duration_ms / 1000.0", "attempts", SEND_BUCKETS, "channel")
        yield _histogram(db, "woobridge_message_delivery_seconds", "From the message row to its delivery report",
                         "(delivered_at - created_at)", "messages WHERE delivered_at IS NOT NULL", DELIVERY_BUCKETS,
                         "channel")
        g = GaugeMetricFamily("woobridge_outbox_depth", "Messages waiting to be sent (pending or scheduled)",
                              labels=["status"])
        for status in ("pending", "scheduled"):
            g.add_metric([status], db.scalar("SELECT COUNT(*) FROM messages WHERE status=?", (status,)))
        yield g
        c = CounterMetricFamily("woobridge_payments", "Bank/MoMo transactions by decision", labels=["decision"])
        for r in db.query("SELECT decision, COUNT(*) FROM transactions GROUP BY decision"):
            c.add_metric([r[0] or ""], r[1])
        yield c
        from .payments.review import review_queue
        yield GaugeMetricFamily("woobridge_review_queue", "Transactions waiting for a person",
                                value=len(review_queue(db)))
        c = CounterMetricFamily("woobridge_inbound", "Inbound SMS, notifications and Messenger messages",
                                labels=["source", "state"])
        for r in db.query("SELECT source, state, COUNT(*) FROM inbox GROUP BY source, state"):
            c.add_metric([r[0] or "", r[1] or ""], r[2])
        yield c
        for item in providers.status_items(self.bridge):
            if item.value is not None and item.unit:
                yield GaugeMetricFamily(f"woobridge_{item.key}_{item.unit}", item.help or item.label,
                                        value=float(item.value))
        g = GaugeMetricFamily("woobridge_device_paused", "1 when a phone is paused after failures", labels=["device"])
        for d in self.bridge.device_status():
            g.add_metric([d["name"]], 1 if d["paused"] else 0)
        yield g
        yield GaugeMetricFamily("woobridge_scheduler_leader", "1 in the process running the periodic jobs",
                                value=1 if self.bridge.leader.leading else 0)
