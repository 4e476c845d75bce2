"""The HTML pages of the status page: Jinja2 templates over a :class:`Snapshot`.

Templates are ``<name>.html.j2``, looked up first in the operator's ``templates_dir/page/`` and
then in the packaged ``statusbot/data/page/`` (``base``, ``macros``, ``index``, ``incident``,
``history``, ``maintenance``, and ``bar``: one day of a component's bar). Everything is
HTML-escaped (``autoescape``) and undefined variables are errors (``StrictUndefined``). Pages
link each other, the stylesheet, the favicon and the feed by relative URLs (``root`` is ``""``
or ``"../"``), so the folder can be served under any prefix. Pure: :func:`page_sources` reads
nothing but the snapshot and the templates.

Pages come out piece by piece as the template produces them, and a build writes each piece as
it comes: at 1,000 components the front page is 14 MB, and as one ``str`` (two bytes a
character, since it is not all ASCII) beside its encoding it took a page build's peak past
60 MB. Each bar, likewise, is put together only when the template reaches its component.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
)
from markupsafe import Markup

from statusbot.incidents import humanize_duration
from statusbot.model import Impact, Incident, MaintenanceStatus, Phase, State
from statusbot.page.snapshot import ComponentView, Day, Overall, Snapshot

__all__ = [
    "PAGE_DIR",
    "PER_PAGE",
    "PageSource",
    "Segment",
    "environment",
    "history_path",
    "page_sources",
    "percent",
]

PAGE_DIR = "page"
"""Subfolder of ``templates_dir`` (and of ``statusbot/data``) that holds the page templates."""
PageSource = Callable[[], Iterator[str]]
"""A page not rendered yet: each call renders it anew, piece by piece."""
PER_PAGE = 20
"""Incidents per history page."""
RECENT = 5
"""Resolved incidents listed on the front page."""
DESCRIPTION_CHARS = 200

STATE = {
    State.UP: "Operational",
    State.DEGRADED: "Degraded performance",
    State.DOWN: "Outage",
    State.MAINTENANCE: "Under maintenance",
    State.UNKNOWN: "No data",
}
OVERALL = {
    Overall.OPERATIONAL: "All systems operational",
    Overall.DEGRADED: "Degraded performance",
    Overall.PARTIAL_OUTAGE: "Partial outage",
    Overall.MAJOR_OUTAGE: "Major outage",
    Overall.MAINTENANCE: "Maintenance in progress",
}
PHASE = {p: p.value.capitalize() for p in Phase}
IMPACT = {
    Impact.NONE: "No impact",
    Impact.MINOR: "Minor impact",
    Impact.MAJOR: "Major impact",
    Impact.CRITICAL: "Critical impact",
}
MAINTENANCE = {
    MaintenanceStatus.SCHEDULED: "Scheduled",
    MaintenanceStatus.IN_PROGRESS: "In progress",
    MaintenanceStatus.COMPLETED: "Completed",
    MaintenanceStatus.CANCELLED: "Cancelled",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Segment:
    """One day of a bar, ready to print: ``state`` is the CSS suffix, the rest is text."""

    state: str
    date: str
    iso: str
    summary: str  # "Outage · 98.61% uptime", "No data"
    incidents: tuple[Incident, ...]


@lru_cache(maxsize=8)
def environment(templates_dir: Path | None) -> Environment:
    """The page environment (cached: compiled templates are reused between builds)."""
    loaders: list[BaseLoader] = []
    if templates_dir is not None:
        loaders.append(FileSystemLoader(templates_dir / PAGE_DIR))
    loaders.append(PackageLoader("statusbot", f"data/{PAGE_DIR}"))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        iso=_iso,
        percent=percent,
        duration=humanize_duration,
        state_label=STATE.__getitem__,
        overall_label=OVERALL.__getitem__,
        phase_label=PHASE.__getitem__,
        impact_label=IMPACT.__getitem__,
        maintenance_label=MAINTENANCE.__getitem__,
    )
    return env


def page_sources(snap: Snapshot, templates_dir: Path | None) -> dict[str, PageSource]:
    """Every HTML page of ``snap`` by path, not rendered yet: calling the value renders the page
    piece by piece, so a build can write each piece as it comes (the front page at 100
    components is 1.4 MB; held whole, it was most of a build's peak memory)."""
    env = environment(templates_dir)
    tz = ZoneInfo(snap.site.timezone)
    names = {v.info.id: v.info.name for v in snap.components}
    incidents = {i.id: i for i in (*snap.incidents, *snap.open_incidents)}
    shared: dict[str, Any] = {
        "site": snap.site,
        "snap": snap,
        "now": snap.now,
        "local": lambda at: _local(at, tz),
        "utc": lambda at: _utc(at, tz),
        "component_name": lambda cid: names.get(cid, cid),
        "history_path": history_path,
    }

    def render(
        template: str, path: str, title: str | None, description: str, **ctx: Any
    ) -> PageSource:
        root = "../" * path.count("/")
        url = f"{snap.site.url}/{'' if path == 'index.html' else path}" if snap.site.url else None
        page_title = f"{title} · {snap.site.title}" if title else snap.site.title
        return partial(
            env.get_template(template).generate,
            shared,
            root=root,
            path=path,
            url=url,
            title=page_title,
            description=description,
            **ctx,
        )

    default = snap.site.description or (
        f"Live status, incidents and 90-day uptime of {snap.site.title}."
    )
    resolved = [i for i in snap.incidents if not i.is_open][:RECENT]
    segments: dict[Day, Segment] = {}  # most days of most components are alike: build once
    bars = {v.info.id: _bar(v, incidents, segments) for v in snap.components}
    out = {
        "index.html": render(
            "index.html.j2",
            "index.html",
            None,
            default,
            bars=bars,
            bar_html=BarsHtml(env, bars),
            upcoming=[
                m
                for m in snap.maintenances
                if m.status in (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)
            ],
            resolved=resolved,
        )
    }
    for incident in incidents.values():
        path = f"incidents/{incident.id}.html"
        latest = incident.updates[-1].message if incident.updates else incident.title
        out[path] = render(
            "incident.html.j2", path, incident.title, _clip(latest), incident=incident
        )
    for m in snap.maintenances:
        path = f"maintenance/{m.id}.html"
        out[path] = render(
            "maintenance.html.j2", path, m.title, _clip(m.message or m.title), maintenance=m
        )
    past = sorted(incidents.values(), key=lambda i: (i.opened_at, i.id), reverse=True)
    chunks = [past[n : n + PER_PAGE] for n in range(0, len(past), PER_PAGE)] or [[]]
    for number, chunk in enumerate(chunks, start=1):
        path = history_path(number)
        out[path] = render(
            "history.html.j2",
            path,
            "Incident history" if number == 1 else f"Incident history, page {number}",
            f"Past incidents of {snap.site.title}.",
            months=_by_month(chunk, tz),
            number=number,
            count=len(chunks),
        )
    return out


def history_path(number: int) -> str:
    """``history.html`` for the first page, ``history-<n>.html`` after it."""
    return "history.html" if number == 1 else f"history-{number}.html"


def percent(value: float | None) -> str:
    """Uptime as customers read it: "100%", "99.95%" (never rounded up to 100), "no data"."""
    if value is None:
        return "no data"
    if value >= 1:
        return "100%"
    return f"{math.floor(value * 10_000 + 1e-9) / 100:.2f}%"


def _bar(
    view: ComponentView, incidents: Mapping[int, Incident], segments: dict[Day, Segment]
) -> list[Segment]:
    out = []
    for day in view.days:
        segment = segments.get(day)
        if segment is None:
            segment = segments[day] = _segment(day, incidents)
        out.append(segment)
    return out


def _segment(day: Day, incidents: Mapping[int, Incident]) -> Segment:
    if day.uptime is None and day.state is State.UNKNOWN:
        summary = STATE[State.UNKNOWN]
    else:
        summary = f"{STATE[day.state]} · {percent(day.uptime)} uptime"
    return Segment(
        day.state.value,
        _date(day.day),
        day.day.isoformat(),
        summary,
        tuple(incidents[i] for i in day.incidents if i in incidents),
    )


BAR_DAY_SEPARATOR = "\n          "
"""Between two days of a bar in index.html (one ``<li>`` a line, indented as the template)."""


class BarsHtml(Mapping[str, Markup]):
    """Each component's bar as HTML, put together when the template asks for it.

    The ``day`` macro of ``bar.html.j2`` renders every distinct segment once (at 1,000
    components × 90 days, looping in the template took most of a build's second); a bar is
    joined from those only when its component is rendered, so the bars of all components
    (14 MB at 1,000) never exist at once."""

    def __init__(self, env: Environment, bars: Mapping[str, list[Segment]]) -> None:
        self._day = env.get_template("bar.html.j2").module.day  # type: ignore[attr-defined]
        self._bars = bars
        self._done: dict[int, str] = {}  # by id(segment): segments are shared and outlive this

    def __getitem__(self, component_id: str) -> Markup:
        parts = []
        for segment in self._bars[component_id]:
            text = self._done.get(id(segment))
            if text is None:
                text = self._done[id(segment)] = str(self._day(segment))
            parts.append(text)
        # Safe: every part is the autoescaped output of the macro; the separator is whitespace.
        return Markup(BAR_DAY_SEPARATOR.join(parts))  # noqa: S704

    def __iter__(self) -> Iterator[str]:
        return iter(self._bars)

    def __len__(self) -> int:
        return len(self._bars)


def _by_month(incidents: Iterable[Incident], tz: tzinfo) -> list[tuple[str, list[Incident]]]:
    months: dict[str, list[Incident]] = {}
    for incident in incidents:
        local = incident.opened_at.astimezone(tz)
        months.setdefault(f"{_MONTH_NAMES[local.month - 1]} {local.year}", []).append(incident)
    return list(months.items())


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= DESCRIPTION_CHARS:
        return flat
    return flat[: DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _date(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _zone(at: datetime) -> str:
    name = at.tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name


def _local(at: datetime, tz: tzinfo) -> str:
    """ "22 Nov 2026, 08:00 CET" in the site's time zone."""
    local = at.astimezone(tz)
    return f"{_date(local.date())}, {local:%H:%M} {_zone(local)}"


def _utc(at: datetime, tz: tzinfo) -> str:
    """The same instant in UTC ("07:00 UTC", with the date when it differs); "" when the site
    shows UTC already."""
    local, utc = at.astimezone(tz), at.astimezone(UTC)
    if local.utcoffset() == utc.utcoffset() and _zone(local) == "UTC":
        return ""
    if local.date() == utc.date():
        return f"{utc:%H:%M} UTC"
    return f"{_date(utc.date())}, {utc:%H:%M} UTC"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
