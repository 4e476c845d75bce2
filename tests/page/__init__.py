"""Tests of the status page. ``snapshot()`` builds a Snapshot from model objects, no store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from statusbot import config as configmod
from statusbot.config import Site
from statusbot.model import (
    CheckResult,
    ComponentInfo,
    EventKind,
    Impact,
    Incident,
    IncidentUpdate,
    Maintenance,
    MaintenanceStatus,
    Phase,
    State,
)
from statusbot.page.snapshot import DAYS, ComponentView, Day, Snapshot, overall, take
from statusbot.pipeline import Pipeline
from statusbot.store import Store

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
SITE = Site(title="Example Status", url="https://status.example.com", timezone="Etc/UTC")


def view(
    cid: str, name: str, state: State = State.UP, group: str | None = None, position: int = 0
) -> ComponentView:
    """A component shown in ``state`` since an hour ago, with a quiet bar."""
    days = tuple(
        Day((NOW - timedelta(days=DAYS - 1 - n)).date(), State.UP, 1.0, ()) for n in range(DAYS)
    )
    info = ComponentInfo(cid, name, group, None, position)
    return ComponentView(info, state, NOW - timedelta(hours=1), days, 1.0)


def update(uid: int, iid: int, minutes: float, phase: Phase, message: str) -> IncidentUpdate:
    """An update ``minutes`` before NOW."""
    kind = {
        Phase.INVESTIGATING: EventKind.INCIDENT_OPENED,
        Phase.RESOLVED: EventKind.INCIDENT_RESOLVED,
    }.get(phase, EventKind.INCIDENT_UPDATED)
    return IncidentUpdate(uid, iid, NOW - timedelta(minutes=minutes), kind, phase, message)


def incident(
    iid: int,
    title: str,
    updates: Sequence[IncidentUpdate],
    components: tuple[str, ...] = ("api",),
    impact: Impact = Impact.MAJOR,
) -> Incident:
    """An incident whose phase and times follow its updates (oldest first)."""
    last = updates[-1]
    resolved = last.at if last.phase is Phase.RESOLVED else None
    return Incident(
        iid, title, last.phase, impact, components, updates[0].at, resolved, updates=tuple(updates)
    )


def maintenance(
    mid: int,
    status: MaintenanceStatus,
    start_hours: float,
    title: str = "Database upgrade",
    components: tuple[str, ...] = ("db",),
) -> Maintenance:
    """A one-hour window starting ``start_hours`` after NOW (negative: in the past)."""
    start = NOW + timedelta(hours=start_hours)
    return Maintenance(
        mid,
        title,
        "We upgrade the database.",
        components,
        start,
        start + timedelta(hours=1),
        status,
        f"cli:{(start - timedelta(days=2)).isoformat()}",
    )


def snapshot(
    views: Sequence[ComponentView],
    incidents: Sequence[Incident] = (),
    maintenances: Sequence[Maintenance] = (),
    site: Site = SITE,
) -> Snapshot:
    """A snapshot at NOW; open incidents oldest first, all incidents newest first."""
    newest = sorted(incidents, key=lambda i: i.opened_at, reverse=True)
    return Snapshot(
        site=site,
        now=NOW,
        last_check_at=NOW - timedelta(seconds=10),
        overall=overall([v.state for v in views]),
        components=tuple(views),
        open_incidents=tuple(i for i in reversed(newest) if i.is_open),
        incidents=tuple(newest),
        maintenances=tuple(sorted(maintenances, key=lambda m: m.starts_at)),
    )


def example() -> Snapshot:
    """REFERENCE §4's scenario: the Public API (group Core) is down, the Database is fine; an
    identified major incident; plus a resolved incident and one maintenance of each status
    (the Website is in the running one)."""
    views = [
        view("api", "Public API", State.DOWN, "Core", 0),
        view("db", "Database", State.UP, "Core", 1),
        view("web", "Website", State.MAINTENANCE, None, 2),
    ]
    current = incident(
        1,
        "Elevated API errors",
        [
            update(1, 1, 10, Phase.INVESTIGATING, "We are investigating errors."),
            update(2, 1, 0, Phase.IDENTIFIED, "We found the cause."),
        ],
    )
    past = incident(
        2,
        "Website slow",
        [
            update(3, 2, 3000, Phase.INVESTIGATING, "The website is slow."),
            update(4, 2, 2990, Phase.MONITORING, "A fix is out."),
            update(5, 2, 2980, Phase.RESOLVED, "All good."),
        ],
        components=("web",),
        impact=Impact.MINOR,
    )
    windows = [
        maintenance(1, MaintenanceStatus.COMPLETED, -48),
        maintenance(2, MaintenanceStatus.IN_PROGRESS, -0.5, "Cache flush", ("web",)),
        maintenance(3, MaintenanceStatus.SCHEDULED, 24),
        maintenance(4, MaintenanceStatus.CANCELLED, 30, "Never mind"),
    ]
    return snapshot(views, [current, past], windows)


PIPELINE_CONFIG = """
defaults: {interval: 10s, timeout: 5s, fail_after: 2, recover_after: 2}
site: {title: Acme Status, url: "https://status.acme.test"}
incidents: {resolve_after: 0s}
components:
  - {id: api, name: Public API, group: Core, checks: [{type: tcp, host: 127.0.0.1, port: 1}]}
  - {id: db, name: Database, group: Core, checks: [{type: tcp, host: 127.0.0.1, port: 2}]}
  - {id: web, name: Website, checks: [{type: tcp, host: 127.0.0.1, port: 3}]}
maintenance:
  - id: upgrade
    title: Database upgrade
    components: [db]
    start: 2026-11-22T12:00:00+00:00
    end: 2026-11-22T13:00:00+00:00
    notice: 6h
channels: {console: {}}
"""


def from_pipeline(tmp_path: Path) -> Snapshot:
    """A snapshot of a store filled by the real pipeline: the API went down and recovered (a
    resolved incident), then the Database went down (an open one); a maintenance is announced."""
    config = configmod.from_text(PIPELINE_CONFIG, "t.yaml", env={})
    store = Store.open(f"sqlite:///{tmp_path}/s.db")

    def results(seconds: float, **states: State) -> list[CheckResult]:
        at = NOW + timedelta(seconds=seconds)
        return [CheckResult(f"{c}.tcp", c, at, s, "refused") for c, s in states.items()]

    try:
        pipeline = Pipeline(config, store)
        for t in (0, 10):
            pipeline.handle(results(t, api=State.UP, db=State.UP, web=State.UP))
        pipeline.tick(NOW + timedelta(seconds=15))  # announces the maintenance (6 h notice)
        for t in (30, 40):
            pipeline.handle(results(t, api=State.DOWN))
        for t in (700, 760):
            pipeline.handle(results(t, api=State.UP))
        for t in (800, 810):
            pipeline.handle(results(t, db=State.DOWN))
        return take(store, config, NOW + timedelta(seconds=900))
    finally:
        store.close()
