"""Prometheus metrics, read from the database at scrape time.

Everything the service did is already a row in SQLite, shared by every process (gunicorn
workers, the worker process). Counting rows when Prometheus asks gives the same answer whichever
process answers, survives restarts, and needs no multiprocess bookkeeping.
"""
from __future__ import annotations

from typing import Any, Iterator
from zoneinfo import ZoneInfo

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from .payments.latency import latencies
from .store import cod_report, intake as stored_intake, reports
from . import months
from . import providers
from .payments.generic import unknown_layouts

from .store.tallies import DELIVERY_BUCKETS, PAYMENT_BUCKETS, SEND_BUCKETS   # the tallies' buckets
COD_MONTHS = 12                                                        # months of COD figures, the current one last
COD_OUTCOMES = ("asked", "confirmed", "cancelled", "unanswered", "refused", "refused_confirmed")


def _histogram(name: str, doc: str, rows: list[Any], buckets: tuple[float, ...],
               label: str) -> HistogramMetricFamily:
    """One histogram per label value, bucketed by SQL so no row leaves the database."""
    fam = HistogramMetricFamily(name, doc, labels=[label])
    for row in rows:
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
        # gauges: a delivery is decided after the answer, so it moves from received to processed and
        # a state's figure goes down (a counter must not); deletes by retention never lower them
        g = GaugeMetricFamily("woobridge_webhook_deliveries", "WooCommerce webhook deliveries ever stored, by topic"
                              " and what became of them now (received: not decided yet)", labels=["topic", "state"])
        for r in reports.deliveries_by_topic_state(db):
            g.add_metric([r[0] or "", r[1] or ""], r[2])
        yield g
        c = CounterMetricFamily("woobridge_rejected_requests", "Requests refused (bad signature, token, body)",
                                labels=["endpoint", "status"])
        for r in reports.rejections_by_endpoint(db):   # a repeated refusal is one row with a count
            c.add_metric([r[0] or "", str(r[1])], r[2])
        yield c
        g = GaugeMetricFamily("woobridge_messages", "Messages (SMS, chat) by current status and channel",
                              labels=["status", "channel"])
        for r in reports.messages_by_status_channel_all(db):
            g.add_metric([r[0], r[1] or ""], r[2])
        yield g
        g = GaugeMetricFamily("woobridge_outbox_jobs", "Outbox jobs that are not messages (order updates, forwards)"
                              " by kind and current status", labels=["kind", "status"])
        for r in reports.jobs_by_kind_status(db):
            g.add_metric([r[0] or "", r[1] or ""], r[2])
        yield g
        c = CounterMetricFamily("woobridge_send_attempts", "Provider calls by channel and outcome",
                                labels=["channel", "outcome"])
        for r in reports.attempts_by_channel_outcome(db):
            c.add_metric([r[0] or "", r[1] or ""], r[2])
        yield c
        yield _histogram("woobridge_send_duration_seconds", "Time of one provider call",
                         reports.send_durations(db), SEND_BUCKETS, "channel")
        yield _histogram("woobridge_message_delivery_seconds", "From the message row to its delivery report",
                         reports.delivery_times(db), DELIVERY_BUCKETS, "channel")
        g = GaugeMetricFamily("woobridge_outbox_depth", "Messages waiting to be sent (pending or scheduled)",
                              labels=["status"])
        for status in ("pending", "scheduled"):
            g.add_metric([status], reports.outbox_waiting(db, status))
        yield g
        c = CounterMetricFamily("woobridge_payments", "Bank/MoMo transactions by decision", labels=["decision"])
        for r in reports.transactions_by_decision(db):
            c.add_metric([r[0] or ""], r[1])
        yield c
        yield _histogram("woobridge_payment_confirm_seconds", "From the bank's own transaction time to the order"
                         " marked paid in WooCommerce, automatic confirmations, by payment source",
                         reports.payment_latency_histogram(db), PAYMENT_BUCKETS, "source")
        g = GaugeMetricFamily("woobridge_payment_confirm_quantile_seconds", "p50 and p95 of the bank-to-WooCommerce"
                              " time over the last 30 days (the latest 2,000 confirmations at most), by payment source ('all': every"
                              " source)",
                              labels=["source", "quantile"])
        for lat in latencies(db, self.bridge.clock()):
            g.add_metric([lat.source, "0.5"], lat.p50)
            g.add_metric([lat.source, "0.95"], lat.p95)
        yield g
        c = CounterMetricFamily("woobridge_unknown_bank_layouts", "Messages from a genuine bank sender that no "
                                "template fits (template drift), by bank", labels=["bank"])
        for bank, n in unknown_layouts(db).items():
            c.add_metric([bank], n)
        yield c
        from .payments.review import review_queue
        yield GaugeMetricFamily("woobridge_review_queue", "Transactions waiting for a person",
                                value=len(review_queue(db)))
        g = GaugeMetricFamily("woobridge_inbound", "Inbound SMS, notifications and Messenger messages ever"
                              " received, by source and what became of them now", labels=["source", "state"])
        for r in reports.inbox_by_source_state(db):
            g.add_metric([r[0] or "", r[1] or ""], r[2])
        yield g
        for item in providers.status_items(self.bridge):
            if item.value is not None and item.unit:
                yield GaugeMetricFamily(f"woobridge_{item.key}_{item.unit}", item.help or item.label,
                                        value=float(item.value))
        g = GaugeMetricFamily("woobridge_cod_orders", "COD orders asked to confirm in a month (the shop's"
                              " TIMEZONE) by what became of them: asked, confirmed, cancelled, unanswered, refused"
                              " (the parcel is returning or returned) and refused_confirmed (refused though confirmed)",
                              labels=["month", "outcome"])
        span = months.last(self.bridge.clock(), ZoneInfo(self.bridge.settings.timezone), COD_MONTHS)
        for r in cod_report.month_figures(db, span):
            for outcome in COD_OUTCOMES:
                g.add_metric([r["month"], outcome], r[outcome])
        yield g
        g = GaugeMetricFamily("woobridge_cod_confirmations", "COD confirmations by current state (call: no answer,"
                              " the owner should call)", labels=["state"])
        for state, n in sorted(cod_report.state_counts(db).items()):
            g.add_metric([state or ""], n)
        yield g
        # a gauge: a call waiting (unmatched, unverified) moves to applied later, so a state's count goes down
        g = GaugeMetricFamily("woobridge_shipment_events", "Carrier calls about parcels by carrier and what became"
                              " of them now (applied, duplicate, stale, unmatched, ignored, error, ...)",
                              labels=["carrier", "state"])
        for r in reports.shipment_events_by_carrier_state(db):
            g.add_metric([r[0] or "", r[1] or ""], r[2])
        yield g
        g = GaugeMetricFamily("woobridge_device_paused", "1 when a phone is paused after failures", labels=["device"])
        for d in self.bridge.device_status():
            g.add_metric([d["name"]], 1 if d["paused"] else 0)
        yield g
        waiting = stored_intake.backlog(db)
        g = GaugeMetricFamily("woobridge_undecided", "Rows acknowledged and not decided yet, by kind (deliveries,"
                              " texts, reports, carrier_calls)", labels=["kind"])
        for kind, (n, _) in waiting.items():
            g.add_metric([kind], n)
        yield g
        oldest = [t for _, t in waiting.values() if t is not None]
        yield GaugeMetricFamily("woobridge_undecided_oldest_seconds", "Age of the oldest row acknowledged and not"
                                " decided yet (0: none waits); growing, nothing decides (no worker with DECIDE_IN=worker)",
                                value=max(0.0, self.bridge.clock() - min(oldest)) if oldest else 0.0)
        yield GaugeMetricFamily("woobridge_scheduler_leader", "1 in the process running the periodic jobs",
                                value=1 if self.bridge.leader.leading else 0)
