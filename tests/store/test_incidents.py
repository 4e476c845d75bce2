"""apply() for incidents: state, timeline, event and one delivery per channel, atomically."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from statusbot.model import (
    ComponentInfo,
    DeliveryStatus,
    EventKind,
    Impact,
    Incident,
    OpenIncident,
    Phase,
    ResolveIncident,
    UpdateIncident,
)
from statusbot.store import Store, StoreError
from tests.store.conftest import CHANNELS, T0


def _open(store: Store, components: tuple[str, ...] = ("api",), auto: bool = True) -> Incident:
    with store.write(durable=True) as tx:
        inc = tx.apply(
            OpenIncident(
                "API errors", Impact.MAJOR, components, "We are looking into it.", T0, auto
            ),
            CHANNELS,
        )
    assert isinstance(inc, Incident)
    return inc


def test_open_writes_incident_update_event_and_deliveries(store: Store) -> None:
    inc = _open(store, ("api", "db", "api"))
    assert (inc.title, inc.phase, inc.impact, inc.auto) == (
        "API errors",
        Phase.INVESTIGATING,
        Impact.MAJOR,
        True,
    )
    assert inc.components == ("api", "db")
    assert inc.is_open
    assert inc.opened_at == T0
    assert [(u.kind, u.phase, u.message) for u in inc.updates] == [
        (EventKind.INCIDENT_OPENED, Phase.INVESTIGATING, "We are looking into it.")
    ]
    with store.read() as tx:
        assert tx.open_incidents() == [inc]
        assert tx.incident(inc.id) == inc
        [event] = tx.events()
        deliveries = tx.deliveries()
    assert (event.kind, event.at, event.incident_id, event.maintenance_id) == (
        EventKind.INCIDENT_OPENED,
        T0,
        inc.id,
        None,
    )
    assert event.payload == {
        "kind": "incident.opened",
        "at": T0.isoformat(),
        "message": "We are looking into it.",
        "phase": "investigating",
        "incident": {
            "id": inc.id,
            "title": "API errors",
            "phase": "investigating",
            "impact": "major",
            "auto": True,
            "opened_at": T0.isoformat(),
            "resolved_at": None,
            "duration_seconds": 0.0,
        },
        "maintenance": None,
        "components": [{"id": "api", "name": "Public API"}, {"id": "db", "name": "Database"}],
        "update_id": inc.updates[0].id,
        "author": "statusbot",
    }
    assert [(d.event_id, d.channel, d.status, d.attempts, d.created_at) for d in deliveries] == [
        (event.id, "mastodon", DeliveryStatus.PENDING, 0, T0),
        (event.id, "x", DeliveryStatus.PENDING, 0, T0),
    ]


def test_update_joins_components_marks_recovery_and_announces(store: Store) -> None:
    inc = _open(store)
    at = T0 + timedelta(minutes=5)
    with store.write(durable=True) as tx:
        updated = tx.apply(
            UpdateIncident(
                inc.id,
                at,
                "Database too.",
                Phase.IDENTIFIED,
                add_components=("db", "web"),
                recovered=("api",),
            ),
            CHANNELS,
        )
    assert isinstance(updated, Incident)
    assert updated.phase is Phase.IDENTIFIED
    assert updated.components == ("api", "db", "web")
    assert updated.recovered == frozenset({"api"})
    assert [u.kind for u in updated.updates] == [
        EventKind.INCIDENT_OPENED,
        EventKind.INCIDENT_UPDATED,
    ]
    with store.write(durable=True) as tx:  # api fails again: no longer recovered
        again = tx.apply(UpdateIncident(inc.id, at, "API again.", add_components=("api",)), ())
    assert isinstance(again, Incident)
    assert again.recovered == frozenset()
    assert again.phase is Phase.IDENTIFIED
    with store.read() as tx:
        events = tx.events()
        assert len(tx.deliveries()) == 2 + 2  # the last update went to no channel
    assert [e.kind for e in events] == [
        EventKind.INCIDENT_OPENED,
        EventKind.INCIDENT_UPDATED,
        EventKind.INCIDENT_UPDATED,
    ]
    payload = events[1].payload
    assert payload["phase"] == "identified"
    assert payload["message"] == "Database too."
    assert payload["update_id"] == updated.updates[1].id
    assert payload["components"] == [
        {"id": "api", "name": "Public API"},
        {"id": "db", "name": "Database"},
        {"id": "web", "name": "Website"},
    ]
    assert payload["incident"]["duration_seconds"] == 300.0  # type: ignore[index]


def test_reminder_kind_is_kept(store: Store) -> None:
    inc = _open(store)
    with store.write(durable=True) as tx:
        tx.apply(
            UpdateIncident(
                inc.id, T0 + timedelta(minutes=30), "Still on it.", kind=EventKind.INCIDENT_REMINDER
            ),
            CHANNELS,
        )
    with store.read() as tx:
        assert tx.events()[-1].kind is EventKind.INCIDENT_REMINDER
        assert tx.incident(inc.id).updates[-1].kind is EventKind.INCIDENT_REMINDER  # type: ignore[union-attr]


def test_resolve(store: Store) -> None:
    inc = _open(store)
    at = T0 + timedelta(minutes=42)
    with store.write(durable=True) as tx:
        done = tx.apply(ResolveIncident(inc.id, at, "Fixed."), CHANNELS)
    assert isinstance(done, Incident)
    assert done.phase is Phase.RESOLVED
    assert done.resolved_at == at
    assert not done.is_open
    with store.read() as tx:
        assert tx.open_incidents() == []
        event = tx.events()[-1]
        assert len(tx.deliveries()) == 4
    assert event.kind is EventKind.INCIDENT_RESOLVED
    assert event.payload["incident"] == {
        "id": inc.id,
        "title": "API errors",
        "phase": "resolved",
        "impact": "major",
        "auto": True,
        "opened_at": T0.isoformat(),
        "resolved_at": at.isoformat(),
        "duration_seconds": 2520.0,
    }
    with (
        pytest.raises(StoreError, match=f"^incident {inc.id} is resolved$"),
        store.write(durable=True) as tx,
    ):
        tx.apply(UpdateIncident(inc.id, at, "More?"), CHANNELS)
    with (
        pytest.raises(StoreError, match=f"^incident {inc.id} is resolved$"),
        store.write(durable=True) as tx,
    ):
        tx.apply(ResolveIncident(inc.id, at, "Again?"), CHANNELS)


def test_unknown_incident(store: Store) -> None:
    with pytest.raises(StoreError, match=r"^no incident 42$"), store.write(durable=True) as tx:
        tx.apply(UpdateIncident(42, T0, "?"), CHANNELS)
    with pytest.raises(StoreError, match=r"^no incident 42$"), store.write(durable=True) as tx:
        tx.apply(ResolveIncident(42, T0, "?"), CHANNELS)


def test_an_exception_after_apply_leaves_nothing(store: Store) -> None:
    """Invariant 1: state change and announcements commit together or not at all."""

    def open_then_crash() -> None:
        with store.write(durable=True) as tx:
            tx.apply(
                OpenIncident("Down", Impact.CRITICAL, ("newcomp",), "Down.", T0, True), CHANNELS
            )
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        open_then_crash()
    with store.read() as tx:
        assert tx.incidents() == []
        assert tx.events() == []
        assert tx.deliveries() == []
        assert tx.outbox_summary() == {}
    inc = _open(store)

    def resolve_then_crash() -> None:
        with store.write(durable=True) as tx:
            tx.apply(ResolveIncident(inc.id, T0, "Fixed."), CHANNELS)
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        resolve_then_crash()
    with store.read() as tx:
        assert tx.incident(inc.id) == inc
        assert len(tx.events()) == 1


def _storm_join(at: datetime) -> UpdateIncident:
    return UpdateIncident(
        1,
        at,
        "Public API and Database are not responding.",
        add_components=("db",),
        auto=True,
        fold_into=EventKind.INCIDENT_OPENED,
    )


def test_folding_replaces_an_undelivered_automatic_opening(store: Store) -> None:
    inc = _open(store, auto=True)
    with store.write(durable=True) as tx:
        tx.apply(_storm_join(T0 + timedelta(seconds=20)), CHANNELS)
    with store.read() as tx:
        [event] = tx.events()  # one incident, one post
        assert len(tx.deliveries()) == 2
        updated = tx.incident(inc.id)
    assert updated is not None
    assert len(updated.updates) == 2
    assert event.kind is EventKind.INCIDENT_OPENED
    assert event.at == T0
    assert event.payload["message"] == "Public API and Database are not responding."
    assert event.payload["components"] == [
        {"id": "api", "name": "Public API"},
        {"id": "db", "name": "Database"},
    ]


def test_folding_never_replaces_an_operators_words(store: Store) -> None:
    _open(store, auto=False)
    with store.write(durable=True) as tx:
        tx.apply(_storm_join(T0 + timedelta(seconds=20)), CHANNELS)
    with store.read() as tx:
        events = tx.events()
    assert [e.payload["message"] for e in events] == [
        "We are looking into it.",
        "Public API and Database are not responding.",
    ]


def test_folding_only_into_the_latest_announcement_of_the_named_kind(store: Store) -> None:
    inc = _open(store, auto=True)
    recovered = UpdateIncident(
        inc.id, T0, "Public API has recovered.", auto=True, fold_into=EventKind.INCIDENT_UPDATED
    )
    with store.write(durable=True) as tx:
        tx.apply(recovered, CHANNELS)  # latest is the opening: not an update, so a new post
        tx.apply(replace(recovered, message="Both are working normally again."), CHANNELS)
    with store.read() as tx:
        events = tx.events()
    assert [e.kind for e in events] == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_UPDATED]
    assert events[1].payload["message"] == "Both are working normally again."


def test_folding_stops_once_a_delivery_started(store: Store) -> None:
    _open(store, auto=True)
    with store.write(durable=True) as tx:
        first = tx.deliveries(channel="x")[0]
        tx.mark_sending(first.id, T0)
    with store.write(durable=True) as tx:
        tx.apply(_storm_join(T0 + timedelta(seconds=20)), CHANNELS)
    with store.read() as tx:
        events = tx.events()
        assert len(tx.deliveries()) == 4
    assert [e.kind for e in events] == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_UPDATED]
    assert events[0].payload["message"] == "We are looking into it."
    assert events[1].payload["message"] == "Public API and Database are not responding."


def test_without_fold_into_an_update_is_its_own_post(store: Store) -> None:
    inc = _open(store)
    with store.write(durable=True) as tx:
        tx.apply(UpdateIncident(inc.id, T0, "Separate."), CHANNELS)
    with store.read() as tx:
        assert len(tx.events()) == 2


def test_listing_newest_first_with_paging(store: Store) -> None:
    ids = []
    for i in range(3):
        with store.write(durable=True) as tx:
            inc = tx.apply(
                OpenIncident(f"#{i}", Impact.MINOR, ("web",), "m", T0 + timedelta(hours=i), False),
                (),
            )
            ids.append(inc.id)
    with store.read() as tx:
        assert [i.id for i in tx.incidents()] == ids[::-1]
        assert [i.id for i in tx.incidents(limit=1, offset=1)] == [ids[1]]
        assert all(i.updates for i in tx.incidents())
        assert [i.id for i in tx.open_incidents()] == ids


def test_update_cannot_resolve(store: Store) -> None:
    inc = _open(store)
    with pytest.raises(StoreError, match="ResolveIncident"), store.write(durable=True) as tx:
        tx.apply(UpdateIncident(inc.id, T0, "done", Phase.RESOLVED), CHANNELS)


def _gathering_join(at: datetime, component: str, message: str) -> UpdateIncident:
    return UpdateIncident(
        1,
        at,
        message,
        add_components=(component,),
        auto=True,
        fold_into=EventKind.INCIDENT_OPENED,
        gather=timedelta(seconds=30),
    )


def _send_due(store: Store, at: datetime) -> list[int]:
    """Send what is due at ``at``, as a courier would; returns the event ids sent."""
    sent = []
    with store.write(durable=True) as tx:
        for delivery in tx.due_deliveries(at):
            tx.mark_sending(delivery.id, at)
            tx.mark_sent(delivery.id, at, "remote")
            sent.append(delivery.event_id)
    return sent


def test_a_storm_that_spreads_after_the_opening_went_out_makes_one_more_post(
    store: Store,
) -> None:
    """Components that join after the opening was posted gather into one held update."""
    inc = _open(store, auto=True)
    assert _send_due(store, T0) == [1, 1]
    with store.write(durable=True) as tx:
        tx.apply(_gathering_join(T0 + timedelta(seconds=20), "db", "API and DB."), CHANNELS)
    assert _send_due(store, T0 + timedelta(seconds=21)) == []  # held for more of the storm
    with store.write(durable=True) as tx:
        tx.apply(_gathering_join(T0 + timedelta(seconds=35), "web", "API, DB and web."), CHANNELS)
    assert _send_due(store, T0 + timedelta(seconds=49)) == []  # the first join's hold still
    assert _send_due(store, T0 + timedelta(seconds=50)) == [2, 2]  # one update, both channels
    with store.read() as tx:
        events = tx.events()
        incident = tx.incident(inc.id)
    assert [e.kind for e in events] == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_UPDATED]
    assert events[1].payload["message"] == "API, DB and web."
    assert [c["id"] for c in events[1].payload["components"]] == ["api", "db", "web"]
    assert events[1].at == T0 + timedelta(seconds=35)
    assert incident is not None
    assert incident.components == ("api", "db", "web")
    # the storm goes on after that update went out: a new one, held again
    with store.write(durable=True) as tx:
        tx.sync_components([ComponentInfo("cdn", "CDN")])
        tx.apply(_gathering_join(T0 + timedelta(seconds=55), "cdn", "All four."), CHANNELS)
    assert _send_due(store, T0 + timedelta(seconds=60)) == []
    assert _send_due(store, T0 + timedelta(seconds=85)) == [3, 3]


def test_any_other_announcement_lets_a_gathering_update_go_at_once(store: Store) -> None:
    inc = _open(store, auto=True)
    _send_due(store, T0)
    with store.write(durable=True) as tx:
        tx.apply(_gathering_join(T0 + timedelta(seconds=20), "db", "API and DB."), CHANNELS)
        tx.apply(ResolveIncident(inc.id, T0 + timedelta(seconds=25), "All fixed."), CHANNELS)
    # the held update goes first (the thread keeps its order), then the resolution
    assert _send_due(store, T0 + timedelta(seconds=25)) == [2, 2]
    assert _send_due(store, T0 + timedelta(seconds=26)) == [3, 3]
    with store.read() as tx:
        assert [e.payload["message"] for e in tx.events()][1:] == ["API and DB.", "All fixed."]


def test_a_narrower_automatic_update_never_replaces_a_held_storm_update(store: Store) -> None:
    """ "API is now not responding at all" must not overwrite "API and DB are down": it becomes
    its own post, and the held one goes first."""
    inc = _open(store, auto=True)
    _send_due(store, T0)
    worse = UpdateIncident(
        inc.id,
        T0 + timedelta(seconds=15),
        "API is now not responding at all.",
        auto=True,
        fold_into=EventKind.INCIDENT_UPDATED,  # as the rules write it
    )
    with store.write(durable=True) as tx:
        tx.apply(
            _gathering_join(T0 + timedelta(seconds=10), "db", "API and DB are down."), CHANNELS
        )
        tx.apply(worse, CHANNELS)
    assert _send_due(store, T0 + timedelta(seconds=15)) == [2, 2]  # let go at once
    assert _send_due(store, T0 + timedelta(seconds=16)) == [3, 3]
    with store.read() as tx:
        assert [e.payload["message"] for e in tx.events()][1:] == [
            "API and DB are down.",
            "API is now not responding at all.",
        ]


def test_a_fold_does_not_pass_one_channels_wait_to_another(store: Store) -> None:
    """The opening waits on channel m for an acknowledgement; a join that routes the opening to
    channel w as well must not make w wait for m's acknowledgement."""
    with store.write(durable=True) as tx:
        tx.apply(OpenIncident("API errors", Impact.MAJOR, ("api",), "Down.", T0, True), ["m"])
        (opening,) = tx.deliveries()
        tx.defer(opening.id, T0 + timedelta(minutes=15))
        tx.apply(_storm_join(T0 + timedelta(seconds=20)), lambda _payload: ["m", "w"])
    with store.read() as tx:
        (event,) = tx.events()
        waits = {d.channel: d.next_attempt_at for d in tx.deliveries()}
    assert event.kind is EventKind.INCIDENT_OPENED  # folded
    assert waits == {"m": T0 + timedelta(minutes=15), "w": None}


def test_an_acknowledgement_does_not_end_a_storm_updates_gathering(store: Store) -> None:
    """The operator acknowledges after the opening went out and while a storm update gathers:
    what is still waiting for the ack goes, the storm update keeps gathering."""
    inc = _open(store, auto=True)
    _send_due(store, T0)
    with store.write(durable=True) as tx:
        tx.apply(_gathering_join(T0 + timedelta(seconds=20), "db", "API and DB."), CHANNELS)
        tx.ack_incident(inc.id, T0 + timedelta(seconds=25))
        tx.apply(_gathering_join(T0 + timedelta(seconds=40), "web", "API, DB and web."), CHANNELS)
    assert _send_due(store, T0 + timedelta(seconds=30)) == []
    assert _send_due(store, T0 + timedelta(seconds=50)) == [2, 2]
    with store.read() as tx:
        assert tx.events()[1].payload["message"] == "API, DB and web."
