"""The courier against a real SQLite outbox, with a scripted stand-in for the remote service.

The stand-in plays a channel's answers (posted, failures of each kind) so each rule of the
courier is pinned; the real Mastodon and X publishers are exercised in tests/publishers and
tests/e2e against loopback servers.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, TypeVar

import pytest

from statusbot.model import (
    DeliveryStatus,
    Event,
    EventKind,
    Impact,
    Incident,
    OpenIncident,
    ResolveIncident,
    UpdateIncident,
)
from statusbot.outbox import Courier, backoff, fallback_text
from statusbot.publishers.base import (
    ChannelBase,
    Failure,
    Limit,
    Message,
    PostRef,
    PublishError,
)
from statusbot.publishers.mastodon import MastodonChannel, MastodonPublisher
from statusbot.store import Store, Tx
from tests.conftest import FakeClock
from tests.support.mastodon_server import MastodonServer

T = TypeVar("T")
T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


@dataclass
class ScriptedChannel:
    """Answers publish() from a script of failures, then posts; records what was posted."""

    kind: ClassVar[str] = "console"
    settings: ChannelBase = field(default_factory=ChannelBase)
    script: list[PublishError] = field(default_factory=list)
    posts: list[tuple[str, str | None, str]] = field(default_factory=list)  # (id, reply_to, text)
    keys: list[str] = field(default_factory=list)
    max: int = 500
    down: Callable[[], bool] = lambda: False  # while true, every publish fails (dead channel)

    async def limit(self) -> Limit:
        return Limit(self.max, len)

    async def publish(self, msg: Message, reply_to: PostRef | None) -> PostRef:
        self.keys.append(msg.idempotency_key)
        if self.down():
            raise PublishError("connection refused", Failure.TRANSIENT)
        if self.script:
            raise self.script.pop(0)
        if len(msg.text) > self.max:
            raise PublishError("too long", Failure.TOO_LONG, limit=self.max)
        post_id = str(100 + len(self.posts))
        self.posts.append((post_id, reply_to.id if reply_to else None, msg.text))
        return PostRef(post_id)

    async def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path}/statusbot.db")
    yield s
    s.close()


def render(_kind: str, event: Event, position: int, limit: Limit) -> str:
    text = f"#{position} {event.kind}: {event.payload['message']}"
    return text if len(text) <= limit.max else text[: limit.max - 1] + "…"


def courier(store: Store, channel: ScriptedChannel, clock: FakeClock, **kw) -> Courier:
    async def write(fn: Callable[[Tx], T]) -> T:
        with store.write(durable=True) as tx:
            return fn(tx)

    return Courier(
        "console",
        channel,
        settings=channel.settings,
        write=write,
        render=render,
        clock=clock,
        rng=random.Random(1),
        **kw,
    )


def incident(store: Store, updates: int = 0, resolve: bool = False) -> Incident:
    with store.write(durable=True) as tx:
        inc = tx.apply(
            OpenIncident("API outage", Impact.MAJOR, ("api",), "Down.", T0, True), ["console"]
        )
        assert isinstance(inc, Incident)
        for n in range(updates):
            tx.apply(
                UpdateIncident(inc.id, T0 + timedelta(minutes=n + 1), f"Update {n}."), ["console"]
            )
        if resolve:
            tx.apply(ResolveIncident(inc.id, T0 + timedelta(minutes=9), "Fixed."), ["console"])
    return inc


def statuses(store: Store) -> list[DeliveryStatus]:
    with store.read() as tx:
        return [d.status for d in tx.deliveries()]


async def drain(c: Courier, clock: FakeClock, rounds: int = 20, step: float = 1000) -> None:
    """Run rounds, moving the clock past any backoff in between (no sleeping)."""
    for _ in range(rounds):
        await c.round()
        clock.advance(step)


async def test_a_thread_is_posted_in_order_each_post_replying_to_the_previous(store) -> None:
    channel, clock = ScriptedChannel(), FakeClock(T0)
    incident(store, updates=2, resolve=True)
    await drain(courier(store, channel, clock), clock, rounds=6)
    assert [(p[1], p[2].split(":")[0]) for p in channel.posts] == [
        (None, "#1 incident.opened"),
        ("100", "#2 incident.updated"),
        ("101", "#3 incident.updated"),
        ("102", "#4 incident.resolved"),
    ]
    assert statuses(store) == [DeliveryStatus.SENT] * 4


async def test_transient_failures_retry_with_the_same_key_and_keep_the_order(store) -> None:
    errors = [PublishError("503", Failure.TRANSIENT), PublishError("timeout", Failure.AMBIGUOUS)]
    channel, clock = ScriptedChannel(script=errors), FakeClock(T0)
    incident(store, updates=1)
    c = courier(store, channel, clock)
    await c.round()
    await c.round()  # backing off: nothing happens at the same instant
    with store.read() as tx:
        first = tx.deliveries()[0].idempotency_key
    assert channel.keys == [first]
    await drain(c, clock)
    with store.read() as tx:
        stored = [d.idempotency_key for d in tx.deliveries()]
    assert channel.keys == [stored[0], stored[0], stored[0], stored[1]]
    assert stored[0] == first
    assert stored[0] != stored[1]
    assert [p[1] for p in channel.posts] == [None, "100"]


async def test_a_rate_limited_channel_waits_until_its_reset(store) -> None:
    reset = T0 + timedelta(minutes=7)
    channel = ScriptedChannel(script=[PublishError("429", Failure.RATE_LIMITED, retry_at=reset)])
    clock = FakeClock(T0)
    incident(store)
    c = courier(store, channel, clock)
    await c.round()
    clock.advance(6 * 60)
    await c.round()
    assert channel.posts == []
    clock.advance(61)
    await c.round()
    assert len(channel.posts) == 1


async def test_too_long_is_refitted_to_the_limit_the_channel_gave(store) -> None:
    channel = ScriptedChannel(max=20)
    clock = FakeClock(T0)
    incident(store)
    c = courier(store, channel, clock)
    await c.round()
    assert len(channel.posts[0][2]) <= 20


async def test_a_deleted_parent_starts_a_new_thread(store) -> None:
    channel, clock = ScriptedChannel(), FakeClock(T0)
    incident(store, updates=1)
    c = courier(store, channel, clock)
    await c.round()
    channel.script = [PublishError("404", Failure.PARENT_GONE)]
    await drain(c, clock, rounds=2)
    assert [p[1] for p in channel.posts] == [None, None]
    assert statuses(store) == [DeliveryStatus.SENT] * 2


async def test_a_duplicate_refusal_counts_as_sent(store) -> None:
    channel = ScriptedChannel(script=[PublishError("duplicate", Failure.DUPLICATE)])
    clock = FakeClock(T0)
    incident(store, updates=1)
    await drain(courier(store, channel, clock), clock, rounds=3)
    with store.read() as tx:
        first, second = tx.deliveries()
    assert (first.status, first.remote_id) == (DeliveryStatus.SENT, None)
    assert second.status is DeliveryStatus.SENT
    assert channel.posts[0][1] is None  # nothing known to reply to


async def test_permanent_errors_stop_the_delivery_with_the_error_kept(store) -> None:
    channel = ScriptedChannel(script=[PublishError("HTTP 403: forbidden", Failure.REJECTED)])
    clock = FakeClock(T0)
    incident(store)
    await courier(store, channel, clock).round()
    with store.read() as tx:
        (d,) = tx.deliveries()
    assert d.status is DeliveryStatus.DROPPED
    assert d.error == "rejected: HTTP 403: forbidden"


async def test_require_ack_holds_the_first_post_until_acked(store) -> None:
    settings = ChannelBase(require_ack=True, ack_timeout=timedelta(minutes=10))
    channel, clock = ScriptedChannel(settings=settings), FakeClock(T0)
    inc = incident(store)
    c = courier(store, channel, clock)
    await c.round()
    clock.advance(60)
    await c.round()
    assert channel.posts == []
    with store.write(durable=True) as tx:
        tx.ack_incident(inc.id, clock())
    await c.round()
    assert len(channel.posts) == 1


async def test_require_ack_posts_anyway_after_the_timeout(store) -> None:
    settings = ChannelBase(require_ack=True, ack_timeout=timedelta(minutes=10))
    channel, clock = ScriptedChannel(settings=settings), FakeClock(T0)
    incident(store)
    c = courier(store, channel, clock)
    await c.round()
    clock.advance(9 * 60)
    await c.round()
    assert channel.posts == []
    clock.advance(61)
    await c.round()
    assert len(channel.posts) == 1


async def test_dry_run_renders_but_neither_sends_nor_changes_the_outbox(store, caplog) -> None:
    channel, clock = ScriptedChannel(), FakeClock(T0)
    incident(store)
    c = courier(store, channel, clock, dry_run=True)
    with caplog.at_level("INFO"):
        await c.round()
        await c.round()
    assert channel.posts == []
    assert statuses(store) == [DeliveryStatus.PENDING]
    assert caplog.text.count("dry run, would post delivery 1") == 1


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(7)
    waits = [backoff(n, rng) for n in range(1, 12)]
    assert 2.5 <= waits[0] <= 5
    assert all(w <= 900 for w in waits)
    assert waits[8] >= 450


async def test_run_stops_when_told(store) -> None:
    channel, clock = ScriptedChannel(), FakeClock(T0)
    stop = asyncio.Event()
    c = courier(store, channel, clock)
    task = asyncio.create_task(c.run(stop))
    incident(store)
    c.wake.set()
    for _ in range(100):
        if channel.posts:
            break
        await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(channel.posts) == 1


async def test_a_channel_dead_for_two_simulated_hours_then_back_delivers_all_in_order(
    store,
) -> None:
    clock = FakeClock(T0)
    back = T0 + timedelta(hours=2)
    channel = ScriptedChannel(down=lambda: clock() < back)
    incident(store, updates=3, resolve=True)
    c = courier(store, channel, clock)
    while len(channel.posts) < 5 and clock() - T0 < timedelta(hours=6):
        await c.round()
        clock.advance(60)
    assert len(channel.keys) > 8, "it kept trying while the channel was down"
    assert clock() - back < timedelta(minutes=20), "back soon after the channel was"
    assert [p[1] for p in channel.posts] == [None, "100", "101", "102", "103"]
    assert [p[2].split(":")[0] for p in channel.posts] == [
        "#1 incident.opened",
        "#2 incident.updated",
        "#3 incident.updated",
        "#4 incident.updated",
        "#5 incident.resolved",
    ]
    with store.read() as tx:
        key = {d.id: d.idempotency_key for d in tx.deliveries()}
    retries = channel.keys[: channel.keys.index(key[2])]
    assert set(retries) == {key[1]}, "the same key on every retry"


async def test_a_429_storm_is_waited_out_without_losing_the_order(store) -> None:
    channel, clock = ScriptedChannel(), FakeClock(T0)
    channel.script = [
        PublishError("429", Failure.RATE_LIMITED, retry_at=T0 + timedelta(minutes=n + 1))
        for n in range(10)
    ]
    incident(store, updates=1, resolve=True)
    c = courier(store, channel, clock)
    for _ in range(40):
        await c.round()
        clock.advance(30)
    assert [p[1] for p in channel.posts] == [None, "100", "101"]
    assert c.stats.failed == 10


async def test_a_failing_template_sends_a_plain_fallback_and_never_sticks(store) -> None:
    def broken(_kind: str, _event: Event, _position: int, _limit: Limit) -> str:
        raise ValueError("template too long for 280 even without the message")

    channel, clock = ScriptedChannel(), FakeClock(T0)
    incident(store, updates=1)
    c = courier(store, channel, clock)
    c.render = broken
    await drain(c, clock, rounds=3)
    assert [p[2] for p in channel.posts] == [
        "API outage (investigating): Down.",
        "API outage (investigating): Update 0.",
    ]
    assert statuses(store) == [DeliveryStatus.SENT, DeliveryStatus.SENT]


async def test_an_unexpected_error_after_the_claim_is_recorded_not_left_sending(store) -> None:
    class Exploding(ScriptedChannel):
        async def publish(self, msg: Message, reply_to: PostRef | None) -> PostRef:
            raise RuntimeError("library bug")

    channel, clock = Exploding(), FakeClock(T0)
    incident(store)
    await courier(store, channel, clock).round()
    with store.read() as tx:
        (d,) = tx.deliveries()
    assert d.status is DeliveryStatus.FAILED
    assert d.error == "internal: RuntimeError: library bug"


async def test_too_long_after_the_refit_stops_the_delivery(store) -> None:
    channel = ScriptedChannel(script=[PublishError("long", Failure.TOO_LONG, limit=400)] * 2)
    clock = FakeClock(T0)
    incident(store)
    await drain(courier(store, channel, clock), clock, rounds=3)
    assert len(channel.keys) == 2, "one refit, then no endless retries"
    assert statuses(store) == [DeliveryStatus.DROPPED]


async def test_a_retry_sends_exactly_the_text_of_the_first_attempt(store) -> None:
    channel = ScriptedChannel(script=[PublishError("timeout", Failure.AMBIGUOUS)])
    clock = FakeClock(T0)
    incident(store)
    texts: list[str] = []

    def numbered(kind: str, event: Event, position: int, limit: Limit) -> str:
        texts.append(f"rendered {len(texts) + 1}")
        return texts[-1]

    c = courier(store, channel, clock)
    c.render = numbered
    await drain(c, clock, rounds=3)
    assert [p[2] for p in channel.posts] == ["rendered 1"]
    assert texts == ["rendered 1"], "rendered once; the retry reused the stored text"


async def test_require_ack_drops_an_incident_resolved_before_anyone_acked(store) -> None:
    settings = ChannelBase(require_ack=True, ack_timeout=timedelta(minutes=10))
    channel, clock = ScriptedChannel(settings=settings), FakeClock(T0)
    incident(store, updates=1, resolve=True)
    c = courier(store, channel, clock)
    await drain(c, clock, rounds=3, step=600)
    assert channel.posts == []
    assert statuses(store) == [DeliveryStatus.DROPPED] * 3


async def test_dry_run_shows_every_pending_post_and_writes_nothing(store, caplog) -> None:
    settings = ChannelBase(require_ack=True)
    channel, clock = ScriptedChannel(settings=settings), FakeClock(T0)
    incident(store, updates=2)
    with store.read() as tx:
        before = tx.deliveries()
    c = courier(store, channel, clock, dry_run=True)
    with caplog.at_level("INFO"):
        await c.round()
    with store.read() as tx:
        assert tx.deliveries() == before
    for n in (1, 2, 3):
        assert f"dry run, would post delivery {n}" in caplog.text


async def test_a_folded_reminder_carries_its_own_time(store) -> None:
    inc = incident(store)
    later = T0 + timedelta(hours=1)
    with store.write(durable=True) as tx:
        for at in (T0 + timedelta(minutes=30), later):
            tx.apply(
                UpdateIncident(
                    inc.id,
                    at,
                    f"still at {at:%H:%M}",
                    kind=EventKind.INCIDENT_REMINDER,
                    auto=True,
                    fold_into=EventKind.INCIDENT_REMINDER,
                ),
                ["console"],
            )
        events = tx.events()
    assert [e.kind for e in events] == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_REMINDER]
    assert events[1].at == later
    assert events[1].payload["message"] == "still at 08:00"


async def test_two_databases_posting_to_one_account_never_share_an_idempotency_key(
    tmp_path: Path,
) -> None:
    """A reinstall, a staging copy or a restored backup numbers its deliveries from the same
    start. Mastodon keeps keys for an hour and answers a known key with the old post, so with
    keys made from delivery ids the second database's post would silently be the first's.
    Here the second database is a copy of the first (as a staging copy is)."""
    clock = FakeClock(T0)
    server = MastodonServer(clock, "tok")
    _, stop = server.start_in_thread()
    Store.open(f"sqlite:///{tmp_path}/old.db").close()
    shutil.copyfile(tmp_path / "old.db", tmp_path / "new.db")
    try:
        for name in ("old", "new"):
            with Store.open(f"sqlite:///{tmp_path}/{name}.db") as store:
                incident(store)
                settings = MastodonChannel.model_validate(
                    {"api_base_url": server.base_url, "access_token": "tok", "timeout": "2s"}
                )
                publisher = MastodonPublisher(settings, clock)
                try:
                    c = courier(store, publisher, clock)  # type: ignore[arg-type]
                    await drain(c, clock, rounds=3, step=1)  # well within the server's hour
                finally:
                    await publisher.close()
                assert statuses(store) == [DeliveryStatus.SENT]
    finally:
        stop()
    posted = server.statuses
    assert len(posted) == 2
    assert len({p.id for p in posted}) == 2, "the second database's post was really made"
    assert len({p.idempotency_key for p in posted}) == 2


def test_the_fallback_text_names_the_incident_or_the_maintenance_window() -> None:
    """When no template fits, the plain text still says what it is about."""
    limit = Limit(500, len)
    window = Event(
        9,
        EventKind.MAINTENANCE_STARTED,
        T0,
        None,
        4,
        {
            "kind": "maintenance.started",
            "message": "The database is being upgraded.",
            "phase": None,
            "incident": None,
            "maintenance": {"id": 4, "title": "Database upgrade", "status": "in_progress"},
        },
    )
    assert fallback_text(window, limit) == (
        "Database upgrade (in_progress): The database is being upgraded."
    )
    outage = replace(
        window,
        kind=EventKind.INCIDENT_UPDATED,
        payload={
            "message": "Still down.",
            "phase": "identified",
            "incident": {"title": "API outage"},
            "maintenance": None,
        },
    )
    assert fallback_text(outage, limit) == "API outage (identified): Still down."
    assert fallback_text(outage, Limit(20, len)).endswith("…")
    assert len(fallback_text(outage, Limit(20, len))) <= 20
