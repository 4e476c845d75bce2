"""Maintenance schedule: configured windows → Changes for the store. Pure: no I/O, no clock reads.

Windows come from config (one-off ``start``/``end``, or recurring ``cron`` + ``duration`` in a
time zone) and from the operator CLI. :func:`plan` is called periodically with what the store
knows; it announces configured windows ``notice`` ahead (once: each occurrence has a unique
``source``), starts them when they begin and ends them when they are over. Windows are announced
ahead, and no incident is opened while they last (see :func:`active_components`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped, unused-ignore]

from statusbot.model import (
    CancelMaintenance,
    Change,
    EndMaintenance,
    Maintenance,
    MaintenanceStatus,
    ScheduleMaintenance,
    StartMaintenance,
    State,
)

__all__ = ["WindowSpec", "active_components", "plan", "shown_state", "validate_cron"]

_PENDING = (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)
_MAX_OCCURRENCES = 1000  # a safety bound: "* * * * *" with a year of notice is not a schedule


@dataclass(frozen=True)
class WindowSpec:
    """A configured maintenance window: one-off (start, end) or recurring (cron, duration)."""

    id: str
    title: str
    message: str
    components: tuple[str, ...]
    start: datetime | None = None
    end: datetime | None = None
    cron: str | None = None
    """Crontab "m h dom mon dow", read in ``timezone``."""
    duration: timedelta | None = None
    timezone: str = "UTC"
    notice: timedelta = timedelta(hours=24)
    """Announce this long ahead."""


def validate_cron(expr: str, timezone: str) -> str | None:
    """Why ``expr`` is not a usable crontab in ``timezone``, or None when it is."""
    try:
        ZoneInfo(timezone)
    except (ValueError, LookupError):
        return f"unknown time zone {timezone!r} (use an IANA name such as Europe/Berlin)"
    try:
        _trigger(expr, timezone)
    except (ValueError, LookupError, TypeError) as exc:
        return f"{expr!r} is not a crontab expression (m h dom mon dow): {exc}"
    return None


def plan(specs: Sequence[WindowSpec], known: Sequence[Maintenance], now: datetime) -> list[Change]:
    """Changes due at ``now``: new windows to announce, windows to start and to end, and
    announced windows that the config no longer describes (edited or removed) to cancel.

    A window is identified by its id, start and end (``source``), so editing its times in the
    config cancels the old announcement and announces the new one. Windows already running
    are left to finish. Sorted by the window's start, so the result is deterministic.
    """
    sources = {m.source for m in known}
    by_id = {spec.id: spec for spec in specs}
    due: list[tuple[datetime, int, str, Change]] = []
    for spec in specs:
        for start, end, source in _occurrences(spec, now):
            if source not in sources:
                change = ScheduleMaintenance(
                    title=spec.title,
                    message=spec.message,
                    components=spec.components,
                    starts_at=start,
                    ends_at=end,
                    source=source,
                    at=now,
                )
                due.append((start, 0, source, change))
    for m in known:
        if m.status is MaintenanceStatus.SCHEDULED and now < m.starts_at and _stale(m, by_id):
            due.append((m.starts_at, 3, m.source, CancelMaintenance(m.id, now)))
        elif m.status is MaintenanceStatus.SCHEDULED and m.starts_at <= now < m.ends_at:
            due.append((m.starts_at, 1, m.source, StartMaintenance(m.id, now)))
        elif m.status in _PENDING and m.ends_at <= now:
            due.append((m.starts_at, 2, m.source, EndMaintenance(m.id, now)))
    due.sort(key=lambda item: item[:3])
    return [change for *_, change in due]


def active_components(known: Sequence[Maintenance], now: datetime) -> set[str]:
    """Components in a scheduled or running maintenance window at ``now``."""
    return {
        c
        for m in known
        if m.status in _PENDING and m.starts_at <= now < m.ends_at
        for c in m.components
    }


def shown_state(state: State, component: str, in_maintenance: AbstractSet[str]) -> State:
    """What customers see: MAINTENANCE while a window covers the component."""
    return State.MAINTENANCE if component in in_maintenance else state


def _trigger(expr: str, timezone: str) -> CronTrigger:
    """A CronTrigger reading ``expr`` the way crontab does.

    APScheduler 3 numbers weekdays from Monday = 0 (its issue 286), crontab from Sunday = 0 (7 is
    Sunday too), so the weekday field is translated to names first. As in APScheduler, a window
    restricted by both day of month and weekday needs both to match (crontab needs either).
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"got {len(fields)} fields, expected 5")
    fields[4] = _crontab_weekdays(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_weekdays(field: str) -> str:
    """Crontab weekday field ("1-5", "0,6", "*/2", "mon-fri", "7") → APScheduler day names."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.split(","):
        body, slash, step_text = item.partition("/")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"step must be at least 1 in {item!r}")
        if body == "*":
            low, high = 0, 6
        elif "-" in body:
            first, last = body.split("-", 1)
            low, high = _weekday(first), _weekday(last)
        else:
            low = _weekday(body)
            high = 7 if slash else low
        if low > high:
            raise ValueError(f"weekday range {body!r} runs backwards")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower() in _WEEKDAYS:
        return _WEEKDAYS.index(text.lower())
    raise ValueError(f"not a weekday: {text!r} (0-7, 0 and 7 are Sunday, or sun-sat)")


def source_of(window_id: str, start: datetime, end: datetime) -> str:
    """The unique source of one config window occurrence: its id, start and end in UTC."""
    first, last = start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()
    return f"config:{window_id}@{first}/{last}"


def _stale(m: Maintenance, specs: Mapping[str, WindowSpec]) -> bool:
    """Whether a window announced from the config is no longer what the config says."""
    if not m.source.startswith("config:"):
        return False  # made with the CLI: the operator's to cancel
    spec = specs.get(m.source.removeprefix("config:").split("@", 1)[0])
    if spec is None or m.source != source_of(spec.id, m.starts_at, m.ends_at):
        return True
    if spec.cron is None:
        return (spec.start, spec.end) != (m.starts_at, m.ends_at)
    if spec.duration != m.ends_at - m.starts_at:
        return True
    trigger = _trigger(spec.cron, spec.timezone)
    fire: datetime | None = trigger.get_next_fire_time(
        None, m.starts_at - timedelta(microseconds=1)
    )
    return fire != m.starts_at


def _occurrences(spec: WindowSpec, now: datetime) -> Iterator[tuple[datetime, datetime, str]]:
    """(start, end, source) of each occurrence not yet over and starting within the notice."""
    horizon = now + spec.notice
    if spec.cron is None:
        start, end = spec.start, spec.end
        if start is not None and end is not None and start <= horizon and end > now:
            yield start.astimezone(UTC), end.astimezone(UTC), source_of(spec.id, start, end)
        return
    if spec.duration is None:
        return
    trigger = _trigger(spec.cron, spec.timezone)
    fire = trigger.get_next_fire_time(None, now - spec.duration + timedelta(microseconds=1))
    for _ in range(_MAX_OCCURRENCES):
        if fire is None or fire > horizon:
            return
        start = fire.astimezone(UTC)
        yield start, start + spec.duration, source_of(spec.id, start, start + spec.duration)
        fire = trigger.get_next_fire_time(fire, fire)
