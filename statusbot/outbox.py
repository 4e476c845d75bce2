"""Delivering the outbox: one courier per channel, posts in thread order, nothing twice.

Each delivery is claimed (``sending``, attempt counted, durable) before the network call and
settled after it, so a crash at any instant leaves a row that the next start retries with the
same idempotency key (Mastodon answers the original post; X refuses the duplicate, and the post
it repeats is read back). What a failure means is the publisher's to say (``Failure``); what to
do about it is decided here:

======================  =================================================================
TRANSIENT, AMBIGUOUS    retry with exponential backoff and jitter (same idempotency key)
RATE_LIMITED            retry at the channel's reset time; the whole channel waits
TOO_LONG                refit to the limit the channel told us, retry once at once
PARENT_GONE             the post we reply to was deleted: post as a new thread (the text
                        carries the incident link), retry once at once
DUPLICATE               already posted, and the channel could not say which post: sent, id
                        unknown (the next update replies further up)
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
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from statusbot.model import Clock, Delivery, DeliveryStatus, Event, EventKind
from statusbot.publishers.base import (
    ChannelBase,
    Failure,
    Limit,
    Message,
    PostRef,
    Publisher,
    PublishError,
)
from statusbot.render import clean
from statusbot.store import Tx
from statusbot.store.errors import WriteFailures

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


def new_idempotency_key() -> str:
    """A delivery's key, made at its first attempt and stored with it (every retry sends it
    again). Random, so that no other database (a reinstall, a staging copy, a restored backup,
    all numbering deliveries from the same start) ever sends it while the server remembers it
    (Mastodon: an hour) and gets this delivery's post back instead of making its own."""
    return f"statusbot:{secrets.token_hex(12)}"


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
        read: Writer | None = None,
        link: Callable[[Event], str | None] = lambda _e: None,
        dry_run: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.publisher = publisher
        self.settings = settings
        self.write = write
        self.read = read or write
        self.render = render
        self.clock = clock
        self.link = link
        self.dry_run = dry_run
        self.stats = CourierStats()
        self.wake = asyncio.Event()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._paused_until: datetime | None = None
        self._shown: set[int] = set()  # dry run: deliveries already logged
        self._unsettled: dict[int, tuple[str, datetime]] = {}  # claimed, failure not yet written
        self._stop = asyncio.Event()
        self._write_failures = WriteFailures(log)  # a store error: one line, not a traceback

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a failing round is logged and retried."""
        self._stop = stop
        while not stop.is_set():
            try:
                progressed = await self.round()
            except Exception as exc:
                self._write_failures.failed(f"{self.name}: delivery round failed", exc)
                progressed = False
            if progressed:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL):
                    await first_of(self.wake.wait(), stop.wait())

    async def round(self) -> bool:
        """Deliver what is due now; returns whether anything was attempted."""
        now = self.clock()
        if self.dry_run:
            await self._preview()
            return False
        await self._settle_leftovers()
        if self._paused_until and now < self._paused_until:
            return False
        due = await self.read(lambda tx: tx.due_deliveries(now, channel=self.name, limit=20))
        attempted = False
        for delivery in due:
            if self._stop.is_set() or (self._paused_until and self.clock() < self._paused_until):
                break
            attempted |= await self.deliver(delivery)
        return attempted

    async def deliver(self, d: Delivery) -> bool:
        """One delivery: wait for an ack if needed, claim, render, publish, settle."""
        now = self.clock()
        waiting = await self.read(lambda tx: _ack_wait(tx, d, self.settings))
        if waiting is not None:
            until, resolved = waiting
            if resolved:
                dropped = await self.write(
                    lambda tx: tx.drop_thread(
                        resolved, self.name, "resolved before anyone acknowledged it (require_ack)"
                    )
                )
                log.info(
                    "%s: incident #%d ended unacknowledged; %d posts not sent",
                    self.name,
                    resolved,
                    dropped,
                )
                return True
            if now < until:
                await self.write(lambda tx: tx.defer(d.id, until))
                log.info(
                    "%s: delivery %d waits for `statusbot incident ack` (or %s)",
                    self.name,
                    d.id,
                    until.strftime("%H:%M:%S UTC"),
                )
                return False
        claimed = await self.write(lambda tx: tx.mark_sending(d.id, now))
        try:
            await self._send(claimed)
        except Exception as exc:  # a bug or a store error after the claim: never stay "sending"
            what = f"{self.name}: delivery {d.id} failed (retried with the same idempotency key)"
            self._write_failures.failed(what, exc)
            retry_at = self.clock() + timedelta(seconds=backoff(claimed.attempts, self._rng))
            self._unsettled[d.id] = (f"internal: {type(exc).__name__}: {exc}"[:300], retry_at)
            await self._settle_leftovers()
        return True

    async def _send(self, d: Delivery) -> None:
        event, parent, position = await self.read(
            lambda tx: (tx.event(d.event_id), tx.thread_parent(d.id), tx.event_position(d.event_id))
        )
        if event is None:
            raise LookupError(f"event {d.event_id} of delivery {d.id} is gone")
        try:
            limit = await self.publisher.limit()
        except PublishError as exc:
            await self._failed(d, exc)
            return
        text, key = d.text, d.idempotency_key  # a retry sends exactly what the first one sent
        if text is None or key is None:
            key = key or new_idempotency_key()
            text = await self._remember(
                d.id, text if text is not None else self._text(event, position, limit), key
            )
        msg = Message(d.id, text, key, event, self.link(event), d.first_attempt_at)
        reply_to = PostRef(parent) if parent else None
        refitted = False
        while True:
            try:
                ref = await self.publisher.publish(msg, reply_to)
            except PublishError as exc:
                if exc.failure is Failure.TOO_LONG and not refitted:
                    refitted = True
                    smaller = Limit(exc.limit or int(limit.max * 0.9), limit.count)
                    text = await self._remember(d.id, self._text(event, position, smaller))
                    msg = replace(msg, text=text)
                    log.warning(
                        "%s: delivery %d too long; refitted to %d", self.name, d.id, smaller.max
                    )
                    continue
                if exc.failure is Failure.TOO_LONG:  # refused again after the refit: give up
                    exc = PublishError(str(exc), Failure.REJECTED)
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

    def _text(self, event: Event, position: int, limit: Limit) -> str:
        """The rendered text; if the template fails, a plain fallback rather than nothing."""
        try:
            return self.render(self.publisher.kind, event, position, limit)
        except Exception as exc:
            log.error(
                "%s: template for %s failed (%s); sending a plain text instead",
                self.name,
                event.kind,
                exc,
            )
            return fallback_text(event, limit)

    async def _remember(self, delivery_id: int, text: str, key: str | None = None) -> str:
        await self.write(lambda tx: tx.set_text(delivery_id, text, key))
        return text

    async def _settle_sent(self, delivery_id: int, remote_id: str | None) -> None:
        at = self.clock()
        await self.write(lambda tx: tx.mark_sent(delivery_id, at, remote_id))

    async def _settle_leftovers(self) -> None:
        """Write failures that could not be written when they happened (the store was busy)."""
        for delivery_id, (error, retry_at) in list(self._unsettled.items()):
            try:
                await self.write(
                    lambda tx, i=delivery_id, e=error, r=retry_at: (  # type: ignore[misc]
                        tx.mark_failed(i, e, r)
                    )
                )
            except Exception as exc:
                what = f"{self.name}: could not record delivery {delivery_id}'s failure yet"
                self._write_failures.failed(what, exc)
                return
            del self._unsettled[delivery_id]

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

    async def _preview(self) -> None:
        """Dry run: log each pending delivery's text once; write nothing."""
        pending = await self.read(
            lambda tx: [
                (d, tx.event(d.event_id), tx.event_position(d.event_id))
                for d in tx.deliveries(DeliveryStatus.PENDING, self.name)
            ]
        )
        for d, event, position in pending:
            if d.id in self._shown or event is None:
                continue
            self._shown.add(d.id)
            text = self._text(event, position, Limit(10**9, len))
            log.info(
                "%s: dry run, would post delivery %d (%s):\n%s", self.name, d.id, event.kind, text
            )


