"""Incident rules: transitions in, changes out, as a customer should experience them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from statusbot.incidents import (
    IncidentPolicy,
    due_resolutions,
    humanize_duration,
    on_maintenance_over,
    on_transition,
)
from statusbot.model import (
    EventKind,
    Impact,
    Incident,
    IncidentUpdate,
    OpenIncident,
    Phase,
    ResolveIncident,
    State,
    Transition,
    UpdateIncident,
)

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
UP, DEGRADED, DOWN, UNKNOWN = State.UP, State.DEGRADED, State.DOWN, State.UNKNOWN
SECRET = "db.internal:5432"  # probe reasons name internal hosts: never in public text
POLICY = IncidentPolicy(names={"api": "Public API", "db": "Database", "web": "Website"})


def tr(component: str, old: State, new: State, t: float = 0) -> Transition:
    return Transition(
        component, old, new, T0 + timedelta(seconds=t), f"connect to {SECRET}: refused"
    )


def incident(*components: str, id: int = 7, t: float = 0, auto: bool = True, **kw) -> Incident:
    return Incident(
        id=id,
        title="x",
        phase=Phase.INVESTIGATING,
        impact=Impact.MAJOR,
        components=components,
        opened_at=T0 + timedelta(seconds=t),
        auto=auto,
        **kw,
    )


def test_down_opens_an_auto_incident():
    [change] = on_transition(tr("api", UP, DOWN), [], set(), POLICY)
    assert change == OpenIncident(
        title="Public API outage",
        impact=Impact.MAJOR,
        components=("api",),
        message="Public API is not responding. We are investigating and will post an update soon.",
        at=T0,
        auto=True,
    )


def test_unknown_to_down_opens_an_incident():
    [change] = on_transition(tr("api", UNKNOWN, DOWN), [], set(), POLICY)
    assert isinstance(change, OpenIncident)


def test_degraded_opens_nothing_by_default():
    assert on_transition(tr("api", UP, DEGRADED), [], set(), POLICY) == []


def test_degraded_opens_minor_incident_when_asked():
    policy = replace(POLICY, open_on=DEGRADED)
    [change] = on_transition(tr("api", UP, DEGRADED), [], set(), policy)
    assert isinstance(change, OpenIncident)
    assert change.impact is Impact.MINOR
    assert change.title == "Public API degraded performance"


def test_storm_joins_the_recent_auto_incident_in_one_post():
    open_ = [incident("api", t=0)]
    [change] = on_transition(tr("db", UP, DOWN, t=45), open_, set(), POLICY)
    assert change == UpdateIncident(
        incident_id=7,
        at=T0 + timedelta(seconds=45),
        message=(
            "Public API and Database are not responding. "
            "We are investigating and will post an update soon."
        ),
        add_components=("db",),
        auto=True,
        fold_into=EventKind.INCIDENT_OPENED,
        gather=timedelta(seconds=30),  # half the storm window: later joins fold into it
    )


def test_failure_after_the_storm_window_opens_a_new_incident():
    open_ = [incident("api", t=0)]
    [change] = on_transition(tr("db", UP, DOWN, t=61), open_, set(), POLICY)
    assert isinstance(change, OpenIncident)
    assert change.components == ("db",)


def test_manual_incident_is_not_joined_by_a_storm():
    open_ = [incident("api", auto=False)]
    [change] = on_transition(tr("db", UP, DOWN, t=10), open_, set(), POLICY)
    assert isinstance(change, OpenIncident)


def test_no_incident_while_in_maintenance():
    assert on_transition(tr("api", UP, DOWN), [], {"api"}, POLICY) == []


def test_component_already_in_an_open_incident_opens_nothing():
    assert on_transition(tr("api", UP, DOWN), [incident("api", auto=False)], set(), POLICY) == []


def test_worsening_within_an_incident_is_reported():
    policy = replace(POLICY, open_on=DEGRADED)
    [change] = on_transition(tr("api", DEGRADED, DOWN), [incident("api")], set(), policy)
    assert isinstance(change, UpdateIncident)
    assert change.message == "Public API is now not responding at all. We are working on it."


def test_partial_recovery_then_resolve_with_duration():
    open_ = [incident("api", "db", t=0)]
    [update] = on_transition(tr("api", DOWN, UP, t=600), open_, set(), POLICY)
    assert update == UpdateIncident(
        incident_id=7,
        at=T0 + timedelta(minutes=10),
        message="Public API has recovered; we are still working on Database.",
        recovered=("api",),
        auto=True,
        fold_into=EventKind.INCIDENT_UPDATED,
    )
    open_ = [incident("api", "db", t=0, recovered=frozenset({"api"}))]
    [resolve] = on_transition(tr("db", DOWN, UP, t=3900), open_, set(), POLICY)
    assert resolve == ResolveIncident(
        incident_id=7,
        at=T0 + timedelta(seconds=3900),
        message="Public API and Database are working normally again. "
        "The outage lasted 1 hour 5 minutes.",
    )


def test_recovery_seen_again_is_not_reported_twice():
    open_ = [incident("api", "db", recovered=frozenset({"api"}))]
    assert on_transition(tr("api", DOWN, UP, t=60), open_, set(), POLICY) == []


def test_recovery_after_restart_resolves_the_stored_incident():
    [change] = on_transition(tr("api", UNKNOWN, UP, t=125), [incident("api")], set(), POLICY)
    assert isinstance(change, ResolveIncident)
    assert change.message.endswith("The outage lasted 2 minutes.")


def test_up_after_start_without_incident_does_nothing():
    assert on_transition(tr("api", UNKNOWN, UP), [], set(), POLICY) == []


def test_manual_incident_is_never_auto_resolved():
    assert on_transition(tr("api", DOWN, UP), [incident("api", auto=False)], set(), POLICY) == []


def test_resolved_incidents_are_ignored():
    closed = incident("api", resolved_at=T0 + timedelta(seconds=30))
    assert on_transition(tr("api", DOWN, UP, t=60), [closed], set(), POLICY) == []
    [change] = on_transition(tr("db", UP, DOWN, t=40), [closed], set(), POLICY)
    assert isinstance(change, OpenIncident)


def test_relapse_after_partial_recovery_rejoins_the_open_incident():
    open_ = [incident("api", "db", recovered=frozenset({"api"}))]
    [change] = on_transition(tr("api", UP, DOWN, t=30), open_, set(), POLICY)
    assert isinstance(change, UpdateIncident)
    assert change.add_components == ("api",)  # the store clears its recovered mark
    assert change.phase is None
    assert change.message == (
        "Public API is failing again. We are investigating. We are still working on Database."
    )


def test_last_recovery_with_resolve_after_moves_to_monitoring_not_resolved():
    policy = replace(POLICY, resolve_after=timedelta(minutes=5))
    [change] = on_transition(tr("api", DOWN, UP, t=300), [incident("api")], set(), policy)
    assert isinstance(change, UpdateIncident)
    assert change.phase is Phase.MONITORING
    assert change.recovered == ("api",)


def test_relapse_while_monitoring_goes_back_to_investigating():
    watched = replace(incident("api", recovered=frozenset({"api"})), phase=Phase.MONITORING)
    [change] = on_transition(tr("api", UP, DOWN, t=400), [watched], set(), POLICY)
    assert isinstance(change, UpdateIncident)
    assert change.phase is Phase.INVESTIGATING


def test_due_resolutions_wait_for_calm_and_healthy_components():
    policy = replace(POLICY, resolve_after=timedelta(minutes=5))
    calm_since = T0 + timedelta(minutes=10)
    update = IncidentUpdate(1, 7, calm_since, EventKind.INCIDENT_UPDATED, Phase.MONITORING, "ok")
    watched = replace(
        incident("api", recovered=frozenset({"api"})), phase=Phase.MONITORING, updates=(update,)
    )
    early = calm_since + timedelta(minutes=4, seconds=59)
    assert due_resolutions([watched], {"api": UP}, early, policy) == []
    late = calm_since + timedelta(minutes=5)
    assert due_resolutions([watched], {"api": DOWN}, late, policy) == []
    [change] = due_resolutions([watched], {"api": UP}, late, policy)
    assert isinstance(change, ResolveIncident)
    assert "The outage lasted 10 minutes" in change.message
    manual = replace(watched, auto=False)
    assert due_resolutions([manual], {"api": UP}, late, policy) == []


def test_maintenance_over_opens_one_incident_for_the_still_failing():
    states = {"api": DOWN, "db": DEGRADED, "web": DOWN}
    open_ = [incident("web", auto=False)]
    [change] = on_maintenance_over(["api", "db", "web"], states, open_, POLICY, T0)
    assert isinstance(change, OpenIncident)
    assert change.components == ("api",)  # db is only degraded; web has its incident
    assert change.message.startswith(
        "Public API is not responding after the scheduled maintenance."
    )
    policy = replace(POLICY, open_on=DEGRADED)
    [change] = on_maintenance_over(["api", "db"], states, [], policy, T0)
    assert isinstance(change, OpenIncident)
    assert (change.components, change.impact) == (("api", "db"), Impact.MAJOR)
    assert on_maintenance_over(["api"], {"api": UP}, [], POLICY, T0) == []


def test_reason_never_leaks_into_public_text():
    policy = replace(POLICY, open_on=DEGRADED)
    scenarios = [
        (tr("api", UP, DOWN), []),
        (tr("api", UP, DEGRADED), []),
        (tr("db", UP, DOWN, t=5), [incident("api")]),
        (tr("api", DEGRADED, DOWN), [incident("api")]),
        (tr("api", DOWN, UP, t=90), [incident("api", "db")]),
        (tr("api", DOWN, DEGRADED, t=90), [incident("api")]),
        (tr("api", DOWN, UP, t=90), [incident("api")]),
    ]
    texts = []
    for transition, open_ in scenarios:
        for change in on_transition(transition, open_, set(), policy):
            texts.append(str(change))
    assert len(texts) == len(scenarios) - 1  # DOWN→DEGRADED stays bad under open_on=degraded
    assert all(SECRET not in text for text in texts)


def test_open_on_must_be_a_bad_state():
    with pytest.raises(ValueError, match="open_on"):
        IncidentPolicy(names={}, open_on=UP)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (45, "45 seconds"),
        (60, "1 minute"),
        (12 * 60 + 59, "12 minutes"),
        (3600, "1 hour"),
        (3900, "1 hour 5 minutes"),
        (2 * 86400 + 3 * 3600 + 59, "2 days 3 hours"),
        (86400 + 120, "1 day"),
        (-5, "0 seconds"),
    ],
)
def test_humanize_duration(seconds, text):
    assert humanize_duration(seconds) == text


def test_recovery_during_maintenance_still_resolves_the_incident():
    [change] = on_transition(tr("api", DOWN, UP, t=300), [incident("api")], {"api"}, POLICY)
    assert isinstance(change, ResolveIncident)


def test_failure_during_maintenance_opens_nothing():
    assert on_transition(tr("api", UP, DOWN, t=300), [], {"api"}, POLICY) == []


def test_storm_joining_a_monitored_incident_reopens_investigation_for_the_new_one_only():
    watched = replace(incident("api", recovered=frozenset({"api"}), t=0), phase=Phase.MONITORING)
    [change] = on_transition(tr("db", UP, DOWN, t=50), [watched], set(), POLICY)
    assert isinstance(change, UpdateIncident)
    assert change.phase is Phase.INVESTIGATING
    assert change.message.startswith("Database is not responding.")
