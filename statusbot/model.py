"""Domain types shared by every stage: plain frozen data, no I/O, no clock reads.

Flow: a probe returns an ``Outcome``; the runner stamps it into a ``CheckResult``; the detector
turns results into ``Transition``s; the incident rules turn transitions and operator commands
into ``Change``s; the store applies changes, writing the ``Event``s to announce into the outbox
in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware UTC. Injected wherever time matters."""


def utcnow() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class State(StrEnum):
    """Health of a check or component. Checks only ever report UP, DEGRADED or DOWN."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        """Ordering for "worst of": up < degraded < down. Unknown/maintenance rank as up."""
        return _SEVERITY.get(self, 0)


_SEVERITY = {State.UP: 0, State.DEGRADED: 1, State.DOWN: 2}


def worst(states: Iterable[State]) -> State:
    """The most severe of ``states`` (UP when empty)."""
    return max(states, key=lambda s: s.severity, default=State.UP)


def best(states: Iterable[State]) -> State:
    """The least severe of ``states`` (UP when empty)."""
    return min(states, key=lambda s: s.severity, default=State.UP)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a probe saw. ``reason`` is for humans: "HTTP 503 from https://…"."""

    state: State
    reason: str = ""
    latency: float | None = None  # seconds; None when nothing answered

    @classmethod
    def up(cls, reason: str = "", latency: float | None = None) -> Outcome:
        return cls(State.UP, reason, latency)

    @classmethod
    def degraded(cls, reason: str, latency: float | None = None) -> Outcome:
        return cls(State.DEGRADED, reason, latency)

    @classmethod
    def down(cls, reason: str, latency: float | None = None) -> Outcome:
        return cls(State.DOWN, reason, latency)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One run of one check, stamped by the runner."""

    check_id: str
    component_id: str
    at: datetime
    state: State
    reason: str = ""
    latency: float | None = None

    @classmethod
    def of(cls, check_id: str, component_id: str, at: datetime, outcome: Outcome) -> CheckResult:
        return cls(check_id, component_id, at, outcome.state, outcome.reason, outcome.latency)


@dataclass(frozen=True, slots=True)
class Transition:
    """A confirmed change of a component's state."""

    component_id: str
    old: State
    new: State
    at: datetime
    reason: str = ""
    flapping: bool = False


class Phase(StrEnum):
    """Incident phases, in the vocabulary status pages use."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Impact(StrEnum):
    """Statuspage impact vocabulary."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class EventKind(StrEnum):
    """What an outbox event announces."""

    INCIDENT_OPENED = "incident.opened"
    INCIDENT_UPDATED = "incident.updated"
    INCIDENT_REMINDER = "incident.reminder"
    INCIDENT_RESOLVED = "incident.resolved"
    MAINTENANCE_SCHEDULED = "maintenance.scheduled"
    MAINTENANCE_STARTED = "maintenance.started"
    MAINTENANCE_ENDED = "maintenance.ended"
    MAINTENANCE_CANCELLED = "maintenance.cancelled"


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    """One entry of an incident's timeline."""

    id: int
    incident_id: int
    at: datetime
    kind: EventKind
    phase: Phase
    message: str


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as stored. ``components`` keeps the order in which they joined."""

    id: int
    title: str
    phase: Phase
    impact: Impact
    components: tuple[str, ...]
    opened_at: datetime
    resolved_at: datetime | None = None
    auto: bool = False
    recovered: frozenset[str] = frozenset()  # components (of an auto incident) seen healthy again
    updates: tuple[IncidentUpdate, ...] = ()  # oldest first; may be empty when not loaded
    acked_at: datetime | None = None  # when an operator acknowledged it (require_ack channels)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def duration(self, now: datetime) -> float:
        """Seconds from opening to resolution (or to ``now`` while open)."""
        return ((self.resolved_at or now) - self.opened_at).total_seconds()


class MaintenanceStatus(StrEnum):
    """Statuspage maintenance vocabulary, plus cancelled."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Maintenance:
    """A maintenance window. ``source`` (unique) is "cli:<when made>" or, from the config,
    "config:<id>@<start>/<end>" (UTC, ISO 8601)."""

    id: int
    title: str
    message: str
    components: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    status: MaintenanceStatus
    source: str

    def active(self, now: datetime) -> bool:
        return (
            self.status is not MaintenanceStatus.CANCELLED and self.starts_at <= now < self.ends_at
        )


# --- Changes: what the incident rules and the operator CLI ask the store to do ---------------


@dataclass(frozen=True, slots=True)
class OpenIncident:
    title: str
    impact: Impact
    components: tuple[str, ...]
    message: str
    at: datetime
    auto: bool
    phase: Phase = Phase.INVESTIGATING


@dataclass(frozen=True, slots=True)
class UpdateIncident:
    """An update. ``phase`` None keeps the current phase.

    ``add_components`` joins components (a storm, or a relapse); ``recovered`` marks components
    healthy again. ``auto`` says the rules wrote it, not a person. With ``fold_into`` (only for
    ``auto`` updates) the store may fold it into the incident's latest announcement when that is
    of this kind, was written by the rules and has not been attempted on any channel: that
    announcement then carries this update's message instead of its own (so the message must
    describe the whole situation), and customers get one post instead of two. An operator's
    words are never replaced.

    ``gather`` (a storm's join, after the opening went out): the update's deliveries wait that
    long, and a later update with ``gather`` folds into it while none has been attempted, so a
    storm that keeps spreading makes one post, not one per component. Any other announcement of
    the incident lets a waiting one go at once, so nothing overtakes it.
    """

    incident_id: int
    at: datetime
    message: str
    phase: Phase | None = None
    kind: EventKind = EventKind.INCIDENT_UPDATED
    add_components: tuple[str, ...] = ()
    recovered: tuple[str, ...] = ()
    auto: bool = False
    fold_into: EventKind | None = None
    gather: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ResolveIncident:
    incident_id: int
    at: datetime
    message: str


@dataclass(frozen=True, slots=True)
class ScheduleMaintenance:
    title: str
    message: str
    components: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    source: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StartMaintenance:
    maintenance_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class EndMaintenance:
    maintenance_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class CancelMaintenance:
    maintenance_id: int
    at: datetime


Change = (
    OpenIncident
    | UpdateIncident
    | ResolveIncident
    | ScheduleMaintenance
    | StartMaintenance
    | EndMaintenance
    | CancelMaintenance
)


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    """A component as the store and the page know it (synced from config at start)."""

    id: str
    name: str
    group: str | None = None
    description: str | None = None
    position: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    """An announcement waiting in (or delivered from) the outbox.

    ``payload`` is self-contained JSON-able data (titles, component names, phase, message,
    duration) so a publisher never needs to read anything else to render it.
    """

    id: int
    kind: EventKind
    at: datetime
    incident_id: int | None
    maintenance_id: int | None
    payload: dict[str, object] = field(default_factory=dict)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event × one channel."""

    id: int
    event_id: int
    channel: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    remote_id: str | None = None
    error: str | None = None
    first_attempt_at: datetime | None = None
    text: str | None = None  # what was sent on the first attempt (retries send the same)
    idempotency_key: str | None = None  # the key of the first attempt (retries send the same)
