"""Incident rules: confirmed transitions → Changes for the store. Pure: no I/O, no clock reads.

What a customer should experience (DESIGN, "Incidents"):

- a component that drops out opens an incident (auto), in plain words, within seconds;
- components that drop out within ``storm_window`` of an auto incident's opening join it (one
  incident, one post: the update may fold into the still unsent opening announcement);
- automatic updates may fold into the previous automatic update while it is unsent (two
  components recovering in the same instant make one post, not two), so each rule writes a
  message that describes the whole situation;
- a component that recovers is reported; when the last one recovers the incident is resolved,
  with how long the outage lasted — at once, or, with ``resolve_after``, after that long in phase
  *monitoring* (:func:`due_resolutions`), so a target that comes and goes yields one incident,
  not a string of them. A component failing again while its incident is open rejoins it.
  Manual incidents are the operator's: never auto-resolved;
- nothing is opened for a component while its maintenance lasts; if it is still failing when the
  maintenance ends, :func:`on_maintenance_over` opens the incident then.

Public text never contains ``Transition.reason``: probe reasons name internal hosts and belong in
logs only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta

from statusbot.model import (
    Change,
    EventKind,
    Impact,
    Incident,
    OpenIncident,
    Phase,
    ResolveIncident,
    State,
    Transition,
    UpdateIncident,
)

__all__ = [
    "IncidentPolicy",
    "due_reminders",
    "due_resolutions",
    "humanize_duration",
    "on_maintenance_over",
    "on_transition",
]


@dataclass(frozen=True)
class IncidentPolicy:
    """Names customers see and the thresholds of the rules."""

    names: Mapping[str, str]
    """Component id → display name (the id is shown when missing)."""
    storm_window: timedelta = timedelta(seconds=60)
    open_on: State = State.DOWN
    """DOWN, or DEGRADED to also open (impact minor) on degraded."""
    resolve_after: timedelta = timedelta(0)
    """Calm time in phase monitoring before an auto incident resolves (0: resolve at once)."""

    def __post_init__(self) -> None:
        if self.open_on not in (State.DOWN, State.DEGRADED):
            raise ValueError(f"open_on must be down or degraded, not {self.open_on}")

    def name(self, component_id: str) -> str:
        """The display name of a component."""
        return self.names.get(component_id, component_id)

    def is_bad(self, state: State) -> bool:
        """Whether ``state`` is bad enough to be an incident."""
        return state.severity >= self.open_on.severity


def on_transition(
    tr: Transition,
    open_incidents: Sequence[Incident],
    in_maintenance: AbstractSet[str],
    policy: IncidentPolicy,
) -> list[Change]:
    """The changes one confirmed transition asks for (often none)."""
    incidents = sorted((i for i in open_incidents if i.is_open), key=lambda i: (i.opened_at, i.id))
    if policy.is_bad(tr.new):
        if tr.component_id in in_maintenance:
            return []  # expected during maintenance; on_maintenance_over looks again at its end
        return _went_bad(tr, incidents, policy)
    return _went_good(tr, incidents, policy)  # a recovery counts, maintenance or not


def on_maintenance_over(
    components: Iterable[str],
    states: Mapping[str, State],
    open_incidents: Sequence[Incident],
    policy: IncidentPolicy,
    now: datetime,
) -> list[Change]:
    """Open one incident for the components still failing when their maintenance ended."""
    incidents = [i for i in open_incidents if i.is_open]
    failing = [
        c
        for c in dict.fromkeys(components)
        if policy.is_bad(states.get(c, State.UNKNOWN)) and not _covering(c, incidents)
    ]
    if not failing:
        return []
    return [_open(failing, states, now, policy, after_maintenance=True)]


def due_resolutions(
    open_incidents: Sequence[Incident],
    states: Mapping[str, State],
    now: datetime,
    policy: IncidentPolicy,
) -> list[Change]:
    """Resolve auto incidents that stayed calm in phase monitoring for ``resolve_after``."""
    changes: list[Change] = []
    for incident in open_incidents:
        if not (incident.is_open and incident.auto and incident.phase is Phase.MONITORING):
            continue
        if set(incident.components) - incident.recovered:
            continue  # an operator set monitoring while something is still down
        if any(policy.is_bad(states.get(c, State.UNKNOWN)) for c in incident.components):
            continue
        since = incident.updates[-1].at if incident.updates else incident.opened_at
        if now - since < policy.resolve_after:
            continue
        names = [policy.name(c) for c in incident.components]
        lasted = humanize_duration((since - incident.opened_at).total_seconds())
        message = (
            f"{_join(names)} {_verb(names)} working normally and stayed stable for "
            f"{humanize_duration(policy.resolve_after.total_seconds())}. "
            f"The outage lasted {lasted}. This incident is resolved."
        )
        changes.append(ResolveIncident(incident.id, now, message))
    return changes


def due_reminders(
    open_incidents: Sequence[Incident], now: datetime, remind_after: timedelta
) -> list[Change]:
    """No silence: an open incident whose last update is ``remind_after`` old gets a reminder.

    Reminders are written by statusbot; an unsent one is replaced by the next (one post)."""
    if remind_after <= timedelta(0):
        return []
    changes: list[Change] = []
    for incident in open_incidents:
        last = incident.updates[-1].at if incident.updates else incident.opened_at
        if not incident.is_open or now - last < remind_after:
            continue
        since = humanize_duration((now - incident.opened_at).total_seconds())
        doing = _STILL.get(incident.phase, "We are still working on it")
        message = f"{doing} (for {since} now). We will post again when we know more."
        changes.append(
            UpdateIncident(
                incident.id,
                now,
                message,
                kind=EventKind.INCIDENT_REMINDER,
                auto=True,
                fold_into=EventKind.INCIDENT_REMINDER,
            )
        )
    return changes


_STILL = {
    Phase.INVESTIGATING: "We are still investigating",
    Phase.IDENTIFIED: "We have found the cause and are still working on a fix",
    Phase.MONITORING: "A fix is in place and we are still watching it",
}


def humanize_duration(seconds: float) -> str:
    """Two units at most: "45 seconds", "12 minutes", "1 hour 5 minutes", "2 days 3 hours"."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [(days, "day"), (hours, "hour")]
    elif hours:
        parts = [(hours, "hour"), (minutes, "minute")]
    elif minutes:
        parts = [(minutes, "minute")]
    else:
        return _plural(secs, "second")
    return " ".join(_plural(n, unit) for n, unit in parts if n)


