"""Incidents: opening, updating (with coalescing), resolving, and reading them back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update

from statusbot.model import (
    DeliveryStatus,
    EventKind,
    Impact,
    Incident,
    IncidentUpdate,
    OpenIncident,
    Phase,
    ResolveIncident,
    UpdateIncident,
)
from statusbot.store import tables as t
from statusbot.store.codec import dumps, from_ms, loads, opt_from_ms, to_ms, unique
from statusbot.store.errors import ChangeRefused
from statusbot.store.outbox import OutboxMixin, Route, incident_snapshot

GATHERING = "gathering"
"""Payload flag of an update that waits for more of a storm to fold into it (``gather``)."""


def author(automatic: bool) -> str:
    """Who wrote an announcement: the rules ("statusbot") or a person ("operator")."""
    return "statusbot" if automatic else "operator"


class IncidentsMixin(OutboxMixin):
    """Incident changes (called through ``Tx.apply``) and incident reads."""

    def _open_incident(self, change: OpenIncident, channels: Route) -> Incident:
        at = to_ms(change.at)
        incident_id: int = self._conn.execute(
            t.incident.insert()
            .values(
                title=change.title,
                phase=change.phase.value,
                impact=change.impact.value,
                auto=int(change.auto),
                opened_at=at,
                resolved_at=None,
            )
            .returning(t.incident.c.id)
        ).scalar_one()
        self._join_components(incident_id, change.components, at, start=0)
        update_id = self._add_update(
            incident_id, at, EventKind.INCIDENT_OPENED, change.phase, change.message
        )
        inc = self._incident_or_fail(incident_id)
        payload = self._payload(
            EventKind.INCIDENT_OPENED, change.at, change.message, incident=inc, update_id=update_id
        )
        payload["author"] = author(change.auto)
        self._emit(payload, change.at, channels, incident_id=incident_id)
        return inc

    def _update_incident(self, change: UpdateIncident, channels: Route) -> Incident:
        inc = self._incident_or_fail(change.incident_id, open_only=True)
        at = to_ms(change.at)
        phase = inc.phase if change.phase is None else change.phase
        if phase is Phase.RESOLVED:
            raise ChangeRefused(f"incident {inc.id}: resolve it with a ResolveIncident change")
        if phase is not inc.phase:
            self._conn.execute(
                update(t.incident).where(t.incident.c.id == inc.id).values(phase=phase.value)
            )
        ic = t.incident_component.c
        fresh = [cid for cid in unique(change.add_components) if cid not in inc.components]
        again = [cid for cid in change.add_components if cid in inc.recovered]
        self._join_components(inc.id, fresh, at, start=len(inc.components))
        if again:  # failing again after it had recovered
            self._conn.execute(
                update(t.incident_component)
                .where(ic.incident_id == inc.id, ic.component_id.in_(again))
                .values(recovered_at=None)
            )
        if change.recovered:
            self._conn.execute(
                update(t.incident_component)
                .where(
                    ic.incident_id == inc.id,
                    ic.component_id.in_(list(change.recovered)),
                    ic.recovered_at.is_(None),
                )
                .values(recovered_at=at)
            )
        update_id = self._add_update(inc.id, at, change.kind, phase, change.message)
        inc = self._incident_or_fail(inc.id)
        if not (change.auto and change.fold_into and self._fold(inc, change, channels)):
            payload = self._payload(
                change.kind, change.at, change.message, incident=inc, update_id=update_id
            )
            payload["author"] = author(change.auto)
            self._let_go(inc.id)
            if change.gather:
                payload[GATHERING] = True
            self._emit(
                payload,
                change.at,
                channels,
                incident_id=inc.id,
                hold_until=change.at + change.gather if change.gather else None,
            )
        return inc

    def _fold(self, inc: Incident, change: UpdateIncident, channels: Route) -> bool:
        """Fold ``change`` into the incident's latest announcement, if that is still possible.

        Possible when that announcement is of kind ``change.fold_into``, was written by the rules
        and none of its deliveries has been attempted. It then takes the change's message, and
        its phase, incident snapshot and components are refreshed. Returns whether it folded.
        """
        d = t.delivery.c
        row = self._latest_event(inc.id)
        if row is None or change.fold_into is None:
            return False
        payload = loads(row.payload)
        gathering = bool(payload.get(GATHERING))
        if gathering and not change.gather:
            return False  # a held storm update takes only more of the storm, never a narrower one
        if row.kind != change.fold_into.value and not gathering:
            return False
        if payload.get("author") != author(True):
            return False  # an operator's words are never replaced
        started = self._conn.execute(
            select(func.count()).where(
                d.event_id == row.id,
                (d.status != DeliveryStatus.PENDING.value) | (d.attempts != 0),
            )
        ).scalar_one()
        if started:
            return False
        names = self._component_names(inc.components)
        # An opening keeps its time (when the outage began); a folded update or reminder is
        # about now, so its time, duration and "next update by" move with it.
        at = from_ms(row.ts) if row.kind == EventKind.INCIDENT_OPENED.value else change.at
        payload.update(
            at=at.isoformat(),
            message=change.message,
            phase=inc.phase.value,
            incident=incident_snapshot(inc, at),
            components=[{"id": cid, "name": names[cid]} for cid in inc.components],
        )
        self._conn.execute(
            update(t.event)
            .where(t.event.c.id == row.id)
            .values(payload=dumps(payload), ts=to_ms(at))
        )
        routed = channels(payload) if callable(channels) else channels
        # a channel the fold newly concerns waits with the others of a held storm update (no
        # longer than they do); any other wait (an acknowledgement's) is its channel's own
        held = None
        if gathering:
            held = self._conn.execute(
                select(func.max(d.next_attempt_at)).where(d.event_id == row.id)
            ).scalar_one()
        self._add_deliveries(row.id, routed, at, hold_until=None if held is None else from_ms(held))
        return True

    def _latest_event(self, incident_id: int) -> Any:
        """The incident's newest event row (id, kind, payload, ts), or None."""
        e = t.event.c
        return self._conn.execute(
            select(e.id, e.kind, e.payload, e.ts)
            .where(e.incident_id == incident_id)
            .order_by(e.id.desc())
            .limit(1)
        ).first()

    def _let_go(self, incident_id: int) -> None:
        """A new announcement of the incident: a gathering update waiting before it goes now
        (the thread keeps its order, so it would hold the new one back all that time)."""
        d = t.delivery.c
        latest = self._latest_event(incident_id)
        if latest is None or not loads(latest.payload).get(GATHERING):
            return
        self._conn.execute(
            update(t.delivery)
            .where(
                d.event_id == latest.id,
                d.status == DeliveryStatus.PENDING.value,
                d.attempts == 0,
            )
            .values(next_attempt_at=None)
        )

    def _resolve_incident(self, change: ResolveIncident, channels: Route) -> Incident:
        inc = self._incident_or_fail(change.incident_id, open_only=True)
        self._let_go(inc.id)
        at = to_ms(change.at)
        self._conn.execute(
            update(t.incident)
            .where(t.incident.c.id == inc.id)
            .values(phase=Phase.RESOLVED.value, resolved_at=at)
        )
        update_id = self._add_update(
            inc.id, at, EventKind.INCIDENT_RESOLVED, Phase.RESOLVED, change.message
        )
        inc = self._incident_or_fail(inc.id)
        payload = self._payload(
            EventKind.INCIDENT_RESOLVED,
            change.at,
            change.message,
            incident=inc,
            update_id=update_id,
        )
        self._emit(payload, change.at, channels, incident_id=inc.id)
        return inc

    def _join_components(self, incident_id: int, ids: Sequence[str], at: int, start: int) -> None:
        ids = unique(ids)
        if not ids:
            return
        self._ensure_components(ids)
        self._conn.execute(
            t.incident_component.insert(),
            [
                {
                    "incident_id": incident_id,
                    "component_id": cid,
                    "position": start + i,
                    "added_at": at,
                    "recovered_at": None,
                }
                for i, cid in enumerate(ids)
            ],
        )

    def _add_update(
        self, incident_id: int, at: int, kind: EventKind, phase: Phase, message: str
    ) -> int:
        return int(
            self._conn.execute(
                t.incident_update.insert()
                .values(
                    incident_id=incident_id,
                    ts=at,
                    kind=kind.value,
                    phase=phase.value,
                    message=message,
                )
                .returning(t.incident_update.c.id)
            ).scalar_one()
        )

    def ack_incident(self, incident_id: int, at: datetime) -> Incident:
        """An operator vouches for an incident: channels with ``require_ack`` may post it now.

        Its deliveries still waiting are made due at once, except a storm update's, which keeps
        gathering the storm. Acknowledging twice keeps the first time."""
        self._require_write()
        inc = self._incident_or_fail(incident_id)
        if inc.acked_at is None:
            self._conn.execute(
                update(t.incident).where(t.incident.c.id == inc.id).values(acked_at=to_ms(at))
            )
        d, e = t.delivery.c, t.event.c
        waiting = (
            select(e.id)
            .where(
                e.incident_id == inc.id, func.json_extract(e.payload, f"$.{GATHERING}").is_(None)
            )
            .scalar_subquery()
        )
        self._conn.execute(
            update(t.delivery)
            .where(d.event_id.in_(waiting), d.status == DeliveryStatus.PENDING.value)
            .values(next_attempt_at=None)
        )
        return self._incident_or_fail(inc.id)

    def _incident_or_fail(self, incident_id: int, *, open_only: bool = False) -> Incident:
        inc = self.incident(incident_id)
        if inc is None:
            raise ChangeRefused(f"no incident {incident_id}")
        if open_only and not inc.is_open:
            raise ChangeRefused(f"incident {incident_id} is resolved")
        return inc

    # --- reading ------------------------------------------------------------------------------

    def open_incidents(self) -> list[Incident]:
        """Unresolved incidents, oldest first, with their updates."""
        i = t.incident.c
        return self._incidents(
            select(t.incident).where(i.resolved_at.is_(None)).order_by(i.opened_at, i.id)
        )

    def incident(self, incident_id: int) -> Incident | None:
        """One incident with its updates (oldest first), or None."""
        found = self._incidents(select(t.incident).where(t.incident.c.id == incident_id))
        return found[0] if found else None

    def incidents(self, limit: int = 50, offset: int = 0) -> list[Incident]:
        """Incidents newest first (by opening time), with their updates."""
        i = t.incident.c
        return self._incidents(
            select(t.incident).order_by(i.opened_at.desc(), i.id.desc()).limit(limit).offset(offset)
        )

    def _incidents(self, query: Select[Any]) -> list[Incident]:
        rows = list(self._conn.execute(query))
        ids = [row.id for row in rows]
        if not ids:
            return []
        ic, u = t.incident_component.c, t.incident_update.c
        members: dict[int, list[tuple[str, bool]]] = {}
        for inc_id, cid, rec in self._conn.execute(
            select(ic.incident_id, ic.component_id, ic.recovered_at)
            .where(ic.incident_id.in_(ids))
            .order_by(ic.incident_id, ic.position)
        ):
            members.setdefault(inc_id, []).append((cid, rec is not None))
        updates: dict[int, list[IncidentUpdate]] = {}
        for r in self._conn.execute(
            select(t.incident_update).where(u.incident_id.in_(ids)).order_by(u.incident_id, u.id)
        ):
            updates.setdefault(r.incident_id, []).append(
                IncidentUpdate(
                    r.id, r.incident_id, from_ms(r.ts), EventKind(r.kind), Phase(r.phase), r.message
                )
            )
        return [
            Incident(
                id=row.id,
                title=row.title,
                phase=Phase(row.phase),
                impact=Impact(row.impact),
                components=tuple(cid for cid, _ in members.get(row.id, [])),
                opened_at=from_ms(row.opened_at),
                resolved_at=opt_from_ms(row.resolved_at),
                auto=bool(row.auto),
                recovered=frozenset(cid for cid, rec in members.get(row.id, []) if rec),
                updates=tuple(updates.get(row.id, [])),
                acked_at=opt_from_ms(row.acked_at),
            )
            for row in rows
        ]
