"""Prometheus metrics: leases, devices per flavor, waiting lines, decisions and their latency."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .core import AdmissionCore
from .ledger import Decision, Grant


class LedgerCollector(Collector):
    """Reads the ledger at scrape time."""

    def __init__(self, core: AdmissionCore) -> None:
        self.core = core

    def collect(self) -> Iterator[Metric]:
        ledger = self.core.ledger
        now = self.core.clock()
        leases = GaugeMetricFamily("accelhub_leases_active", "Active leases", labels=["flavor"])
        used = GaugeMetricFamily(
            "accelhub_devices_used", "Devices held by leases", labels=["flavor"]
        )
        free = GaugeMetricFamily(
            "accelhub_devices_free", "Devices free for anyone (not reserved)", labels=["flavor"]
        )
        reserved = GaugeMetricFamily(
            "accelhub_devices_reserved_unclaimed",
            "Devices reserved for hackathons and not yet claimed",
            labels=["flavor"],
        )
        queue = GaugeMetricFamily("accelhub_queue_length", "Servers waiting", labels=["flavor"])
        counts: dict[str, int] = {}
        for lease in ledger.leases.values():
            counts[lease.flavor] = counts.get(lease.flavor, 0) + 1
        for slug in self.core.flavors:
            leases.add_metric([slug], counts.get(slug, 0))
            used.add_metric([slug], ledger.flavor_used.get(slug, 0))
            queue.add_metric([slug], len(ledger.queue.get(slug, ())))
            unclaimed = 0
            for res in ledger.active_reservations(slug, now):
                size = res.size(self.core.member_counts.get(res.group, 0))
                unclaimed += ledger.unclaimed(res, size)
            reserved.add_metric([slug], unclaimed)
            cap = self.core.capacity(slug)
            if cap is not None:
                left = cap.total - cap.external_used - ledger.flavor_used.get(slug, 0) - unclaimed
                free.add_metric([slug], max(left, 0))
        yield from (leases, used, free, reserved, queue)


class Metrics:
    """The service's registry; also an observer of the admission core."""

    def __init__(self, core: AdmissionCore) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "accelhub_admission_decisions",
            "Admission decisions by flavor and outcome",
            ["flavor", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "accelhub_admission_latency_seconds",
            "Time to decide and commit an admission",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.reclaimed = Counter(
            "accelhub_idle_reclaims",
            "Servers stopped for idle accelerators",
            ["flavor"],
            registry=self.registry,
        )
        self.core = core
        self.registry.register(LedgerCollector(core))
        core.observers.append(self)

    def decided(self, decision: Decision, flavor: str, seconds: float) -> None:
        outcome = "granted" if isinstance(decision, Grant) else decision.reason
        label = flavor if flavor in self.core.flavors else "unknown"
        self.decisions.labels(flavor=label, outcome=outcome).inc()
        self.latency.observe(seconds)

    def changed(self, flavor: str) -> None:
        return None

    def reclaim(self, lease: Any) -> None:
        self.reclaimed.labels(flavor=lease.flavor).inc()
