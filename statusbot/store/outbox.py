"""The outbox: events (self-contained JSON payloads) and one delivery per event × channel."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from statusbot.model import (
    Delivery,
    DeliveryStatus,
    Event,
    EventKind,
    Incident,
    Maintenance,
)
from statusbot.store import tables as t
from statusbot.store.base import TxBase
from statusbot.store.codec import dumps, from_ms, loads, opt_from_ms, to_ms, unique
from statusbot.store.stats import OutboxStats


def incident_snapshot(inc: Incident, at: datetime) -> dict[str, object]:
    """The incident as a payload shows it; the duration runs to ``at`` while it is open."""
    return {
        "id": inc.id,
        "title": inc.title,
        "phase": inc.phase.value,
        "impact": inc.impact.value,
        "auto": inc.auto,
        "opened_at": inc.opened_at.isoformat(),
        "resolved_at": inc.resolved_at.isoformat() if inc.resolved_at else None,
        "duration_seconds": inc.duration(at),
    }


def maintenance_snapshot(m: Maintenance) -> dict[str, object]:
    return {
        "id": m.id,
        "title": m.title,
        "starts_at": m.starts_at.isoformat(),
        "ends_at": m.ends_at.isoformat(),
        "status": m.status.value,
    }


Route = Sequence[str] | Callable[[Mapping[str, object]], Sequence[str]]
"""Which channels announce an event: a fixed list, or chosen from the event's payload."""


class OutboxMixin(TxBase):
    """Writing events with their deliveries; reading the outbox."""

    def _payload(
        self,
        kind: EventKind,
        at: datetime,
        message: str,
        *,
        incident: Incident | None = None,
        maintenance: Maintenance | None = None,
        update_id: int | None = None,
    ) -> dict[str, object]:
        """A payload a publisher can render without reading anything else."""
        ids = incident.components if incident else maintenance.components if maintenance else ()
        names = self._component_names(ids)
        return {
            "kind": kind.value,
            "at": at.isoformat(),
            "message": message,
            "phase": incident.phase.value if incident else None,
            "incident": incident_snapshot(incident, at) if incident else None,
            "maintenance": maintenance_snapshot(maintenance) if maintenance else None,
            "components": [{"id": cid, "name": names[cid]} for cid in ids],
            "update_id": update_id,
        }

    def _emit(
        self,
        payload: dict[str, object],
        at: datetime,
        channels: Route,
        *,
        incident_id: int | None = None,
        maintenance_id: int | None = None,
        hold_until: datetime | None = None,
    ) -> int:
        """Insert the event and one pending delivery per channel; returns the event id.

        ``channels`` is a list, or a function choosing the channels from the payload (each
        channel announces only the event kinds and components it is configured for). With
        ``hold_until`` the deliveries are not claimed before then."""
        if callable(channels):
            channels = channels(payload)
        at_ms = to_ms(at)
        event_id: int = self._conn.execute(
            t.event.insert()
            .values(
                kind=str(payload["kind"]),
                ts=at_ms,
                incident_id=incident_id,
                maintenance_id=maintenance_id,
                payload=dumps(payload),
            )
            .returning(t.event.c.id)
        ).scalar_one()
        self._add_deliveries(event_id, channels, at, hold_until=hold_until)
        return event_id

    def _add_deliveries(
        self,
        event_id: int,
        channels: Sequence[str],
        at: datetime,
        *,
        hold_until: datetime | None = None,
    ) -> None:
        """A pending delivery of ``event_id`` for each channel that has none yet."""
        d = t.delivery.c
        have = set(self._conn.execute(select(d.channel).where(d.event_id == event_id)).scalars())
        rows = [
            {
                "event_id": event_id,
                "channel": ch,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "created_at": to_ms(at),
                "next_attempt_at": None if hold_until is None else to_ms(hold_until),
            }
            for ch in unique(channels)
            if ch not in have
        ]
        if rows:
            self._conn.execute(t.delivery.insert(), rows)

    # --- reading ------------------------------------------------------------------------------

    def events(self, since_id: int = 0) -> list[Event]:
        """Events with an id above ``since_id``, oldest first."""
        query = select(t.event).where(t.event.c.id > since_id).order_by(t.event.c.id)
        return [_event(row) for row in self._conn.execute(query)]

    def last_event_id(self) -> int:
        """The newest event's id (0 when there is none): it moves with every announcement."""
        return int(self._conn.execute(select(func.max(t.event.c.id))).scalar_one() or 0)

    def event(self, event_id: int) -> Event | None:
        """One event, or None."""
        row = self._conn.execute(select(t.event).where(t.event.c.id == event_id)).first()
        return None if row is None else _event(row)

    def deliveries(
        self, status: DeliveryStatus | None = None, channel: str | None = None
    ) -> list[Delivery]:
        """Deliveries, oldest first, optionally filtered by status and channel."""
        d = t.delivery.c
        query = select(t.delivery).order_by(d.id)
        if status is not None:
            query = query.where(d.status == status.value)
        if channel is not None:
            query = query.where(d.channel == channel)
        return [delivery_of(row) for row in self._conn.execute(query)]

    def outbox_summary(self) -> dict[str, OutboxStats]:
        """Per channel: deliveries counted by status and the oldest pending one's created_at."""
        d = t.delivery.c
        counts: dict[str, dict[DeliveryStatus, int]] = {}
        for channel, status, n in self._conn.execute(
            select(d.channel, d.status, func.count()).group_by(d.channel, d.status)
        ):
            counts.setdefault(channel, {})[DeliveryStatus(status)] = n
        oldest: dict[str, int] = dict(
            self._conn.execute(
                select(d.channel, func.min(d.created_at))
                .where(d.status == DeliveryStatus.PENDING.value)
                .group_by(d.channel)
            ).all()
        )
        return {
            ch: OutboxStats(ch, by_status, opt_from_ms(oldest.get(ch)))
            for ch, by_status in sorted(counts.items())
        }


def _event(row: Any) -> Event:
    return Event(
        id=row.id,
        kind=EventKind(row.kind),
        at=from_ms(row.ts),
        incident_id=row.incident_id,
        maintenance_id=row.maintenance_id,
        payload=loads(row.payload),
    )


def delivery_of(row: Any) -> Delivery:
    """A ``delivery`` row as a ``Delivery``."""
    return Delivery(
        id=row.id,
        event_id=row.event_id,
        channel=row.channel,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        created_at=from_ms(row.created_at),
        next_attempt_at=opt_from_ms(row.next_attempt_at),
        remote_id=row.remote_id,
        error=row.error,
        first_attempt_at=opt_from_ms(row.first_attempt_at),
        text=row.text,
        idempotency_key=row.idempotency_key,
    )
