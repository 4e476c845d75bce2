"""``Tx``: the handle of one transaction, with every read and write the project needs."""

from __future__ import annotations

from statusbot.model import (
    CancelMaintenance,
    Change,
    EndMaintenance,
    EventKind,
    Incident,
    Maintenance,
    OpenIncident,
    ResolveIncident,
    ScheduleMaintenance,
    StartMaintenance,
    UpdateIncident,
)
from statusbot.store.components import ComponentsMixin
from statusbot.store.deliveries import DeliveriesMixin
from statusbot.store.errors import StoreError
from statusbot.store.incidents import IncidentsMixin
from statusbot.store.maintenance import MaintenanceMixin
from statusbot.store.outbox import Route
from statusbot.store.results import ResultsMixin
from statusbot.store.retention import RetentionMixin


class Tx(
    ComponentsMixin,
    ResultsMixin,
    RetentionMixin,
    IncidentsMixin,
    MaintenanceMixin,
    DeliveriesMixin,
):
    """One transaction. Obtain it from ``Store.write()`` or ``Store.read()``; in a read
    transaction every writing method raises ``StoreError``."""

    def apply(self, change: Change, channels: Route) -> Incident | Maintenance:
        """Apply a change and queue its announcement, all in this transaction.

        Writes the state change, the incident's timeline entry (incidents), one ``event`` and
        one pending ``delivery`` per channel. Exceptions: scheduling a ``source`` already
        scheduled returns that window and writes nothing; an automatic ``UpdateIncident`` with
        ``fold_into`` may rewrite the incident's latest unsent automatic announcement instead
        of adding one (see ``UpdateIncident``). Unknown ids, updates of a
        resolved incident and illegal maintenance moves raise ``StoreError``.
        """
        self._require_write()
        match change:
            case OpenIncident():
                return self._open_incident(change, channels)
            case UpdateIncident():
                return self._update_incident(change, channels)
            case ResolveIncident():
                return self._resolve_incident(change, channels)
            case ScheduleMaintenance():
                return self._schedule(change, channels)
            case StartMaintenance() | EndMaintenance() | CancelMaintenance():
                kind = _MOVES[type(change)]
                return self._move(change.maintenance_id, kind, change.at, channels)
        raise StoreError(f"unknown change {type(change).__name__}")


_MOVES: dict[type, EventKind] = {
    StartMaintenance: EventKind.MAINTENANCE_STARTED,
    EndMaintenance: EventKind.MAINTENANCE_ENDED,
    CancelMaintenance: EventKind.MAINTENANCE_CANCELLED,
}
