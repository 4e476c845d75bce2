"""Metrics: exact samples after feeding results, lateness and a snapshot, read back with
prometheus_client's own parser, directly and over HTTP from the aiohttp handler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from statusbot.metrics import (
    DeliveryCounts,
    Metrics,
    OutboxDepth,
    Snapshot,
    snapshot_from,
)
from statusbot.model import CheckResult, DeliveryStatus, State
from statusbot.outbox import CourierStats
from statusbot.pipeline import Counters
from statusbot.store.stats import OutboxStats

AT = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, keyed by sample name and label set."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[name, frozenset(labels.items())]


def scrape(metrics: Metrics) -> Samples:
    body, _ = metrics.render()
    return samples(body.decode())


def result(check: str, component: str, state: State, latency: float | None) -> CheckResult:
    return CheckResult(check, component, AT, state, "", latency)


SNAPSHOT = Snapshot(
    component_states={"api": "down", "web": "up"},
    open_incidents=2,
    outbox={"mastodon": OutboxDepth(3, 1, 42.5), "x": OutboxDepth(0, 0, None)},
    deliveries={"mastodon": DeliveryCounts(7, 2, 1, 1), "x": DeliveryCounts(4, 0, 0, 0)},
    suppressed=5,
    held=6,
    store_errors=1,
)


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics()
    for r in (
        result("api-http", "api", State.UP, 0.05),
        result("api-http", "api", State.DOWN, 2.0),
        result("api-http", "api", State.DOWN, None),  # nothing answered: no latency sample
        result("api-dns", "api", State.DEGRADED, 0.003),
        result("web-http", "web", State.UP, 0.2),
    ):
        m.observe_result(r)
    for lateness in (0.02, 0.3, 4.0):
        m.observe_lateness(lateness)
    m.count_late()
    m.count_missed()
    m.count_missed()
    m.count_skipped()
    m.set_snapshot_source(lambda: SNAPSHOT)
    return m


def test_checks_failures_and_latency_are_counted_per_component(metrics):
    """Per component, not per check: a series per check (10,000 of them) made a 4 MB scrape."""
    found = scrape(metrics)
    assert value(found, "statusbot_checks_total", component="api") == 4
    assert value(found, "statusbot_checks_total", component="web") == 1
    fail = "statusbot_check_failures_total"
    assert value(found, fail, component="api") == 3  # degraded is a failure
    assert value(found, fail, component="web") == 0
    lat = "statusbot_probe_latency_seconds"
    assert value(found, f"{lat}_count") == 4  # one run answered nothing: no latency sample
    assert value(found, f"{lat}_sum") == pytest.approx(2.253)
    assert value(found, f"{lat}_bucket", le="0.005") == 1
    assert value(found, f"{lat}_bucket", le="0.1") == 2
    assert value(found, f"{lat}_bucket", le="+Inf") == 4
    last = "statusbot_component_latency_seconds"
    assert value(found, last, component="api") == pytest.approx(0.003)  # its latest answer
    assert value(found, last, component="web") == pytest.approx(0.2)
    assert not any(("check", "api-http") in labels for _name, labels in found)


def test_a_scrape_of_10000_checks_stays_small() -> None:
    m = Metrics()
    for n in range(10_000):
        m.observe_result(result(f"k{n}", f"c{n // 10}", State.UP, 0.002))
    body, _ = m.render()
    assert len(body) < 400_000  # 1,000 components; per-check series made it 4.2 MB


def test_scheduling_lateness_and_runs(metrics):
    found = scrape(metrics)
    assert value(found, "statusbot_schedule_lateness_seconds_count") == 3
    assert value(found, "statusbot_schedule_lateness_seconds_sum") == pytest.approx(4.32)
    assert value(found, "statusbot_schedule_lateness_seconds_bucket", le="1.0") == 2
    assert value(found, "statusbot_runs_late_total") == 1
    assert value(found, "statusbot_runs_missed_total") == 2
    assert value(found, "statusbot_runs_skipped_total") == 1


def test_snapshot_is_exposed_at_scrape_time(metrics):
    found = scrape(metrics)
    states = {
        (c, s): value(found, "statusbot_component_state", component=c, state=s)
        for c in ("api", "web")
        for s in ("up", "degraded", "down", "maintenance", "unknown")
    }
    assert {k for k, v in states.items() if v == 1} == {("api", "down"), ("web", "up")}
    assert sum(states.values()) == 2  # one-hot: every other state is present and 0
    assert value(found, "statusbot_open_incidents") == 2
    depth = "statusbot_outbox_depth"
    assert value(found, depth, channel="mastodon", status="pending") == 3
    assert value(found, depth, channel="mastodon", status="failed") == 1
    assert value(found, depth, channel="x", status="pending") == 0
    oldest = "statusbot_outbox_oldest_pending_seconds"
    assert value(found, oldest, channel="mastodon") == 42.5
    assert value(found, oldest, channel="x") == 0
    sent = {
        (ch, o): value(found, "statusbot_deliveries_total", channel=ch, outcome=o)
        for ch in ("mastodon", "x")
        for o in ("sent", "failed", "dropped", "duplicate")
    }
    assert sent[("mastodon", "sent")] == 7
    assert sent[("mastodon", "failed")] == 2
    assert sent[("mastodon", "dropped")] == 1
    assert sent[("mastodon", "duplicate")] == 1
    assert sent[("x", "sent")] == 4
    assert value(found, "statusbot_failures_suppressed_total") == 5
    assert value(found, "statusbot_outages_held_total") == 6
    assert value(found, "statusbot_store_errors_total") == 1
    assert value(found, "statusbot_metrics_snapshot_errors_total") == 0


def test_the_source_is_called_on_every_scrape():
    m = Metrics()
    calls: list[int] = []

    def source() -> Snapshot:
        calls.append(1)
        return Snapshot(open_incidents=len(calls))

    m.set_snapshot_source(source)
    assert value(scrape(m), "statusbot_open_incidents") == 1
    assert value(scrape(m), "statusbot_open_incidents") == 2


def test_without_or_with_a_failing_source_state_is_left_out_not_invented(caplog):
    m = Metrics()
    m.observe_result(result("a", "c", State.UP, 0.1))
    found = scrape(m)
    assert not any(name == "statusbot_open_incidents" for name, _ in found)

    def broken() -> Snapshot:
        raise RuntimeError("cache not ready")

    m.set_snapshot_source(broken)
    found = scrape(m)
    assert not any(name == "statusbot_open_incidents" for name, _ in found)
    assert value(found, "statusbot_metrics_snapshot_errors_total") == 1
    assert value(found, "statusbot_checks_total", component="c") == 1
    assert "snapshot source failed" in caplog.text


def test_snapshot_from_store_and_daemon_types():
    now = AT + timedelta(minutes=5)
    outbox = {
        "mastodon": OutboxStats(
            "mastodon",
            {
                DeliveryStatus.PENDING: 2,
                DeliveryStatus.SENDING: 1,
                DeliveryStatus.FAILED: 4,
                DeliveryStatus.SENT: 9,
            },
            AT,
        ),
        "x": OutboxStats("x", {DeliveryStatus.SENT: 3}, None),
    }
    couriers = [SimpleNamespace(name="mastodon", stats=CourierStats(9, 4, 1, 2))]
    snap = snapshot_from(
        states={"api": (State.MAINTENANCE, AT)},
        open_incidents=1,
        outbox=outbox,
        couriers=couriers,  # type: ignore[arg-type]
        counters=Counters(results=10, suppressed=3, held=2, store_errors=0),
        now=now,
    )
    assert snap == Snapshot(
        component_states={"api": "maintenance"},
        open_incidents=1,
        outbox={"mastodon": OutboxDepth(3, 4, 300.0), "x": OutboxDepth(0, 0, None)},
        deliveries={"mastodon": DeliveryCounts(9, 4, 1, 2)},
        suppressed=3,
        held=2,
        store_errors=0,
    )


async def test_served_over_http_by_the_handler(metrics):
    app = web.Application()
    app.router.add_get("/metrics", metrics.handler)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert response.charset == "utf-8"
        assert "version=" in response.headers["Content-Type"]
        found = samples(await response.text())
    assert value(found, "statusbot_checks_total", component="api") == 4
    assert value(found, "statusbot_outbox_depth", channel="mastodon", status="pending") == 3
    assert value(found, "statusbot_component_state", component="api", state="down") == 1


def test_instances_do_not_share_state():
    a, b = Metrics(), Metrics()
    a.observe_result(result("x", "c", State.DOWN, 1.0))
    a.count_missed()
    a.set_snapshot_source(lambda: SNAPSHOT)
    found_b = scrape(b)
    assert ("statusbot_checks_total", frozenset({("component", "c")})) not in found_b
    assert value(found_b, "statusbot_runs_missed_total") == 0
    assert not any(name == "statusbot_open_incidents" for name, _ in found_b)
    assert value(scrape(a), "statusbot_checks_total", component="c") == 1
    assert all(not name.startswith("statusbot_") for name in REGISTRY._names_to_collectors)