# --- rules -------------------------------------------------------------------------------------


def _went_bad(tr: Transition, incidents: list[Incident], policy: IncidentPolicy) -> list[Change]:
    component, name = tr.component_id, policy.name(tr.component_id)
    covering = _covering(component, incidents)
    relapsed = [i for i in incidents if i.auto and component in i.recovered]
    if not covering and relapsed:
        incident = relapsed[-1]
        phase = Phase.INVESTIGATING if incident.phase is Phase.MONITORING else None
        others = [policy.name(c) for c in incident.components if c not in incident.recovered]
        still = f" We are still working on {_join(others)}." if others else ""
        message = f"{name} is failing again. We are investigating.{still}"
        return [_auto_update(incident.id, tr.at, message, phase=phase, add_components=(component,))]
    if covering:
        if tr.new is State.DOWN and tr.old is State.DEGRADED:
            message = f"{name} is now not responding at all. We are working on it."
            return [_auto_update(covering[-1].id, tr.at, message)]
        return []
    if policy.is_bad(tr.old):
        return []  # was already bad and its incident was closed by hand: the operator decided
    storm = [
        i
        for i in incidents
        if i.auto
        and component not in i.components
        and timedelta(0) <= tr.at - i.opened_at <= policy.storm_window
    ]
    if storm:
        joined = storm[-1]
        affected = [c for c in joined.components if c not in joined.recovered] + [component]
        states = {c: _state_of(joined) for c in affected} | {component: tr.new}
        whole = _open(affected, states, tr.at, policy).message
        phase = Phase.INVESTIGATING if joined.phase is Phase.MONITORING else None
        return [
            _auto_update(
                joined.id,
                tr.at,
                whole,
                phase=phase,
                add_components=(component,),
                fold_into=EventKind.INCIDENT_OPENED,
                gather=policy.storm_window / 2,
            )
        ]
    return [_open([component], {component: tr.new}, tr.at, policy)]


