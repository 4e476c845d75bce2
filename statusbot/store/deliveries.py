"""The publisher's side of the outbox: what is due, thread parents, delivery outcomes.

Statuses: pending (never tried) → sending (claimed; attempts counted) → sent | failed (will be
retried at ``next_attempt_at``) | dropped (given up). A thread's deliveries leave in order: a
delivery is not due while an earlier one of the same incident (or maintenance) on the same
channel is still pending, sending or failed.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)

from statusbot.model import Delivery, DeliveryStatus
from statusbot.store import tables as t
from statusbot.store.base import TxBase
from statusbot.store.codec import to_ms
from statusbot.store.errors import ChangeRefused
from statusbot.store.outbox import delivery_of

_D = DeliveryStatus
_WAITING = (_D.PENDING.value, _D.FAILED.value)
_UNFINISHED = (_D.PENDING.value, _D.SENDING.value, _D.FAILED.value)


class DeliveriesMixin(TxBase):
    """Claiming and settling deliveries."""

    def due_deliveries(
        self, now: datetime, channel: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        """Pending or failed deliveries whose time has come and whose thread is not blocked,
        oldest first."""
        params: dict[str, object] = {"now": to_ms(now), "limit": limit}
        if channel is not None:
            params["channel"] = channel
        query = _due_query(by_channel=channel is not None)
        return [delivery_of(row) for row in self._conn.execute(query, params)]

    def thread_parent(self, delivery_id: int) -> str | None:
        """The remote id of the latest sent post of the same thread and channel before this
        delivery's event (what an update replies to), or None for a thread's first post."""
        d, e = t.delivery.alias("d"), t.event.alias("e")
        d2, e2 = t.delivery.alias("d2"), t.event.alias("e2")
        query = (
            select(d2.c.remote_id)
            .select_from(d)
            .join(e, e.c.id == d.c.event_id)
            .join(e2, and_(e2.c.id < e.c.id, _same_thread(e, e2)))
            .join(d2, and_(d2.c.event_id == e2.c.id, d2.c.channel == d.c.channel))
            .where(d.c.id == delivery_id, d2.c.status == _D.SENT.value, d2.c.remote_id.is_not(None))
            .order_by(e2.c.id.desc())
            .limit(1)
        )
        remote: str | None = self._conn.execute(query).scalar_one_or_none()
        return remote

    def mark_sending(self, delivery_id: int, at: datetime) -> Delivery:
        """Claim a pending or failed delivery (counts an attempt; the first one's time is kept).
        Read the event after this: it can no longer be folded into."""
        c = t.delivery.c
        return self._settle(
            delivery_id,
            _WAITING,
            status=_D.SENDING.value,
            attempts=c.attempts + 1,
            first_attempt_at=func.coalesce(c.first_attempt_at, to_ms(at)),
        )

    def set_text(self, delivery_id: int, text: str, idempotency_key: str | None = None) -> Delivery:
        """Remember the text a claimed delivery is sent with, and on its first attempt its
        idempotency key (retries send both again)."""
        keys = {"idempotency_key": idempotency_key} if idempotency_key else {}
        return self._settle(delivery_id, (_D.SENDING.value,), text=text, **keys)

    def defer(self, delivery_id: int, until: datetime) -> Delivery:
        """Leave a pending delivery unclaimed until ``until`` (it still holds its thread back)."""
        return self._settle(delivery_id, (_D.PENDING.value,), next_attempt_at=to_ms(until))

    def event_position(self, event_id: int) -> int:
        """1 for the first event of its incident (or maintenance), 2 for the next, and so on."""
        e, e2 = t.event.alias("e"), t.event.alias("e2")
        query = (
            select(func.count())
            .select_from(e)
            .join(e2, and_(e2.c.id <= e.c.id, _same_thread(e, e2)))
            .where(e.c.id == event_id)
        )
        return max(1, int(self._conn.execute(query).scalar_one()))

    def mark_sent(self, delivery_id: int, at: datetime, remote_id: str | None = None) -> Delivery:
        """Record a successful post (``remote_id``: the post's id, for replies)."""
        return self._settle(
            delivery_id,
            _UNFINISHED,
            status=_D.SENT.value,
            sent_at=to_ms(at),
            remote_id=remote_id,
            error=None,
            next_attempt_at=None,
        )

    def mark_failed(self, delivery_id: int, error: str, next_attempt_at: datetime) -> Delivery:
        """A failed attempt, to be retried at ``next_attempt_at``. No secrets in ``error``."""
        return self._settle(
            delivery_id,
            _UNFINISHED,
            status=_D.FAILED.value,
            error=error,
            next_attempt_at=to_ms(next_attempt_at),
        )

    def mark_dropped(self, delivery_id: int, error: str, *, while_sending: bool = True) -> Delivery:
        """Give up on a delivery for good (it no longer blocks its thread). An operator may not
        drop one that is being sent (``while_sending=False``): its post may be on its way."""
        allowed = _UNFINISHED if while_sending else _WAITING
        return self._settle(
            delivery_id, allowed, status=_D.DROPPED.value, error=error, next_attempt_at=None
        )

    def drop_thread(self, incident_id: int, channel: str, error: str) -> int:
        """Drop every not yet sent delivery of an incident on one channel. Returns how many."""
        self._require_write()
        c, e = t.delivery.c, t.event.c
        mine = select(e.id).where(e.incident_id == incident_id).scalar_subquery()
        stmt = (
            update(t.delivery)
            .where(c.event_id.in_(mine), c.channel == channel, c.status.in_(_WAITING))
            .values(status=_D.DROPPED.value, error=error, next_attempt_at=None)
        )
        return int(self._conn.execute(stmt).rowcount)

    def reset_sending(self) -> int:
        """After a crash: claimed-but-unsettled deliveries go back to pending. Returns how many."""
        self._require_write()
        c = t.delivery.c
        stmt = (
            update(t.delivery).where(c.status == _D.SENDING.value).values(status=_D.PENDING.value)
        )
        return int(self._conn.execute(stmt).rowcount)

    def retry_delivery(self, delivery_id: int) -> Delivery:
        """One failed or dropped delivery goes back to pending, due now."""
        return self._settle(
            delivery_id,
            (_D.FAILED.value, _D.DROPPED.value),
            status=_D.PENDING.value,
            next_attempt_at=None,
        )

    def retry_deliveries(self, channel: str | None = None) -> int:
        """Failed and dropped deliveries (of ``channel``) go back to pending, due now."""
        self._require_write()
        c = t.delivery.c
        stmt = (
            update(t.delivery)
            .where(c.status.in_((_D.FAILED.value, _D.DROPPED.value)))
            .values(status=_D.PENDING.value, next_attempt_at=None)
        )
        if channel is not None:
            stmt = stmt.where(c.channel == channel)
        return int(self._conn.execute(stmt).rowcount)

    def _settle(self, delivery_id: int, allowed: tuple[str, ...], **values: object) -> Delivery:
        self._require_write()
        c = t.delivery.c
        row = self._conn.execute(
            update(t.delivery)
            .where(c.id == delivery_id, c.status.in_(allowed))
            .values(**values)
            .returning(t.delivery)
        ).first()
        if row is not None:
            return delivery_of(row)
        status = self._conn.execute(
            select(c.status).where(c.id == delivery_id)
        ).scalar_one_or_none()
        if status is None:
            raise ChangeRefused(f"no delivery {delivery_id}")
        raise ChangeRefused(f"delivery {delivery_id} is {status}")


@cache
def _due_query(*, by_channel: bool) -> Select[Any]:
    """The query of :meth:`DeliveriesMixin.due_deliveries`, built once: every courier asks
    it every second, and building it (four aliases, an EXISTS) cost more than running it."""
    d, e = t.delivery.alias("d"), t.event.alias("e")
    d2, e2 = t.delivery.alias("d2"), t.event.alias("e2")
    blocked = (
        exists()
        .select_from(d2.join(e2, e2.c.id == d2.c.event_id))
        .where(
            d2.c.channel == d.c.channel,
            e2.c.id < e.c.id,
            d2.c.status.in_(_UNFINISHED),
            _same_thread(e, e2),
        )
    )
    query = (
        select(d)
        .join(e, e.c.id == d.c.event_id)
        .where(
            d.c.status.in_(_WAITING),
            or_(d.c.next_attempt_at.is_(None), d.c.next_attempt_at <= bindparam("now")),
            ~blocked,
        )
        .order_by(d.c.id)
        .limit(bindparam("limit"))
    )
    return query.where(d.c.channel == bindparam("channel")) if by_channel else query


def _same_thread(e: FromClause, e2: FromClause) -> ColumnElement[bool]:
    """Both events announce the same incident, or the same maintenance window."""
    return or_(
        and_(e.c.incident_id.is_not(None), e2.c.incident_id == e.c.incident_id),
        and_(e.c.maintenance_id.is_not(None), e2.c.maintenance_id == e.c.maintenance_id),
    )
