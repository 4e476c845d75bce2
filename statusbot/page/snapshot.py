"""Everything the page shows, read from the store in one transaction (never from memory).

Day bars come from each component's state timeline (its confirmed transitions), so a day is as
bad as the worst state the component was *confirmed* in, and its uptime is the share of the
observed time the component was not down. Time in maintenance does not count against uptime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from statusbot import maintenance as maint
from statusbot.config import Config, Site
from statusbot.model import (
    ComponentInfo,
    Incident,
    Maintenance,
    MaintenanceStatus,
    State,
)
from statusbot.store import Store

DAYS = 90
RECENT_INCIDENTS = 50


class Overall(StrEnum):
    """The banner: what a customer should take in at a glance."""

    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True, slots=True)
class Day:
    """One segment of a component's bar."""

    day: date
    state: State  # the worst confirmed state that day; UNKNOWN before any data
    uptime: float | None  # share of the observed time not down; None when nothing was observed
    incidents: tuple[int, ...]  # incidents of this component open at some point that day


@dataclass(frozen=True, slots=True)
class ComponentView:
    info: ComponentInfo
    state: State  # as shown now (MAINTENANCE while a window covers it)
    since: datetime | None
    days: tuple[Day, ...]  # oldest first, ``DAYS`` of them, the last one is today (UTC)
    uptime: float | None  # over the whole bar


@dataclass(frozen=True, slots=True)
class Snapshot:
    site: Site
    now: datetime
    last_check_at: datetime | None
    overall: Overall
    components: tuple[ComponentView, ...]
    open_incidents: tuple[Incident, ...]  # oldest first
    incidents: tuple[Incident, ...]  # the most recent, newest first, with their updates
    maintenances: tuple[Maintenance, ...]  # scheduled, running and recent, by start

    def groups(self) -> list[tuple[str | None, list[ComponentView]]]:
        """Components by group, in config order (ungrouped ones under None)."""
        out: dict[str | None, list[ComponentView]] = {}
        for view in self.components:
            out.setdefault(view.info.group, []).append(view)
        return list(out.items())


def take(store: Store, config: Config, now: datetime, days: int = DAYS) -> Snapshot:
    """Read what the page needs, consistently, in one read transaction."""
    first = now.date() - timedelta(days=days - 1)
    start = datetime.combine(first, time(), UTC)
    with store.read() as tx:
        infos = tx.components()
        states = tx.component_states()
        timelines = tx.timelines(since=start)
        recent = tx.incidents(limit=RECENT_INCIDENTS)
        open_incidents = tx.open_incidents()
        windows = tx.maintenances()
        latest = tx.latest_results()
    in_window = maint.active_components(windows, now)
    grid = _grid(start, now, days)
    whole: dict[tuple[date, State], Day] = {}
    views = []
    t_start, t_now = start.timestamp(), now.timestamp()
    for info in infos:
        state, since = states.get(info.id, (State.UNKNOWN, None))
        line = timelines.get(info.id)
        # no change in the span: the state it has had since before the span began, if known
        before = line.before if line else state if since is not None and since <= start else None
        timeline = _segments(line.changes if line else (), t_start, t_now, before)
        bar, uptime = _bar(
            timeline, incidents=recent, windows=windows, component=info.id, grid=grid, whole=whole
        )
        views.append(
            ComponentView(info, maint.shown_state(state, info.id, in_window), since, bar, uptime)
        )
    live = [
        m
        for m in windows
        if m.status in (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)
    ]
    shown = sorted(
        [*live, *[m for m in windows if m not in live and m.ends_at >= now - timedelta(days=days)]],
        key=lambda m: m.starts_at,
    )
    return Snapshot(
        site=config.site,
        now=now,
        last_check_at=max((r.at for r in latest.values()), default=None),
        overall=overall([v.state for v in views]),
        components=tuple(views),
        open_incidents=tuple(open_incidents),
        incidents=tuple(recent),
        maintenances=tuple(shown),
    )


def overall(states: Sequence[State]) -> Overall:
    """The banner from the components' shown states."""
    if not states:
        return Overall.OPERATIONAL
    down = sum(s is State.DOWN for s in states)
    if down and down == len(states):
        return Overall.MAJOR_OUTAGE
    if down:
        return Overall.PARTIAL_OUTAGE
    if any(s is State.DEGRADED for s in states):
        return Overall.DEGRADED
    if any(s is State.MAINTENANCE for s in states):
        return Overall.MAINTENANCE
    return Overall.OPERATIONAL


