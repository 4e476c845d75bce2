"""The Atlassian Statuspage v2 JSON documents (REFERENCE.md §4) and a shields.io badge.

Pure: :func:`documents` turns a :class:`~statusbot.page.snapshot.Snapshot` into JSON-able
dicts keyed by their path relative to the site root; the site writer serialises them.

**Ids.** Statuspage ids are opaque 12-character strings. Ours are the first 12 hex digits of
the SHA-256 of ``"<kind>:<key>"`` (:func:`sid`), so they are stable across regenerations and
restarts: ``page:<site.url or site.title>``, ``component:<component id>``, ``group:<group
name>``, ``incident:<store id>``, ``update:<store id>``, ``maintenance:<store id>`` and, for
the updates we derive from a maintenance's status, ``maintenance-update:<store id>:<status>``.

**Decisions.** Cancelled maintenances are left out of every document: Statuspage has no
``cancelled`` status and calling them ``completed`` would claim work that never happened (a
deleted Statuspage maintenance vanishes the same way). While components are in maintenance the
indicator is ``none`` with the description "Service Under Maintenance" (only the four
documented indicators are emitted). A component that is DOWN is ``major_outage`` (we cannot
tell a partial outage of one component); a group whose members are partly in ``major_outage``
is ``partial_outage``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from statusbot.model import Incident, Maintenance, MaintenanceStatus, Phase, State
from statusbot.page.snapshot import ComponentView, Overall, Snapshot

__all__ = [
    "MaintenanceStep",
    "announced_at",
    "documents",
    "incident_url",
    "iso",
    "maintenance_steps",
    "sid",
]

Json = dict[str, Any]

MAX_INCIDENTS = 50
MAX_MAINTENANCES = 50
DEFAULT_NOTICE = timedelta(hours=24)
"""The config's default maintenance ``notice``: our guess of when a configured window was
announced (the Maintenance model does not carry its creation time)."""

COMPONENT_STATUS = {
    State.UP: "operational",
    State.UNKNOWN: "operational",
    State.DEGRADED: "degraded_performance",
    State.DOWN: "major_outage",
    State.MAINTENANCE: "under_maintenance",
}
_RANK = (  # component statuses, best first
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
ROLLUP = {  # banner → status.json (indicator, description), badge.json (message, color)
    Overall.OPERATIONAL: ("none", "All Systems Operational", "operational", "brightgreen"),
    Overall.DEGRADED: ("minor", "Minor Service Outage", "degraded", "yellow"),
    Overall.PARTIAL_OUTAGE: ("major", "Partial System Outage", "partial outage", "orange"),
    Overall.MAJOR_OUTAGE: ("critical", "Major Service Outage", "major outage", "red"),
    Overall.MAINTENANCE: ("none", "Service Under Maintenance", "maintenance", "blue"),
}
_UNRESOLVED = (Phase.INVESTIGATING, Phase.IDENTIFIED, Phase.MONITORING)
_IMPACT_STATUS = {"none": "operational", "minor": "degraded_performance"}


def sid(kind: str, key: object) -> str:
    """The stable 12-character id of ``kind`` ``key`` (see the module docstring)."""
    return hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()[:12]


def iso(at: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``: ``2026-11-22T07:00:00.000Z``."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def incident_url(snap: Snapshot, incident_id: int) -> str | None:
    """The public URL of an incident's page, or None without ``site.url``."""
    return f"{snap.site.url}/incidents/{incident_id}.html" if snap.site.url else None


def announced_at(m: Maintenance, now: datetime) -> datetime:
    """When ``m`` was announced: the time in a ``cli:<when>`` source, else (configured windows)
    ``DEFAULT_NOTICE`` before its start; never after ``now``."""
    if m.source.startswith("cli:"):
        try:
            made = datetime.fromisoformat(m.source[4:])
        except ValueError:
            pass
        else:
            if made.tzinfo is not None:
                return min(made, now)
    return min(m.starts_at - DEFAULT_NOTICE, now)


