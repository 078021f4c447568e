"""Prometheus metrics of the execution shell (one set per service registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from tradebus.metrics import LATENCY_BUCKETS
from tradebus.service import Runtime


class Metrics:
    def __init__(self, rt: Runtime) -> None:
        r = rt.registry
        self.orders = Counter("tradebus_execution_orders_total", "Venue orders sent", ["owner"], registry=r)
        self.rejections = Counter(
            "tradebus_risk_rejections_total", "Risk gate events by kind", ["kind"], registry=r
        )
        self.venue_errors = Counter(
            "tradebus_venue_errors_total", "Venue call failures", ["call"], registry=r
        )
        self.intent_to_order = Histogram(
            "tradebus_intent_to_order_seconds",
            "Intent received to venue order acked",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.order_to_fill = Histogram(
            "tradebus_order_to_fill_seconds",
            "Order sent to first fill event",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dry_run = Counter(
            "tradebus_execution_dry_run_intents_total",
            "Intents not traded (dry run)",
            ["strategy"],
            registry=r,
        )
        self.fills = Counter("tradebus_execution_fills_total", "Fills published", ["liquidity"], registry=r)
        self.drift = Gauge(
            "tradebus_reconciliation_drift",
            "Drift events (fills or positions the book could not explain) at the last reconcile",
            registry=r,
        )
        self.drift_events = Counter(
            "tradebus_reconciliation_drift_events_total",
            "Unexplained venue positions found",
            ["symbol"],
            registry=r,
        )
        self.leader = Gauge("tradebus_execution_leader", "1 while this instance owns the account", registry=r)
        self.venue_up = Gauge(
            "tradebus_venue_connected", "1 while the venue event stream is up", ["venue"], registry=r
        )
        self.snapshot_bytes = Gauge(
            "tradebus_execution_snapshot_bytes",
            "Size of the last stored record (book without dedupe ids)",
            registry=r,
        )
        self.snapshot_seconds = Histogram(
            "tradebus_execution_snapshot_seconds",
            "Time to store one book snapshot (KV put)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.replayed = Counter(
            "tradebus_execution_replayed_fills_total",
            "Venue fills read back from the venue on start and on resync",
            ["when"],
            registry=r,
        )
