"""Delivering the outbox: one courier per channel, posts in thread order, nothing twice.

Each delivery is claimed (``sending``, attempt counted, durable) before the network call and
settled after it, so a crash at any instant leaves a row that the next start retries with the
same idempotency key (Mastodon answers the original post; X refuses the duplicate, which counts
as sent). What a failure means is the publisher's to say (``Failure``); what to do about it is
decided here:

======================  =================================================================
TRANSIENT, AMBIGUOUS    retry with exponential backoff and jitter (same idempotency key)
RATE_LIMITED            retry at the channel's reset time; the whole channel waits
TOO_LONG                refit to the limit the channel told us, retry once at once
PARENT_GONE             the post we reply to was deleted: post as a new thread (the text
                        carries the incident link), retry once at once
DUPLICATE               already posted: sent, id unknown (the next update replies further up)
AUTH, REJECTED          stop this delivery (``dropped``, error kept); AUTH also pauses the
                        channel — ``statusbot outbox retry`` after fixing the token
======================  =================================================================

A slow or dead channel only delays its own courier: probes and other channels go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from statusbot.model import Clock, Delivery, Event, EventKind
from statusbot.publishers.base import (
    ChannelBase,
    Failure,
    Limit,
    Message,
    PostRef,
    Publisher,
    PublishError,
)
from statusbot.store import Tx

log = logging.getLogger("statusbot.outbox")
T = TypeVar("T")

POLL = 1.0  # seconds between looks at the outbox when nothing woke the courier
BACKOFF_FIRST = 5.0  # seconds before the second attempt; doubles each time
BACKOFF_MAX = 900.0  # the longest wait between two attempts
RATE_LIMIT_FALLBACK = 60.0  # when a 429 carries no usable reset time
AUTH_PAUSE = 300.0  # a channel whose credentials were refused rests this long


class Writer(Protocol):
    """Runs ``fn(tx)`` in a durable write transaction on the single writer thread."""

    def __call__(self, fn: Callable[[Tx], T]) -> Awaitable[T]: ...


class Render(Protocol):
    """Renders a delivery's text for a channel, fitted to ``limit``."""

    def __call__(self, kind: str, event: Event, position: int, limit: Limit) -> str: ...


@dataclass
class CourierStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    duplicates: int = 0