def documents(snap: Snapshot) -> dict[str, Json]:
    """Every JSON document of the page, by path relative to the site root."""
    b = _Builder(snap)
    incidents = [b.incident(i) for i in snap.incidents[:MAX_INCIDENTS]]
    unresolved = [
        b.incident(i) for i in _newest_first(snap.open_incidents) if i.phase in _UNRESOLVED
    ]
    shown = [m for m in snap.maintenances if m.status is not MaintenanceStatus.CANCELLED]
    recent = sorted(shown, key=lambda m: (m.starts_at, m.id), reverse=True)[:MAX_MAINTENANCES]
    live = (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)
    soonest = sorted(shown, key=lambda m: (m.starts_at, m.id))
    indicator, description, message, color = ROLLUP[snap.overall]
    status = {"indicator": indicator, "description": description}

    def maintenances(statuses: Iterable[MaintenanceStatus]) -> list[Json]:
        wanted = set(statuses)
        return [b.maintenance(m) for m in soonest if m.status in wanted]

    page = b.page
    return {
        "api/v2/summary.json": {
            "page": page,
            "status": status,
            "components": b.components,
            "incidents": unresolved,
            "scheduled_maintenances": maintenances(live),
        },
        "api/v2/status.json": {"page": page, "status": status},
        "api/v2/components.json": {"page": page, "components": b.components},
        "api/v2/incidents.json": {"page": page, "incidents": incidents},
        "api/v2/incidents/unresolved.json": {"page": page, "incidents": unresolved},
        "api/v2/scheduled-maintenances.json": {
            "page": page,
            "scheduled_maintenances": [b.maintenance(m) for m in recent],
        },
        "api/v2/scheduled-maintenances/upcoming.json": {
            "page": page,
            "scheduled_maintenances": maintenances([MaintenanceStatus.SCHEDULED]),
        },
        "api/v2/scheduled-maintenances/active.json": {
            "page": page,
            "scheduled_maintenances": maintenances([MaintenanceStatus.IN_PROGRESS]),
        },
        "badge.json": {"schemaVersion": 1, "label": "status", "message": message, "color": color},
    }


def _newest_first(incidents: Sequence[Incident]) -> list[Incident]:
    return sorted(incidents, key=lambda i: (i.opened_at, i.id), reverse=True)