def _segments(
    changes: Sequence[tuple[float, State]], start: float, end: float, before: State | None
) -> list[tuple[float, float, State]]:
    """The component's confirmed states as (from, to, state) in epoch seconds within
    [start, end), ``before`` being its state when ``start`` came (None: not known)."""
    state, at = before or State.UNKNOWN, start
    out: list[tuple[float, float, State]] = []
    for t, new in changes:
        if t <= start:
            state = new
            continue
        if t >= end:
            break
        out.append((at, t, state))
        state, at = new, t
    out.append((at, end, state))
    return [(a, b, s) for a, b, s in out if b > a]


def _breaks(windows: Sequence[Maintenance], component: str) -> list[tuple[float, float]]:
    """The component's maintenance windows (not cancelled) as epoch seconds: time in them
    counts neither for nor against uptime."""
    return [
        (m.starts_at.timestamp(), m.ends_at.timestamp())
        for m in windows
        if component in m.components and m.status is not MaintenanceStatus.CANCELLED
    ]


_DaySlot = tuple[float, float, date, datetime, datetime]
_RANK = {s: s.severity for s in State}


def _grid(start: datetime, now: datetime, days: int) -> list[_DaySlot]:
    """The bar's days as (lo, hi, date, lo_at, hi_at), epoch seconds and datetimes, computed
    once per snapshot and shared by every component."""
    t0, t_now = start.timestamp(), now.timestamp()
    out = []
    for n in range(days):
        lo = t0 + 86_400 * n
        hi = min(lo + 86_400, t_now)
        out.append(
            (
                lo,
                hi,
                (start + timedelta(days=n)).date(),
                datetime.fromtimestamp(lo, UTC),
                datetime.fromtimestamp(hi, UTC),
            )
        )
    return out


def _bar(
    line: Sequence[tuple[float, float, State]],
    *,
    incidents: Sequence[Incident],
    windows: Sequence[Maintenance],
    component: str,
    grid: Sequence[_DaySlot],
    whole: dict[tuple[date, State], Day],
) -> tuple[tuple[Day, ...], float | None]:
    """Cut one timeline into days in one pass (epoch seconds, the day grid shared by all
    components: 1,000 × 90 days stay cheap), and the uptime of the whole bar. Most days are
    spent in one state without incidents or maintenance: those ``Day``s come from ``whole``,
    shared by all components."""
    mine = [i for i in incidents if component in i.components]
    breaks = _breaks(windows, component)
    size = len(line)
    unknown, down_state, rank = State.UNKNOWN, State.DOWN, _RANK
    out = []
    k = 0
    observed_all = down_all = 0.0
    for lo, hi, day, lo_at, hi_at in grid:
        if hi <= lo:
            out.append(Day(day, unknown, None, ()))
            continue
        while k < size and line[k][1] <= lo:
            k += 1
        touching = (
            tuple(
                i.id
                for i in mine
                if i.opened_at < hi_at and (i.resolved_at is None or i.resolved_at >= lo_at)
            )
            if mine
            else ()
        )
        if k < size and not breaks and not touching and line[k][0] <= lo and line[k][1] >= hi:
            seen = line[k][2]
            found = whole.get((day, seen))
            if found is None:
                uptime = None if seen is unknown else 0.0 if seen is down_state else 1.0
                found = whole[day, seen] = Day(day, seen, uptime, ())
            out.append(found)
            if seen is not unknown:
                observed_all += hi - lo
                if seen is down_state:
                    down_all += hi - lo
            continue
        state, severity, observed, down = unknown, -1, 0.0, 0.0
        j = k
        while j < size and line[j][0] < hi:
            a, b, seen = line[j]
            j += 1
            if seen is unknown:
                continue
            # clipped to the day, so > 0 (not max()/min(): a million calls at 1,000 flappy
            # components)
            a, b = lo if a < lo else a, hi if b > hi else b
            seconds = b - a
            if breaks:  # time in maintenance counts neither for nor against uptime
                seconds = max(
                    0.0, seconds - sum(max(0.0, min(b, e) - max(a, s)) for s, e in breaks)
                )
            observed += seconds
            if seen is down_state:
                down += seconds
            if rank[seen] > severity:
                state, severity = seen, rank[seen]
        uptime = None if observed <= 0 else 1 - down / observed
        out.append(Day(day, state, uptime, touching))
        observed_all += observed
        down_all += down
    return tuple(out), None if observed_all <= 0 else 1 - down_all / observed_all