def _went_good(tr: Transition, incidents: list[Incident], policy: IncidentPolicy) -> list[Change]:
    component, name = tr.component_id, policy.name(tr.component_id)
    still_slow = (
        f" {name} is still slower than usual; we keep an eye on it."
        if tr.new is State.DEGRADED
        else ""
    )
    changes: list[Change] = []
    for incident in incidents:
        if (
            not incident.auto
            or component not in incident.components
            or component in incident.recovered
        ):
            continue
        others = [c for c in incident.components if c != component and c not in incident.recovered]
        if others:
            message = (
                f"{name} has recovered; we are still working on "
                f"{_join(policy.name(c) for c in others)}.{still_slow}"
            )
            changes.append(_auto_update(incident.id, tr.at, message, recovered=(component,)))
        elif policy.resolve_after:
            names = [policy.name(c) for c in incident.components]
            message = (
                f"{_join(names)} {_verb(names)} working normally again. We are monitoring "
                f"to make sure it stays that way.{still_slow}"
            )
            changes.append(
                _auto_update(
                    incident.id, tr.at, message, phase=Phase.MONITORING, recovered=(component,)
                )
            )
        else:
            names = [policy.name(c) for c in incident.components]
            lasted = humanize_duration(incident.duration(tr.at))
            message = (
                f"{_join(names)} {_verb(names)} working normally again. "
                f"The outage lasted {lasted}.{still_slow}"
            )
            changes.append(ResolveIncident(incident.id, tr.at, message))
    return changes


def _auto_update(
    incident_id: int,
    at: datetime,
    message: str,
    *,
    phase: Phase | None = None,
    add_components: tuple[str, ...] = (),
    recovered: tuple[str, ...] = (),
    fold_into: EventKind = EventKind.INCIDENT_UPDATED,
    gather: timedelta | None = None,
) -> UpdateIncident:
    """An update written by the rules; it may replace the previous unsent automatic one."""
    return UpdateIncident(
        incident_id,
        at,
        message,
        phase=phase,
        add_components=add_components,
        recovered=recovered,
        auto=True,
        fold_into=fold_into,
        gather=gather,
    )


def _state_of(incident: Incident) -> State:
    """What an auto incident's components were when it opened, from its impact."""
    return State.DOWN if incident.impact in (Impact.MAJOR, Impact.CRITICAL) else State.DEGRADED


def _covering(component: str, incidents: Sequence[Incident]) -> list[Incident]:
    """Open incidents in which ``component`` is (still) affected."""
    return [i for i in incidents if component in i.components and component not in i.recovered]


def _open(
    components: Sequence[str],
    states: Mapping[str, State],
    at: datetime,
    policy: IncidentPolicy,
    *,
    after_maintenance: bool = False,
) -> OpenIncident:
    down = [policy.name(c) for c in components if states.get(c) is State.DOWN]
    slow = [policy.name(c) for c in components if states.get(c) is not State.DOWN]
    everyone = _join(policy.name(c) for c in components)
    parts = []
    if down:
        parts.append(f"{_join(down)} {_verb(down)} not responding")
    if slow:
        parts.append(f"{_join(slow)} {_verb(slow)} slower than usual or partly failing")
    when = " after the scheduled maintenance" if after_maintenance else ""
    message = f"{' and '.join(parts)}{when}. We are investigating and will post an update soon."
    return OpenIncident(
        title=f"{everyone} outage" if down else f"{everyone} degraded performance",
        impact=Impact.MAJOR if down else Impact.MINOR,
        components=tuple(components),
        message=message,
        at=at,
        auto=True,
    )


# --- words -------------------------------------------------------------------------------------


def _join(names: Iterable[str]) -> str:
    """Names joined the way people write them: A · A and B · A, B and C."""
    items = list(names)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _verb(names: Sequence[str]) -> str:
    return "is" if len(names) == 1 else "are"


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