class _Builder:
    """Builds the objects of the documents from one snapshot (components once, by id)."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.page_id = sid("page", snap.site.url or snap.site.title)
        self.page: Json = {
            "id": self.page_id,
            "name": snap.site.title,
            "url": snap.site.url,
            "time_zone": snap.site.timezone,
            "updated_at": iso(snap.now),
        }
        self.components: list[Json] = []
        self.by_id: dict[str, Json] = {}
        # Shared, not copied: an incident is in several documents, and a storm's incident has
        # hundreds of updates × hundreds of components whose entries mostly repeat
        self._incidents: dict[int, Json] = {}
        self._affected: dict[tuple[str, str, str], Json] = {}
        for group, views in snap.groups():
            members = [self._component(v) for v in views]
            if group is not None:
                self.components.append(self._group(group, members))
            self.components.extend(members)
        for position, obj in enumerate(self.components, start=1):
            obj["position"] = position

    def _component(self, view: ComponentView) -> Json:
        updated = view.since or self.snap.now
        observed = [d.day for d in view.days if d.uptime is not None]
        created = min(updated, datetime.combine(observed[0], time(), UTC)) if observed else updated
        obj: Json = {
            "id": sid("component", view.info.id),
            "name": view.info.name,
            "status": COMPONENT_STATUS[view.state],
            "created_at": iso(created),
            "updated_at": iso(updated),
            "position": 0,
            "description": view.info.description or None,
            "showcase": True,
            "start_date": None,
            "group_id": sid("group", view.info.group) if view.info.group is not None else None,
            "page_id": self.page_id,
            "group": False,
            "only_show_if_degraded": False,
        }
        self.by_id[view.info.id] = obj
        return obj

    def _group(self, name: str, members: Sequence[Json]) -> Json:
        statuses = [m["status"] for m in members]
        status = max(statuses, key=_RANK.index, default="operational")
        if status == "major_outage" and any(s != status for s in statuses):
            status = "partial_outage"
        return {
            "id": sid("group", name),
            "name": name,
            "status": status,
            "created_at": min((m["created_at"] for m in members), default=iso(self.snap.now)),
            "updated_at": max((m["updated_at"] for m in members), default=iso(self.snap.now)),
            "position": 0,
            "description": None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": self.page_id,
            "group": True,
            "only_show_if_degraded": False,
            "components": [m["id"] for m in members],
        }

    def _of(self, component_ids: Iterable[str]) -> list[Json]:
        return [dict(self.by_id[c]) for c in component_ids if c in self.by_id]

    def incident(self, incident: Incident) -> Json:
        """An incident object; its updates newest first. An update's component statuses are a
        best effort: the current ones while the incident is open, else what its impact implies,
        and operational once resolved."""
        done = self._incidents.get(incident.id)
        if done is None:
            done = self._incidents[incident.id] = self._incident(incident)
        return done

    def _incident(self, incident: Incident) -> Json:
        iid = sid("incident", incident.id)
        components = self._of(incident.components)
        during = _IMPACT_STATUS.get(incident.impact.value, "major_outage")
        old = {c["id"]: "operational" for c in components}
        updates: list[Json] = []
        for u in incident.updates:
            affected = []
            for c in components:
                new = c["status"] if incident.is_open else during
                new = "operational" if u.phase is Phase.RESOLVED else new
                shared = (c["id"], old[c["id"]], new)
                entry = self._affected.get(shared)
                if entry is None:
                    entry = self._affected[shared] = _affected(c, *shared[1:])
                affected.append(entry)
                old[c["id"]] = new
            updates.append(
                _update(
                    sid("update", u.id),
                    u.phase.value,
                    u.message,
                    u.at,
                    incident_id=iid,
                    affected=affected,
                )
            )
        monitoring = next((u.at for u in incident.updates if u.phase is Phase.MONITORING), None)
        last = max([incident.opened_at, *(u.at for u in incident.updates)])
        return {
            "id": iid,
            "name": incident.title,
            "status": incident.phase.value,
            "created_at": iso(incident.opened_at),
            "updated_at": iso(last),
            "monitoring_at": iso(monitoring) if monitoring else None,
            "resolved_at": iso(incident.resolved_at) if incident.resolved_at else None,
            "impact": incident.impact.value,
            "shortlink": incident_url(self.snap, incident.id),
            "started_at": iso(incident.opened_at),
            "page_id": self.page_id,
            "incident_updates": updates[::-1],
            "components": components,
            "reminder_intervals": None,
        }

    def maintenance(self, m: Maintenance) -> Json:
        """A scheduled-maintenance object, with updates derived from its status and times."""
        mid = sid("maintenance", m.id)
        components = self._of(m.components)
        steps = maintenance_steps(m, self.snap.now)
        updates = []
        for step in reversed(steps):
            new = "under_maintenance" if step.phase == "in_progress" else "operational"
            old = "under_maintenance" if step.phase == "completed" else "operational"
            affected = [_affected(c, old, new) for c in components]
            key = sid("maintenance-update", f"{m.id}:{step.phase}")
            updates.append(
                _update(key, step.phase, step.message, step.at, incident_id=mid, affected=affected)
            )
        url = self.snap.site.url
        return {
            "id": mid,
            "name": m.title,
            "status": m.status.value,
            "created_at": iso(steps[0].at),
            "updated_at": iso(steps[-1].at),
            "monitoring_at": None,
            "resolved_at": iso(steps[-1].at) if m.status is MaintenanceStatus.COMPLETED else None,
            "impact": "maintenance",
            "shortlink": f"{url}/#maintenance-{m.id}" if url else None,
            "started_at": iso(m.starts_at),
            "page_id": self.page_id,
            "incident_updates": updates,
            "components": components,
            "reminder_intervals": None,
            "scheduled_for": iso(m.starts_at),
            "scheduled_until": iso(m.ends_at),
        }


def _affected(component: Json, old: str, new: str) -> Json:
    return {
        "code": component["id"],
        "name": component["name"],
        "old_status": old,
        "new_status": new,
    }


def _update(
    uid: str, status: str, body: str, at: datetime, *, incident_id: str, affected: list[Json]
) -> Json:
    return {
        "id": uid,
        "status": status,
        "body": body,
        "incident_id": incident_id,
        "created_at": iso(at),
        "updated_at": iso(at),
        "display_at": iso(at),
        "affected_components": affected,
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


@dataclass(frozen=True, slots=True)
class MaintenanceStep:
    """One derived step of a maintenance; ``phase`` is a Statuspage maintenance status (or
    ``cancelled``, which only the feed shows)."""

    phase: str
    at: datetime
    message: str


def maintenance_steps(m: Maintenance, now: datetime) -> list[MaintenanceStep]:
    """What happened to ``m`` so far, oldest first: scheduled (at :func:`announced_at`), in
    progress (at its start), completed (at its end), times capped at ``now``. A cancelled window
    is one ``cancelled`` step at its announcement time: when it was cancelled is not known."""
    announced = announced_at(m, now)
    if m.status is MaintenanceStatus.CANCELLED:
        return [MaintenanceStep("cancelled", announced, "This maintenance has been cancelled.")]
    steps = [MaintenanceStep("scheduled", announced, m.message)]
    if m.status is not MaintenanceStatus.SCHEDULED:
        text = "Scheduled maintenance is in progress."
        steps.append(MaintenanceStep("in_progress", min(m.starts_at, now), text))
    if m.status is MaintenanceStatus.COMPLETED:
        text = "The scheduled maintenance has been completed."
        steps.append(MaintenanceStep("completed", min(m.ends_at, now), text))
    return steps
