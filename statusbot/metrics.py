"""Prometheus metrics for the daemon, served at ``GET /metrics`` on its HTTP listener.

Two kinds of values:

* events counted as they happen, on the event loop (``observe_result``, ``observe_lateness``,
  ``count_*``): plain prometheus-client counters and histograms, each call O(1);
* state read at scrape time (component states, open incidents, outbox, deliveries, pipeline
  counters) from a ``Snapshot`` callback the daemon supplies with ``set_snapshot_source``.

Every ``Metrics`` has its own ``CollectorRegistry`` (never the process-wide default), so several
daemons, or tests, never share a series. Label values are component, check and channel ids only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from statusbot.model import CheckResult, DeliveryStatus, State

if TYPE_CHECKING:
    from statusbot.outbox import Courier
    from statusbot.pipeline import Counters
    from statusbot.store.stats import OutboxStats

log = logging.getLogger("statusbot")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Probe latency, seconds: 1 ms (loopback) to 30 s (the longest sensible check timeout)."""
# fmt: off
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5,
                    10, 30, 60)
# fmt: on
"""Scheduling lateness, seconds; the daemon calls a run "late" after 1 s."""
_PIPELINE = (  # cumulative pipeline counters: metric name, Snapshot field, help
    ("statusbot_failures_suppressed", "suppressed", "Failures ignored: probe network looked down."),
    ("statusbot_outages_held", "held", "Worsening transitions that waited for the canary."),
    ("statusbot_store_errors", "store_errors", "Result batches the store failed to write."),
)
STATES = tuple(s.value for s in State)  # up, degraded, down, maintenance, unknown


class OutboxDepth(NamedTuple):
    """One channel's queue: deliveries waiting (pending or being sent), failed ones, and the
    age in seconds of the oldest pending one (None when nothing waits)."""

    pending: int
    failed: int
    oldest_pending_age_seconds: float | None


class DeliveryCounts(NamedTuple):
    """A courier's cumulative outcomes since the daemon started."""

    sent: int
    failed: int
    dropped: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What ``/metrics`` reports about the daemon's state, gathered at scrape time."""

    component_states: dict[str, str] = field(default_factory=dict)  # component id → State value
    open_incidents: int = 0
    outbox: dict[str, OutboxDepth] = field(default_factory=dict)  # by channel
    deliveries: dict[str, DeliveryCounts] = field(default_factory=dict)  # by channel
    suppressed: int = 0
    held: int = 0
    store_errors: int = 0


def snapshot_from(
    *,
    states: Mapping[str, tuple[State, datetime]],
    open_incidents: int,
    outbox: Mapping[str, OutboxStats],
    couriers: Iterable[Courier],
    counters: Counters | None,
    now: datetime,
) -> Snapshot:
    """Build a ``Snapshot`` from what the store (``Tx.component_states``, ``len(open_incidents)``,
    ``Tx.outbox_summary``) and the daemon (couriers, ``pipeline.counters``) hold. Ages are taken
    at ``now``, so store reads cached a few seconds earlier still give a current oldest age."""
    depth = {}
    for channel, s in outbox.items():
        oldest = s.oldest_pending_at
        depth[channel] = OutboxDepth(
            s.count(DeliveryStatus.PENDING) + s.count(DeliveryStatus.SENDING),
            s.count(DeliveryStatus.FAILED),
            None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        )
    return Snapshot(
        component_states={cid: state.value for cid, (state, _since) in states.items()},
        open_incidents=open_incidents,
        outbox=depth,
        deliveries={
            c.name: DeliveryCounts(
                c.stats.sent, c.stats.failed, c.stats.dropped, c.stats.duplicates
            )
            for c in couriers
        },
        suppressed=counters.suppressed if counters else 0,
        held=counters.held if counters else 0,
        store_errors=counters.store_errors if counters else 0,
    )


