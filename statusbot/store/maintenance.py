"""Maintenance windows: schedule (deduplicated by source), start, end, cancel; reads."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update

from statusbot.model import EventKind, Maintenance, MaintenanceStatus, ScheduleMaintenance
from statusbot.store import tables as t
from statusbot.store.codec import from_ms, to_ms, unique
from statusbot.store.errors import ChangeRefused
from statusbot.store.outbox import OutboxMixin, Route

CLI_SOURCE = "cli"
"""The one source that is never deduplicated: every operator-scheduled window is new."""

_S = MaintenanceStatus
_MOVES: dict[EventKind, tuple[str, frozenset[MaintenanceStatus], MaintenanceStatus]] = {
    EventKind.MAINTENANCE_STARTED: ("start", frozenset({_S.SCHEDULED}), _S.IN_PROGRESS),
    EventKind.MAINTENANCE_ENDED: ("end", frozenset({_S.SCHEDULED, _S.IN_PROGRESS}), _S.COMPLETED),
    EventKind.MAINTENANCE_CANCELLED: (
        "cancel",
        frozenset({_S.SCHEDULED, _S.IN_PROGRESS}),
        _S.CANCELLED,
    ),
}


class MaintenanceMixin(OutboxMixin):
    """Maintenance changes (called through ``Tx.apply``) and maintenance reads."""

    def _schedule(self, change: ScheduleMaintenance, channels: Route) -> Maintenance:
        if change.source != CLI_SOURCE:
            existing = self.maintenance_by_source(change.source)
            if existing is not None:
                return existing
        if change.ends_at <= change.starts_at:
            raise ChangeRefused(f"maintenance {change.title!r}: it ends before it starts")
        maintenance_id: int = self._conn.execute(
            t.maintenance.insert()
            .values(
                title=change.title,
                message=change.message,
                starts_at=to_ms(change.starts_at),
                ends_at=to_ms(change.ends_at),
                status=_S.SCHEDULED.value,
                source=change.source,
                created_at=to_ms(change.at),
            )
            .returning(t.maintenance.c.id)
        ).scalar_one()
        ids = unique(change.components)
        if ids:
            self._ensure_components(ids)
            self._conn.execute(
                t.maintenance_component.insert(),
                [
                    {"maintenance_id": maintenance_id, "component_id": cid, "position": i}
                    for i, cid in enumerate(ids)
                ],
            )
        return self._announce(
            maintenance_id, EventKind.MAINTENANCE_SCHEDULED, change.at, change.message, channels
        )

    def _move(
        self, maintenance_id: int, kind: EventKind, at: datetime, channels: Route
    ) -> Maintenance:
        """Start, end or cancel; the window's bounds follow what really happened.

        Starting early moves ``starts_at`` to ``at``; ending early moves ``ends_at`` to ``at``
        (so ``Maintenance.active`` stops being true).
        """
        m = self.maintenance(maintenance_id)
        if m is None:
            raise ChangeRefused(f"no maintenance {maintenance_id}")
        verb, allowed, target = _MOVES[kind]
        if m.status not in allowed:
            raise ChangeRefused(
                f"maintenance {m.id} is {m.status.value.replace('_', ' ')}: cannot {verb} it"
            )
        values: dict[str, object] = {"status": target.value}
        if kind is EventKind.MAINTENANCE_STARTED and at < m.starts_at:
            values["starts_at"] = to_ms(at)
        if kind is EventKind.MAINTENANCE_ENDED and m.starts_at <= at < m.ends_at:
            values["ends_at"] = to_ms(at)
        self._conn.execute(update(t.maintenance).where(t.maintenance.c.id == m.id).values(**values))
        return self._announce(m.id, kind, at, m.message, channels)

    def _announce(
        self,
        maintenance_id: int,
        kind: EventKind,
        at: datetime,
        message: str,
        channels: Route,
    ) -> Maintenance:
        m = self.maintenance(maintenance_id)
        if m is None:  # written just before, in this transaction: cannot happen
            raise ChangeRefused(f"no maintenance {maintenance_id}")
        self._emit(
            self._payload(kind, at, message, maintenance=m), at, channels, maintenance_id=m.id
        )
        return m

    # --- reading ------------------------------------------------------------------------------

    def maintenances(
        self, statuses: Collection[MaintenanceStatus] | None = None
    ) -> list[Maintenance]:
        """Maintenance windows by start time, optionally only those in ``statuses``."""
        c = t.maintenance.c
        query = select(t.maintenance).order_by(c.starts_at, c.id)
        if statuses is not None:
            query = query.where(c.status.in_([s.value for s in statuses]))
        return self._maintenances(query)

    def maintenance(self, maintenance_id: int) -> Maintenance | None:
        """One maintenance window, or None."""
        query = select(t.maintenance).where(t.maintenance.c.id == maintenance_id)
        found = self._maintenances(query)
        return found[0] if found else None

    def maintenance_by_source(self, source: str) -> Maintenance | None:
        """The window scheduled from ``source`` (for "cli", the newest such window), or None."""
        c = t.maintenance.c
        found = self._maintenances(
            select(t.maintenance).where(c.source == source).order_by(c.id.desc()).limit(1)
        )
        return found[0] if found else None

    def _maintenances(self, query: Select[Any]) -> list[Maintenance]:
        rows = list(self._conn.execute(query))
        if not rows:
            return []
        mc = t.maintenance_component.c
        members: dict[int, list[str]] = {}
        for mid, cid in self._conn.execute(
            select(mc.maintenance_id, mc.component_id)
            .where(mc.maintenance_id.in_([r.id for r in rows]))
            .order_by(mc.maintenance_id, mc.position)
        ):
            members.setdefault(mid, []).append(cid)
        return [
            Maintenance(
                id=r.id,
                title=r.title,
                message=r.message,
                components=tuple(members.get(r.id, [])),
                starts_at=from_ms(r.starts_at),
                ends_at=from_ms(r.ends_at),
                status=MaintenanceStatus(r.status),
                source=r.source,
            )
            for r in rows
        ]
