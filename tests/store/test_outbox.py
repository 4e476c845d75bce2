"""The publisher's side of the outbox: due deliveries, thread order, outcomes, summary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statusbot.model import (
    DeliveryStatus,
    Impact,
    Incident,
    OpenIncident,
    ResolveIncident,
    UpdateIncident,
)
from statusbot.store import OutboxStats, Store, StoreError
from tests.store.conftest import CHANNELS, T0


def _open_incident(store: Store) -> Incident:
    with store.write(durable=True) as tx:
        inc = tx.apply(
            OpenIncident("Down", Impact.MAJOR, ("api",), "Down.", T0, True), ["mastodon"]
        )
    assert isinstance(inc, Incident)
    return inc


def _incident_with_updates(store: Store) -> Incident:
    with store.write(durable=True) as tx:
        inc = tx.apply(OpenIncident("Down", Impact.MAJOR, ("api",), "Down.", T0, True), CHANNELS)
        assert isinstance(inc, Incident)
        tx.apply(UpdateIncident(inc.id, T0 + timedelta(minutes=1), "Found it."), CHANNELS)
        tx.apply(ResolveIncident(inc.id, T0 + timedelta(minutes=2), "Fixed."), CHANNELS)
    return inc


def test_a_thread_leaves_in_order_and_replies_to_its_parent(store: Store) -> None:
    _incident_with_updates(store)
    now = T0 + timedelta(minutes=3)
    with store.write(durable=True) as tx:
        due = tx.due_deliveries(now, channel="mastodon")
        assert len(due) == 1  # the update waits for the opening post
        opening = tx.mark_sending(due[0].id, T0)
        assert (opening.status, opening.attempts) == (DeliveryStatus.SENDING, 1)
        assert tx.thread_parent(opening.id) is None
        assert tx.due_deliveries(now, channel="mastodon") == []  # still sending
        tx.mark_failed(opening.id, "HTTP 502", now + timedelta(minutes=1))
        assert tx.due_deliveries(now, channel="mastodon") == []  # retry not due yet
        [retry] = tx.due_deliveries(now + timedelta(minutes=1), channel="mastodon")
        assert retry.id == opening.id
        tx.mark_sending(retry.id, T0)
        sent = tx.mark_sent(retry.id, now, remote_id="111")
        assert (sent.status, sent.attempts, sent.remote_id, sent.error) == (
            DeliveryStatus.SENT,
            2,
            "111",
            None,
        )
        [update] = tx.due_deliveries(now, channel="mastodon")
        assert tx.thread_parent(update.id) == "111"
        tx.mark_sending(update.id, T0)
        tx.mark_sent(update.id, now, remote_id="222")
        [resolved] = tx.due_deliveries(now, channel="mastodon")
        assert tx.thread_parent(resolved.id) == "222"
        tx.mark_sending(resolved.id, T0)
        tx.mark_dropped(resolved.id, "422 too long")
        assert tx.due_deliveries(now, channel="mastodon") == []
        assert len(tx.due_deliveries(now, channel="x")) == 1  # other channel independent


def test_settling_checks_the_status(store: Store) -> None:
    _incident_with_updates(store)
    with store.write(durable=True) as tx:
        d = tx.deliveries()[0]
        tx.mark_sending(d.id, T0)
        tx.mark_sent(d.id, T0, "1")
    with (
        pytest.raises(StoreError, match=f"^delivery {d.id} is sent$"),
        store.write(durable=True) as tx,
    ):
        tx.mark_sending(d.id, T0)
    with pytest.raises(StoreError, match=r"^no delivery 999$"), store.write(durable=True) as tx:
        tx.mark_sent(999, T0)


def test_reset_and_retry(store: Store) -> None:
    _incident_with_updates(store)
    with store.write(durable=True) as tx:
        a, _b = tx.deliveries(channel="x")[:2]
        tx.mark_sending(a.id, T0)
        assert tx.reset_sending() == 1
        assert tx.deliveries(DeliveryStatus.PENDING, "x")[0].id == a.id
        tx.mark_sending(a.id, T0)
        tx.mark_dropped(a.id, "gone")
        assert tx.retry_deliveries(channel="mastodon") == 0
        assert tx.retry_deliveries() == 1
        assert tx.deliveries(DeliveryStatus.DROPPED) == []


def test_outbox_summary(store: Store) -> None:
    _incident_with_updates(store)
    with store.write(durable=True) as tx:
        first = tx.deliveries(channel="x")[0]
        tx.mark_sending(first.id, T0)
        tx.mark_sent(first.id, T0, "9")
    with store.read() as tx:
        summary = tx.outbox_summary()
    assert summary["mastodon"] == OutboxStats("mastodon", {DeliveryStatus.PENDING: 3}, T0)
    assert summary["x"] == OutboxStats(
        "x", {DeliveryStatus.PENDING: 2, DeliveryStatus.SENT: 1}, T0 + timedelta(minutes=1)
    )
    assert summary["x"].count(DeliveryStatus.FAILED) == 0


def test_events_since(store: Store) -> None:
    _incident_with_updates(store)
    with store.read() as tx:
        events = tx.events()
        assert [e.id for e in tx.events(since_id=events[0].id)] == [e.id for e in events[1:]]
        assert tx.event(events[1].id) == events[1]
        assert tx.event(12345) is None


def test_duplicate_channels_get_one_delivery(store: Store) -> None:
    with store.write(durable=True) as tx:
        tx.apply(
            OpenIncident("Down", Impact.MAJOR, ("api",), "Down.", T0, True), ["x", "x", "mastodon"]
        )
        assert sorted(d.channel for d in tx.deliveries()) == ["mastodon", "x"]


def test_first_attempt_time_is_kept_across_retries(store: Store) -> None:
    _open_incident(store)
    with store.write(durable=True) as tx:
        (d,) = tx.due_deliveries(T0, channel="mastodon")
        assert tx.mark_sending(d.id, T0).first_attempt_at == T0
        tx.mark_failed(d.id, "timeout", T0)
        later = T0 + timedelta(hours=2)
        assert tx.mark_sending(d.id, later).first_attempt_at == T0


def test_defer_and_ack_release_a_waiting_delivery(store: Store) -> None:
    inc = _open_incident(store)
    with store.write(durable=True) as tx:
        (d,) = tx.due_deliveries(T0, channel="mastodon")
        tx.defer(d.id, T0 + timedelta(minutes=10))
        assert tx.due_deliveries(T0 + timedelta(minutes=1), channel="mastodon") == []
        acked = tx.ack_incident(inc.id, T0 + timedelta(minutes=2))
        assert acked.acked_at == T0 + timedelta(minutes=2)
        assert [x.id for x in tx.due_deliveries(T0 + timedelta(minutes=2), "mastodon")] == [d.id]


def test_event_position_counts_the_thread(store: Store) -> None:
    inc = _open_incident(store)
    with store.write(durable=True) as tx:
        tx.apply(UpdateIncident(inc.id, T0, "More."), ["mastodon"])
        events = tx.events()
        assert [tx.event_position(e.id) for e in events] == [1, 2]


def test_channels_can_be_chosen_per_event(store: Store) -> None:
    def route(payload) -> list[str]:
        return ["x"] if payload["kind"] == "incident.resolved" else ["mastodon", "x"]

    with store.write(durable=True) as tx:
        inc = tx.apply(OpenIncident("t", Impact.MAJOR, ("api",), "m", T0, True), route)
        tx.apply(ResolveIncident(inc.id, T0, "done"), route)
        by_event = {(d.event_id, d.channel) for d in tx.deliveries()}
    assert len(by_event) == 3
