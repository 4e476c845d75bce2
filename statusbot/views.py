"""Plain-data views of domain objects for ``--json`` output and tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from statusbot.incidents import humanize_duration
from statusbot.model import Delivery, Event, Incident, Maintenance


def iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def incident_dict(incident: Incident, now: datetime) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "phase": str(incident.phase),
        "impact": str(incident.impact),
        "auto": incident.auto,
        "components": list(incident.components),
        "recovered": sorted(incident.recovered),
        "opened_at": iso(incident.opened_at),
        "resolved_at": iso(incident.resolved_at),
        "duration_seconds": round(incident.duration(now), 3),
        "updates": [
            {
                "id": u.id,
                "at": iso(u.at),
                "kind": str(u.kind),
                "phase": str(u.phase),
                "message": u.message,
            }
            for u in incident.updates
        ],
    }


def delivery_dict(d: Delivery, event: Event | None) -> dict[str, Any]:
    return {
        "id": d.id,
        "channel": d.channel,
        "status": str(d.status),
        "event": str(event.kind) if event else None,
        "incident_id": event.incident_id if event else None,
        "maintenance_id": event.maintenance_id if event else None,
        "attempts": d.attempts,
        "created_at": iso(d.created_at),
        "first_attempt_at": iso(d.first_attempt_at),
        "next_attempt_at": iso(d.next_attempt_at),
        "remote_id": d.remote_id,
        "error": d.error,
    }


def maintenance_dict(m: Maintenance) -> dict[str, Any]:
    return {
        "id": m.id,
        "title": m.title,
        "message": m.message,
        "components": list(m.components),
        "starts_at": iso(m.starts_at),
        "ends_at": iso(m.ends_at),
        "status": str(m.status),
        "source": m.source,
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [
        [str(h) for h in headers],
        *[["" if c is None else str(c) for c in row] for row in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def ago(now: datetime, then: datetime) -> str:
    return humanize_duration((now - then).total_seconds()) + " ago"
