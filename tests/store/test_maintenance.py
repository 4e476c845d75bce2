"""apply() for maintenance windows: scheduling (deduplicated by source) and legal moves only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statusbot.model import (
    CancelMaintenance,
    EndMaintenance,
    EventKind,
    Maintenance,
    MaintenanceStatus,
    ScheduleMaintenance,
    StartMaintenance,
)
from statusbot.store import Store, StoreError
from tests.store.conftest import CHANNELS, T0

STARTS = T0 + timedelta(days=1)
ENDS = STARTS + timedelta(hours=2)


def _schedule(store: Store, source: str = "config:db-upgrade") -> Maintenance:
    with store.write(durable=True) as tx:
        m = tx.apply(
            ScheduleMaintenance(
                "Database upgrade",
                "Read-only for a while.",
                ("db", "api"),
                STARTS,
                ENDS,
                source,
                T0,
            ),
            CHANNELS,
        )
    assert isinstance(m, Maintenance)
    return m


def test_schedule_writes_window_event_and_deliveries(store: Store) -> None:
    m = _schedule(store)
    assert (m.title, m.message, m.components, m.starts_at, m.ends_at, m.status, m.source) == (
        "Database upgrade",
        "Read-only for a while.",
        ("db", "api"),
        STARTS,
        ENDS,
        MaintenanceStatus.SCHEDULED,
        "config:db-upgrade",
    )
    with store.read() as tx:
        assert tx.maintenance(m.id) == m
        assert tx.maintenance_by_source("config:db-upgrade") == m
        [event] = tx.events()
        assert [d.channel for d in tx.deliveries()] == list(CHANNELS)
    assert (event.kind, event.maintenance_id, event.incident_id) == (
        EventKind.MAINTENANCE_SCHEDULED,
        m.id,
        None,
    )
    assert event.payload == {
        "kind": "maintenance.scheduled",
        "at": T0.isoformat(),
        "message": "Read-only for a while.",
        "phase": None,
        "incident": None,
        "maintenance": {
            "id": m.id,
            "title": "Database upgrade",
            "starts_at": STARTS.isoformat(),
            "ends_at": ENDS.isoformat(),
            "status": "scheduled",
        },
        "components": [{"id": "db", "name": "Database"}, {"id": "api", "name": "Public API"}],
        "update_id": None,
    }


def test_same_source_twice_returns_the_existing_window_and_writes_nothing(store: Store) -> None:
    m = _schedule(store)
    again = _schedule(store)
    assert again == m
    with store.read() as tx:
        assert len(tx.maintenances()) == 1
        assert len(tx.events()) == 1
        assert len(tx.deliveries()) == 2


def test_cli_windows_are_never_deduplicated(store: Store) -> None:
    first, second = _schedule(store, "cli"), _schedule(store, "cli")
    assert first.id != second.id
    with store.read() as tx:
        assert tx.maintenance_by_source("cli") == second


def test_lifecycle_start_end(store: Store) -> None:
    m = _schedule(store)
    with store.write(durable=True) as tx:
        started = tx.apply(StartMaintenance(m.id, STARTS - timedelta(minutes=5)), CHANNELS)
        assert isinstance(started, Maintenance)
        assert started.status is MaintenanceStatus.IN_PROGRESS
        assert started.starts_at == STARTS - timedelta(minutes=5)  # started early
        assert tx.maintenances([MaintenanceStatus.IN_PROGRESS]) == [started]
        assert tx.maintenances([MaintenanceStatus.SCHEDULED]) == []
    with (
        pytest.raises(StoreError, match=f"^maintenance {m.id} is in progress: cannot start it$"),
        store.write(durable=True) as tx,
    ):
        tx.apply(StartMaintenance(m.id, STARTS), CHANNELS)
    ended_at = STARTS + timedelta(hours=1)
    with store.write(durable=True) as tx:
        ended = tx.apply(EndMaintenance(m.id, ended_at), CHANNELS)
    assert isinstance(ended, Maintenance)
    assert ended.status is MaintenanceStatus.COMPLETED
    assert ended.ends_at == ended_at
    assert not ended.active(ended_at + timedelta(minutes=1))
    with (
        pytest.raises(StoreError, match=f"^maintenance {m.id} is completed: cannot cancel it$"),
        store.write(durable=True) as tx,
    ):
        tx.apply(CancelMaintenance(m.id, ended_at), CHANNELS)
    with store.read() as tx:
        kinds = [e.kind for e in tx.events()]
        assert len(tx.deliveries()) == 3 * len(CHANNELS)
        assert tx.events()[-1].payload["maintenance"]["status"] == "completed"  # type: ignore[index]
    assert kinds == [
        EventKind.MAINTENANCE_SCHEDULED,
        EventKind.MAINTENANCE_STARTED,
        EventKind.MAINTENANCE_ENDED,
    ]


def test_cancel(store: Store) -> None:
    m = _schedule(store)
    with store.write(durable=True) as tx:
        cancelled = tx.apply(CancelMaintenance(m.id, T0), CHANNELS)
    assert isinstance(cancelled, Maintenance)
    assert cancelled.status is MaintenanceStatus.CANCELLED
    with store.read() as tx:
        assert tx.events()[-1].kind is EventKind.MAINTENANCE_CANCELLED
    with (
        pytest.raises(StoreError, match="is cancelled: cannot start it"),
        store.write(durable=True) as tx,
    ):
        tx.apply(StartMaintenance(m.id, T0), CHANNELS)


def test_unknown_maintenance_and_bad_window(store: Store) -> None:
    with pytest.raises(StoreError, match=r"^no maintenance 9$"), store.write(durable=True) as tx:
        tx.apply(EndMaintenance(9, T0), CHANNELS)
    with pytest.raises(StoreError, match="ends before it starts"), store.write(durable=True) as tx:
        tx.apply(ScheduleMaintenance("x", "y", (), ENDS, STARTS, "cli", T0), CHANNELS)