class _SnapshotCollector:
    """Turns the daemon's snapshot into metric families each time the registry is collected."""

    def __init__(self) -> None:
        self.source: Callable[[], Snapshot] | None = None
        self.errors = 0

    def describe(self) -> Iterator[Metric]:
        """The families (without samples) so the registry can check for name clashes."""
        return self._families(Snapshot())

    def collect(self) -> Iterator[Metric]:
        """Call the source (at scrape time, on the caller's thread) and report what it says;
        without a source, or when it raises, only the error counter is reported."""
        snap: Snapshot | None = None
        if self.source is not None:
            try:
                snap = self.source()
            except Exception:
                self.errors += 1
                log.exception("metrics: the snapshot source failed; state metrics left out")
        yield CounterMetricFamily(
            "statusbot_metrics_snapshot_errors", "Scrapes whose state snapshot failed.", self.errors
        )
        if snap is not None:
            yield from self._families(snap)

    @staticmethod
    def _families(snap: Snapshot) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "statusbot_component_state",
            "Current state of each component: 1 for its state, 0 for the others.",
            labels=["component", "state"],
        )
        for component, current in sorted(snap.component_states.items()):
            for s in STATES if current in STATES else (*STATES, current):
                state.add_metric([component, s], 1.0 if s == current else 0.0)
        yield state
        yield GaugeMetricFamily(
            "statusbot_open_incidents", "Incidents not resolved yet.", snap.open_incidents
        )
        depth = GaugeMetricFamily(
            "statusbot_outbox_depth",
            "Deliveries in the outbox per channel: pending (incl. sending) and failed.",
            labels=["channel", "status"],
        )
        oldest = GaugeMetricFamily(
            "statusbot_outbox_oldest_pending_seconds",
            "Age of the oldest pending delivery per channel (0 when none is pending).",
            labels=["channel"],
        )
        for channel, d in sorted(snap.outbox.items()):
            depth.add_metric([channel, "pending"], d.pending)
            depth.add_metric([channel, "failed"], d.failed)
            oldest.add_metric([channel], d.oldest_pending_age_seconds or 0.0)
        yield depth
        yield oldest
        deliveries = CounterMetricFamily(
            "statusbot_deliveries",
            "Delivery attempts' outcomes per channel since the daemon started.",
            labels=["channel", "outcome"],
        )
        for channel, c in sorted(snap.deliveries.items()):
            for outcome, n in zip(("sent", "failed", "dropped", "duplicate"), c, strict=True):
                deliveries.add_metric([channel, outcome], n)
        yield deliveries
        for name, attr, doc in _PIPELINE:
            yield CounterMetricFamily(name, doc, getattr(snap, attr))


class Metrics:
    """The daemon's metrics, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # Per component, not per check: 10,000 checks with a series each (and a latency
        # histogram per component) made a 4 MB scrape that held the event loop for 0.85 s.
        self.checks = Counter("statusbot_checks", "Check runs.", ["component"], registry=r)
        self.failures = Counter(
            "statusbot_check_failures",
            "Check runs that were not up (degraded or down).",
            ["component"],
            registry=r,
        )
        self.latency = Histogram(
            "statusbot_probe_latency_seconds",
            "How long probes took to get an answer (all checks).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.component_latency = Gauge(
            "statusbot_component_latency_seconds",
            "How long the component's latest answered probe took.",
            ["component"],
            registry=r,
        )
        self.lateness = Histogram(
            "statusbot_schedule_lateness_seconds",
            "How long after its planned time a check run started.",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.missed = Counter("statusbot_runs_missed", "Runs the scheduler missed.", registry=r)
        self.late = Counter("statusbot_runs_late", "Runs started over 1 s late.", registry=r)
        self.skipped = Counter(
            "statusbot_runs_skipped", "Runs skipped: the previous one still ran.", registry=r
        )
        self._snapshot = _SnapshotCollector()
        r.register(self._snapshot)
        self._children: dict[str, tuple[Counter, Counter, Gauge]] = {}

    def observe_result(self, result: CheckResult) -> None:
        """Count one check result (call for every result, on the loop; O(1))."""
        component = result.component_id
        children = self._children.get(component)
        if children is None:
            children = (
                self.checks.labels(component),
                self.failures.labels(component),
                self.component_latency.labels(component),
            )
            self._children[component] = children
        children[0].inc()
        if result.state is not State.UP:
            children[1].inc()
        if result.latency is not None:
            self.latency.observe(result.latency)
            children[2].set(result.latency)

    def observe_lateness(self, seconds: float) -> None:
        """Record how late (seconds after its planned time) a scheduled run started."""
        self.lateness.observe(seconds)

    def count_missed(self, runs: int = 1) -> None:
        """Runs the scheduler missed."""
        self.missed.inc(runs)

    def count_late(self) -> None:
        """A run that started late (past the daemon's threshold)."""
        self.late.inc()

    def count_skipped(self, runs: int = 1) -> None:
        """Runs skipped because the previous one of the same check still ran."""
        self.skipped.inc(runs)

    def set_snapshot_source(self, fn: Callable[[], Snapshot] | None) -> None:
        """Read state from ``fn`` at every scrape. It is called synchronously on the thread that
        renders (the event loop, via ``handler``), so it must be cheap and never block: return
        cached store reads plus in-memory counters, do no database I/O in it."""
        self._snapshot.source = fn

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        return _generate_latest(self.registry), CONTENT_TYPE_LATEST

    async def handler(self, _request: web.Request) -> web.Response:
        """aiohttp handler for ``GET /metrics``."""
        body, content_type = self.render()
        return web.Response(body=body, headers={"Content-Type": content_type})
