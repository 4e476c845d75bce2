"""The single writer with real SQLite: scripted results in, incidents and outbox rows out."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from statusbot import config as configmod
from statusbot.model import (
    CancelMaintenance,
    CheckResult,
    EventKind,
    Impact,
    Maintenance,
    MaintenanceStatus,
    OpenIncident,
    Phase,
    ScheduleMaintenance,
    State,
)
from statusbot.pipeline import Pipeline
from statusbot.store import Store, StoreError

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)

BASE = """
defaults: {interval: 10s, timeout: 5s, fail_after: 2, recover_after: 2}
components:
  - {id: api, name: Public API, checks: [{type: tcp, host: 127.0.0.1, port: 1}]}
  - {id: db, name: Database, checks: [{type: tcp, host: 127.0.0.1, port: 2}]}
  - {id: web, name: Website, checks: [{type: tcp, host: 127.0.0.1, port: 3}]}
  - {id: cdn, name: CDN, checks: [{type: tcp, host: 127.0.0.1, port: 4}]}
  - {id: mail, name: Mail, checks: [{type: tcp, host: 127.0.0.1, port: 5}]}
channels: {console: {}}
"""


def make(tmp_path: Path, extra: str = "") -> tuple[Pipeline, Store]:
    text = BASE + extra
    config = configmod.from_text(text, "test.yaml", env={})
    store = Store.open(f"sqlite:///{tmp_path}/statusbot.db")
    return Pipeline(config, store), store


def r(check: str, seconds: float, state: State = State.DOWN) -> CheckResult:
    component = check.split(".", maxsplit=1)[0]
    return CheckResult(
        check, component, T0 + timedelta(seconds=seconds), state, "refused db.internal:5432"
    )


def up_all(
    pipeline: Pipeline, at: float, components: tuple[str, ...] = ("api", "db", "web", "cdn", "mail")
) -> None:
    for offset in (0, 10):
        pipeline.handle([r(f"{c}.tcp", at + offset, State.UP) for c in components])


def test_second_failure_opens_incident_with_one_pending_delivery(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path)
    up_all(pipeline, 0)
    assert pipeline.handle([r("api.tcp", 30)]) == []
    (tr,) = pipeline.handle([r("api.tcp", 40)])
    assert (tr.old, tr.new) == (State.UP, State.DOWN)
    with store.read() as tx:
        (incident,) = tx.open_incidents()
        (event,) = tx.events()
        deliveries = tx.deliveries()
    assert incident.components == ("api",)
    assert incident.opened_at == T0 + timedelta(seconds=40)
    assert event.kind is EventKind.INCIDENT_OPENED
    assert [d.channel for d in deliveries] == ["console"]
    assert "db.internal" not in str(event.payload), "probe reasons must stay out of public text"


def test_storm_shares_one_incident_and_one_post(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path)
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30), r("db.tcp", 35)])
    pipeline.handle([r("api.tcp", 40)])
    pipeline.handle([r("db.tcp", 45)])  # 5 s after the first: within the 60 s storm window
    with store.read() as tx:
        (incident,) = tx.open_incidents()
        events = tx.events()
    assert incident.components == ("api", "db")
    assert [e.kind for e in events] == [EventKind.INCIDENT_OPENED]
    names = [c["name"] for c in events[0].payload["components"]]  # type: ignore[union-attr]
    assert names == ["Public API", "Database"]


def test_a_storm_that_spreads_after_the_first_post_makes_one_more(tmp_path: Path) -> None:
    """The opening goes out at once; the four components that fail over the next 30 s share
    one further post (held for half the storm window), not one each."""
    # no mass-failure guard here: five of five failing would look like our own network
    pipeline, store = make(tmp_path, "detection: {mass_failure_min_checks: 100}\n")
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])  # confirmed: the incident opens
    with store.write() as tx:  # a courier posts the opening
        for delivery in tx.due_deliveries(T0 + timedelta(seconds=40)):
            tx.mark_sending(delivery.id, T0 + timedelta(seconds=40))
            tx.mark_sent(delivery.id, T0 + timedelta(seconds=41), "1")
    for n, component in enumerate(("db", "web", "cdn", "mail")):
        pipeline.handle([r(f"{component}.tcp", 42 + 8 * n)])
        pipeline.handle([r(f"{component}.tcp", 46 + 8 * n)])
    with store.read() as tx:
        (incident,) = tx.open_incidents()
        events = tx.events()
        held = tx.due_deliveries(T0 + timedelta(seconds=70))
        due = tx.due_deliveries(T0 + timedelta(seconds=76))
    assert incident.components == ("api", "db", "web", "cdn", "mail")
    assert [e.kind for e in events] == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_UPDATED]
    assert events[1].payload["message"] == (
        "Public API, Database, Website, CDN and Mail are not responding. "
        "We are investigating and will post an update soon."
    )
    assert held == []  # the first join (46 s) waits until 76 s for the rest of the storm
    assert [d.event_id for d in due] == [events[1].id]


def test_components_recovering_together_make_one_post(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path)
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30), r("db.tcp", 31)])
    pipeline.handle([r("api.tcp", 40), r("db.tcp", 41)])
    pipeline.handle([r("api.tcp", 50, State.UP), r("db.tcp", 51, State.UP)])
    pipeline.handle([r("api.tcp", 60, State.UP), r("db.tcp", 61, State.UP)])
    with store.read() as tx:
        events = tx.events()
        (incident,) = tx.incidents()
    assert [e.kind for e in events] == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_UPDATED]
    assert events[1].payload["message"] == (
        "Public API and Database are working normally again. "
        "We are monitoring to make sure it stays that way."
    )
    assert len(incident.updates) == 4, "the timeline keeps every step (open, join, 2 recoveries)"


def test_failure_after_the_storm_window_opens_its_own_incident(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path)
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])
    pipeline.handle([r("db.tcp", 200)])
    pipeline.handle([r("db.tcp", 210)])
    with store.read() as tx:
        assert [i.components for i in tx.open_incidents()] == [("api",), ("db",)]


def test_recovery_resolves_at_once_without_resolve_after(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path, "incidents: {resolve_after: 0s}\n")
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])
    pipeline.handle([r("api.tcp", 700, State.UP)])
    pipeline.handle([r("api.tcp", 760, State.UP)])
    with store.read() as tx:
        (incident,) = tx.incidents()
        kinds = [e.kind for e in tx.events()]
    assert incident.phase is Phase.RESOLVED
    assert incident.resolved_at == T0 + timedelta(seconds=760)
    assert "12 minutes" in incident.updates[-1].message
    assert kinds == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_RESOLVED]


def test_recovery_is_monitored_then_resolved_after_calm(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path)  # resolve_after defaults to 5 minutes
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])
    pipeline.handle([r("api.tcp", 700, State.UP)])
    pipeline.handle([r("api.tcp", 710, State.UP)])
    pipeline.tick(T0 + timedelta(seconds=710 + 299))
    with store.read() as tx:
        (incident,) = tx.open_incidents()
    assert incident.phase is Phase.MONITORING
    pipeline.tick(T0 + timedelta(seconds=710 + 300))
    with store.read() as tx:
        (incident,) = tx.incidents()
        kinds = [e.kind for e in tx.events()]
    assert incident.phase is Phase.RESOLVED
    assert "The outage lasted 11 minutes" in incident.updates[-1].message
    assert kinds == [
        EventKind.INCIDENT_OPENED,
        EventKind.INCIDENT_UPDATED,
        EventKind.INCIDENT_RESOLVED,
    ]


def test_relapse_while_monitoring_continues_the_same_incident(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path, "incidents: {remind_after: 0s}\n")
    up_all(pipeline, 0)
    for t, state in (
        (30, State.DOWN),
        (40, State.DOWN),
        (50, State.UP),
        (60, State.UP),
        (70, State.DOWN),
        (80, State.DOWN),
    ):
        pipeline.handle([r("api.tcp", t, state)])
    pipeline.tick(T0 + timedelta(hours=1))
    with store.read() as tx:
        (incident,) = tx.incidents()
    assert incident.is_open
    assert incident.phase is Phase.INVESTIGATING
    assert "failing again" in incident.updates[-1].message


def test_failing_canary_means_no_incident(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path, "canary: {type: tcp, host: 127.0.0.1, port: 9}\n")
    up_all(pipeline, 0)
    for t in (30, 40, 50, 60):  # the canary runs as often as the checks and keeps failing
        assert pipeline.handle([r("canary", t - 1), r("api.tcp", t)]) == []
    assert pipeline.counters.suppressed == 4
    with store.read() as tx:
        assert tx.open_incidents() == []
        assert tx.events() == []


def test_nearly_every_check_failing_at_once_is_our_network_not_theirs(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path)
    up_all(pipeline, 0)
    everything = ("api", "db", "web", "cdn", "mail")
    for t in (30, 40, 50):
        pipeline.handle([r(f"{c}.tcp", t + i * 0.1) for i, c in enumerate(everything)])
    with store.read() as tx:
        assert tx.open_incidents() == []
    assert pipeline.counters.suppressed > 0


def test_maintenance_from_config_is_announced_started_ended_and_suppresses(tmp_path: Path) -> None:
    window = """