def backoff(attempts: int, rng: random.Random) -> float:
    """Seconds before the next attempt after ``attempts`` tries: exponential, full jitter."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1))
    return rng.uniform(ceiling / 2, ceiling)


class Courier:
    """Delivers one channel's outbox, one post at a time."""

    def __init__(
        self,
        name: str,
        publisher: Publisher,
        *,
        settings: ChannelBase,
        write: Writer,
        render: Render,
        clock: Clock,
        link: Callable[[Event], str | None] = lambda _e: None,
        dry_run: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.publisher = publisher
        self.settings = settings
        self.write = write
        self.render = render
        self.clock = clock
        self.link = link
        self.dry_run = dry_run
        self.stats = CourierStats()
        self.wake = asyncio.Event()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._paused_until: datetime | None = None
        self._shown: set[int] = set()  # dry run: deliveries already logged
        self.busy = False  # a delivery is in flight (for a bounded shutdown)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a failing round is logged and retried."""
        while not stop.is_set():
            try:
                progressed = await self.round()
            except Exception:
                log.exception("%s: delivery round failed", self.name)
                progressed = False
            if progressed:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL):
                    await _first(self.wake.wait(), stop.wait())

    async def round(self) -> bool:
        """Deliver what is due now; returns whether anything was attempted."""
        now = self.clock()
        if self._paused_until and now < self._paused_until:
            return False
        due = await self.write(lambda tx: tx.due_deliveries(now, channel=self.name, limit=20))
        attempted = False
        for delivery in due:
            if self._paused_until and self.clock() < self._paused_until:
                break
            attempted |= await self.deliver(delivery)
        return attempted

    async def deliver(self, d: Delivery) -> bool:
        """One delivery: wait for an ack if needed, claim, render, publish, settle."""
        now = self.clock()
        event, waits_until = await self.write(
            lambda tx: (tx.event(d.event_id), _ack_wait(tx, d, self.settings))
        )
        if event is None:
            return False
        if waits_until is not None and now < waits_until:
            await self.write(lambda tx: tx.defer(d.id, waits_until))
            log.info(
                "%s: delivery %d waits for `statusbot incident ack` (or %s)",
                self.name,
                d.id,
                waits_until.strftime("%H:%M:%S UTC"),
            )
            return False
        if self.dry_run:
            return self._show(d, event)
        claimed = await self.write(lambda tx: tx.mark_sending(d.id, now))
        event, parent, position = await self.write(
            lambda tx: (tx.event(d.event_id), tx.thread_parent(d.id), tx.event_position(d.event_id))
        )
        assert event is not None
        self.busy = True
        try:
            await self._publish(claimed, event, parent, position)
        finally:
            self.busy = False
        return True

    async def _publish(self, d: Delivery, event: Event, parent: str | None, position: int) -> None:
        try:
            limit = await self.publisher.limit()
            text = self.render(self.publisher.kind, event, position, limit)
        except PublishError as exc:
            await self._failed(d, exc)
            return
        msg = Message(d.id, text, f"statusbot:{d.id}", event, self.link(event), d.first_attempt_at)
        reply_to = PostRef(parent) if parent else None
        refitted = False
        while True:
            try:
                ref = await self.publisher.publish(msg, reply_to)
            except PublishError as exc:
                if exc.failure is Failure.TOO_LONG and not refitted:
                    refitted = True
                    smaller = Limit(exc.limit or int(limit.max * 0.9), limit.count)
                    msg = replace(
                        msg, text=self.render(self.publisher.kind, event, position, smaller)
                    )
                    log.warning(
                        "%s: delivery %d too long; refitted to %d", self.name, d.id, smaller.max
                    )
                    continue
                if exc.failure is Failure.PARENT_GONE and reply_to is not None:
                    log.warning(
                        "%s: the post delivery %d replies to is gone; starting a new thread",
                        self.name,
                        d.id,
                    )
                    reply_to = None
                    continue
                await self._failed(d, exc)
                return
            await self._settle_sent(d.id, ref.id)
            self.stats.sent += 1
            log.info(
                "%s: posted delivery %d (%s)%s",
                self.name,
                d.id,
                event.kind,
                f" as a reply to {reply_to.id}" if reply_to else "",
            )
            return

    async def _settle_sent(self, delivery_id: int, remote_id: str | None) -> None:
        at = self.clock()
        await self.write(lambda tx: tx.mark_sent(delivery_id, at, remote_id))

    async def _failed(self, d: Delivery, exc: PublishError) -> None:
        now = self.clock()
        error = f"{exc.failure}: {exc}"
        if exc.failure is Failure.DUPLICATE:
            await self._settle_sent(d.id, None)
            self.stats.duplicates += 1
            log.info("%s: delivery %d was already posted (duplicate refused)", self.name, d.id)
            return
        if exc.permanent:
            await self.write(lambda tx: tx.mark_dropped(d.id, error))
            self.stats.dropped += 1
            log.error(
                "%s: delivery %d stopped: %s (statusbot outbox retry %d)",
                self.name,
                d.id,
                exc,
                d.id,
            )
            if exc.failure is Failure.AUTH:
                self._paused_until = now + timedelta(seconds=AUTH_PAUSE)
            return
        if exc.failure is Failure.RATE_LIMITED:
            retry_at = exc.retry_at if exc.retry_at and exc.retry_at > now else None
            retry_at = retry_at or now + timedelta(seconds=RATE_LIMIT_FALLBACK)
            self._paused_until = retry_at
        else:
            retry_at = now + timedelta(seconds=backoff(d.attempts, self._rng))
        await self.write(lambda tx: tx.mark_failed(d.id, error, retry_at))
        self.stats.failed += 1
        log.warning(
            "%s: delivery %d failed (%s); next try %s",
            self.name,
            d.id,
            exc,
            retry_at.strftime("%H:%M:%S UTC"),
        )

    def _show(self, d: Delivery, event: Event) -> bool:
        if d.id in self._shown:
            return False
        self._shown.add(d.id)
        text = self.render(self.publisher.kind, event, 1, Limit(10**9, len))
        log.info("%s: dry run, would post delivery %d (%s):\n%s", self.name, d.id, event.kind, text)
        return False


def _ack_wait(tx: Tx, d: Delivery, settings: ChannelBase) -> datetime | None:
    """Until when the first post of an unacknowledged automatic incident waits, or None."""
    if not settings.require_ack:
        return None
    event = tx.event(d.event_id)
    if event is None or event.kind is not EventKind.INCIDENT_OPENED or event.incident_id is None:
        return None
    incident = tx.incident(event.incident_id)
    if incident is None or not incident.auto or incident.acked_at is not None:
        return None
    return event.at + settings.ack_timeout


async def _first(*waits: Awaitable[Any]) -> None:
    """Return when the first of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