def fallback_text(event: Event, limit: Limit) -> str:
    """A plain text from the payload when the template cannot render: the incident's (or the
    maintenance window's) title, its phase (or status), the message."""
    p = event.payload
    incident, window = p.get("incident"), p.get("maintenance")
    subject = incident if isinstance(incident, dict) else window if isinstance(window, dict) else {}
    title = str(subject.get("title") or event.kind)
    stage = p.get("phase") or subject.get("status") or event.kind
    text = clean(f"{title} ({stage}): {p.get('message') or ''}").strip()
    while text and limit.count(text) > limit.max:
        text = text[: max(1, len(text) - max(1, len(text) // 10))].rstrip() + "…"
        if len(text) <= 1:
            break
    return text


def _ack_wait(tx: Tx, d: Delivery, settings: ChannelBase) -> tuple[datetime, int | None] | None:
    """For the first post of an unacknowledged automatic incident: until when it waits, and the
    incident's id if it was already resolved (then nothing of it is announced here). Else None.
    """
    if not settings.require_ack:
        return None
    event = tx.event(d.event_id)
    if event is None or event.kind is not EventKind.INCIDENT_OPENED or event.incident_id is None:
        return None
    incident = tx.incident(event.incident_id)
    if incident is None or not incident.auto or incident.acked_at is not None:
        return None
    return event.at + settings.ack_timeout, (None if incident.is_open else incident.id)


async def first_of(*waits: Awaitable[Any]) -> None:
    """Return when the first of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