maintenance:
  - id: upgrade
    title: Database upgrade
    components: [db]
    start: 2026-11-22T08:00:00+00:00
    end: 2026-11-22T09:00:00+00:00
    notice: 2h
"""
    pipeline, store = make(tmp_path, window)
    up_all(pipeline, 0)
    pipeline.tick(T0)
    pipeline.tick(T0 + timedelta(hours=1, minutes=1))
    start = 3660
    pipeline.handle([r("db.tcp", start + 10)])
    pipeline.handle([r("db.tcp", start + 20)])  # confirmed down, but in maintenance
    with store.read() as tx:
        assert tx.open_incidents() == []
    pipeline.tick(T0 + timedelta(hours=2, minutes=1))  # the window ends; db is still down
    with store.read() as tx:
        kinds = [e.kind for e in tx.events()]
        (incident,) = tx.open_incidents()
        (m,) = tx.maintenances()
    assert kinds == [
        EventKind.MAINTENANCE_SCHEDULED,
        EventKind.MAINTENANCE_STARTED,
        EventKind.MAINTENANCE_ENDED,
        EventKind.INCIDENT_OPENED,
    ]
    assert incident.components == ("db",)
    assert m.status is MaintenanceStatus.COMPLETED


def test_restart_keeps_the_open_incident_and_resolves_it_on_recovery(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path, "incidents: {resolve_after: 0s}\n")
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])
    store.close()

    again, store = make(tmp_path, "incidents: {resolve_after: 0s}\n")  # a new process
    assert again.detector.state("api") is State.DOWN
    again.handle([r("api.tcp", 100)])
    again.handle([r("api.tcp", 110)])
    with store.read() as tx:
        assert len(tx.incidents()) == 1
    again.handle([r("api.tcp", 120, State.UP)])
    again.handle([r("api.tcp", 130, State.UP)])
    with store.read() as tx:
        (incident,) = tx.incidents()
    assert incident.phase is Phase.RESOLVED


def test_flapping_target_opens_at_most_one_incident(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path, "")
    up_all(pipeline, 0)
    # fail_after=2, recover_after=2, toggling every two results: the worst case for thresholds.
    state = State.DOWN
    for n in range(40):
        if n % 2 == 0:
            state = State.UP if state is State.DOWN else State.DOWN
        pipeline.handle([r("api.tcp", 30 + n * 10, state)])
    with store.read() as tx:
        assert len(tx.incidents()) == 1
        opened = [e for e in tx.events() if e.kind is EventKind.INCIDENT_OPENED]
        resolved = [e for e in tx.events() if e.kind is EventKind.INCIDENT_RESOLVED]
    assert len(opened) == 1
    assert resolved == []


@pytest.mark.parametrize("reload_changes_api", [False, True])
def test_reconfigure_keeps_open_incidents_and_detection(
    tmp_path: Path, reload_changes_api: bool
) -> None:
    pipeline, store = make(tmp_path)
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])
    text = BASE.replace("Public API", "Public REST API") if reload_changes_api else BASE
    pipeline.reconfigure(configmod.from_text(text, "t.yaml", env={}))
    assert pipeline.detector.state("api") is State.DOWN
    pipeline.handle([r("api.tcp", 50)])
    with store.read() as tx:
        assert len(tx.open_incidents()) == 1
        assert tx.components()[0].name == (
            "Public REST API" if reload_changes_api else "Public API"
        )


def test_a_locked_database_delays_the_incident_but_never_loses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("statusbot.store.engine.BUSY_TIMEOUT_MS", 50)
    pipeline, store = make(tmp_path)
    up_all(pipeline, 0)
    other = sqlite3.connect(tmp_path / "statusbot.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(StoreError):
        pipeline.handle([r("api.tcp", 30)])
    with pytest.raises(StoreError):
        pipeline.handle([r("api.tcp", 40)])  # the confirming failure: its write fails too
    other.execute("ROLLBACK")
    other.close()
    pipeline.flush()
    with store.read() as tx:
        (incident,) = tx.open_incidents()
        stored = tx.results("api.tcp", T0, T0 + timedelta(minutes=1))
    assert incident.opened_at == T0 + timedelta(seconds=40)
    assert [x.at for x in stored][-2:] == [T0 + timedelta(seconds=30), T0 + timedelta(seconds=40)]
    assert pipeline.counters.store_errors == 2


def _maintenance_now(store: Store, component: str, minutes: int = 60) -> int:
    with store.write(durable=True) as tx:
        m = tx.apply(
            ScheduleMaintenance(
                "Upgrade", "", (component,), T0, T0 + timedelta(minutes=minutes), "cli:test", T0
            ),
            ["console"],
        )
    assert isinstance(m, Maintenance)
    return m.id


def test_recovery_during_maintenance_resolves_the_incident(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path, "incidents: {resolve_after: 0s}\n")
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])
    _maintenance_now(store, "api")
    pipeline.tick(T0 + timedelta(seconds=45))
    pipeline.handle([r("api.tcp", 50, State.UP)])
    pipeline.handle([r("api.tcp", 60, State.UP)])
    with store.read() as tx:
        (incident,) = tx.incidents()
    assert incident.phase is Phase.RESOLVED


def test_cancelling_maintenance_while_down_opens_the_incident(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path)
    up_all(pipeline, 0)
    m = _maintenance_now(store, "db")
    pipeline.tick(T0 + timedelta(seconds=25))
    pipeline.handle([r("db.tcp", 30)])
    pipeline.handle([r("db.tcp", 40)])
    with store.read() as tx:
        assert tx.open_incidents() == []
    with store.write(durable=True) as tx:  # what `statusbot maintenance cancel` does
        tx.apply(CancelMaintenance(m, T0 + timedelta(seconds=50)), ["console"])
    pipeline.tick(T0 + timedelta(seconds=55))
    with store.read() as tx:
        (incident,) = tx.open_incidents()
    assert incident.components == ("db",)


CANARY = "canary: {type: tcp, host: 127.0.0.1, port: 9}\n"


def test_an_outage_waits_for_a_canary_answer_taken_after_the_failures_began(
    tmp_path: Path,
) -> None:
    pipeline, store = make(tmp_path, CANARY)
    pipeline.handle([r("canary", 0, State.UP)])
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])  # confirmed, but the canary last spoke before t=30
    with store.read() as tx:
        assert tx.open_incidents() == []
    assert pipeline.counters.held == 1
    pipeline.handle([r("canary", 42, State.UP)])  # our own network is fine: announce
    with store.read() as tx:
        (incident,) = tx.open_incidents()
    assert incident.opened_at == T0 + timedelta(seconds=40)


def test_a_late_failing_canary_means_the_outage_is_never_announced(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path, CANARY + "incidents: {resolve_after: 0s}\n")
    pipeline.handle([r("canary", 0, State.UP)])
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])
    pipeline.handle([r("canary", 42, State.DOWN)])  # it was us, not them
    pipeline.handle([r("api.tcp", 50, State.UP)])
    pipeline.handle([r("api.tcp", 60, State.UP)])
    pipeline.handle([r("canary", 62, State.UP)])
    with store.read() as tx:
        assert tx.incidents() == []
        assert tx.events() == []


def test_an_incident_nobody_updates_gets_a_reminder_every_remind_after(tmp_path: Path) -> None:
    pipeline, store = make(tmp_path, "incidents: {remind_after: 30m}\n")
    up_all(pipeline, 0)
    pipeline.handle([r("api.tcp", 30)])
    pipeline.handle([r("api.tcp", 40)])
    opened = T0 + timedelta(seconds=40)
    pipeline.tick(opened + timedelta(minutes=29))
    pipeline.tick(opened + timedelta(minutes=30))
    pipeline.tick(opened + timedelta(minutes=31))  # just reminded: quiet again
    with store.read() as tx:
        kinds = [e.kind for e in tx.events()]
        (incident,) = tx.open_incidents()
    assert kinds == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_REMINDER]
    assert incident.updates[-1].message == (
        "We are still investigating (for 30 minutes now). We will post again when we know more."
    )
    pipeline.tick(opened + timedelta(minutes=60))  # the first reminder is still unsent: folded
    with store.read() as tx:
        events = tx.events()
    assert [e.kind for e in events] == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_REMINDER]
    assert "for 1 hour now" in str(events[-1].payload["message"])


def test_tick_says_when_something_shown_changed(tmp_path: Path) -> None:
    """The daemon rebuilds the page and wakes the couriers only when a tick says so: for what
    the tick itself did, and for what another process (the CLI) wrote since the last tick."""
    window = """
maintenance:
  - {id: upgrade, title: Upgrade, components: [db], start: 2026-11-22T08:00:00+00:00,
     end: 2026-11-22T09:00:00+00:00, notice: 2h}
"""
    pipeline, _store = make(tmp_path, window)
    up_all(pipeline, 0)
    assert pipeline.tick(T0 + timedelta(seconds=20)) is True  # announces the window
    assert pipeline.tick(T0 + timedelta(seconds=25)) is False
    assert pipeline.tick(T0 + timedelta(seconds=30)) is False
    cli = Store.open(f"sqlite:///{tmp_path}/statusbot.db")
    with cli.write() as tx:
        opened = OpenIncident("Mail delays", Impact.MINOR, ("mail",), "Looking.", T0, auto=False)
        tx.apply(opened, ["console"])
    cli.close()
    assert pipeline.tick(T0 + timedelta(seconds=35)) is True
    assert pipeline.tick(T0 + timedelta(seconds=40)) is False
    assert pipeline.tick(T0 + timedelta(hours=1)) is True  # the window starts
    assert pipeline.tick(T0 + timedelta(hours=1, seconds=5)) is False
