"""Message texts for the plain-text channels: Jinja2 templates, their context, fitting, checks.

A template is ``<channel kind>/<event kind>.txt.j2`` (``x/incident.opened.txt.j2``), looked up
first in the operator's ``templates_dir``, then in the packaged defaults, each time falling back
to ``default/<event kind>.txt.j2``. Undefined variables are errors (StrictUndefined) and
:func:`validate` reports them with file and line. Nothing is HTML-escaped here: these channels
take plain text (the status page escapes on its own). Every variable is documented in
``statusbot/data/templates/README.md``.
"""

from __future__ import annotations

import contextlib
import re
import traceback
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
)

from statusbot.fitting import fit
from statusbot.incidents import humanize_duration
from statusbot.model import Event, EventKind, Phase

if TYPE_CHECKING:  # at run time the publishers import us: no cycle
    from statusbot.publishers.base import Limit

__all__ = [
    "CHANNEL_KINDS",
    "Renderer",
    "clean",
    "context",
    "format_preview",
    "preview_rows",
    "sample_events",
    "validate",
]

CHANNEL_KINDS = ("console", "mastodon", "x", "webhook", "apprise")
DEFAULT_DIR = "default"
SUFFIX = ".txt.j2"
PACKAGED = "statusbot/data/templates"  # how problems in packaged defaults are named
DEFAULT_REMIND_AFTER = timedelta(minutes=30)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CHANNEL = re.compile(r"^[a-z0-9_-]+$")
# Lone surrogates (not encodable) become U+FFFD; control characters other than tab and newline go,
# and so do U+FEFF, U+FFFE and U+FFFF (twitter-text calls a post holding one of them invalid).
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")


def _environment(loader: BaseLoader) -> Environment:
    return Environment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701 -- plain text for Mastodon, X, webhooks: no HTML here
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Renderer:
    """Renders events per channel kind; operator overrides in ``templates_dir`` win."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir
        self.defaults = _environment(PackageLoader("statusbot", "data/templates"))
        assert self.defaults.loader is not None
        loaders: list[BaseLoader] = [FileSystemLoader(templates_dir)] if templates_dir else []
        self.env = _environment(ChoiceLoader([*loaders, self.defaults.loader]))

    def template(self, channel_kind: str, kind: EventKind | str) -> Template:
        """The template for ``channel_kind`` and event ``kind`` (override, default, fallback)."""
        kind = EventKind(kind)
        names = [f"{channel_kind}/{kind.value}{SUFFIX}"] if _CHANNEL.match(channel_kind) else []
        return self.env.select_template([*names, f"{DEFAULT_DIR}/{kind.value}{SUFFIX}"])

    def render(
        self,
        channel_kind: str,
        event: Event,
        ctx: Mapping[str, Any],
        message: str | None = None,
    ) -> str:
        """The text for ``event`` on ``channel_kind``; ``message`` replaces ctx["message"]."""
        values = dict(ctx) if message is None else {**ctx, "message": clean(message)}
        return self.template(channel_kind, event.kind).render(values).strip()

    def render_fitted(
        self, channel_kind: str, event: Event, ctx: Mapping[str, Any], limit: Limit
    ) -> str:
        """The text, its free text (the message) shortened to fit ``limit`` if need be."""
        template = self.template(channel_kind, event.kind)
        return fit(
            lambda m: template.render({**ctx, "message": m}).strip(), str(ctx["message"]), limit
        )


# --- context ---------------------------------------------------------------------------------


def context(
    event: Event,
    *,
    site_title: str,
    site_url: str | None,
    timezone: str,
    update_number: int,
    remind_after: timedelta = DEFAULT_REMIND_AFTER,
) -> dict[str, Any]:
    """Every variable a template may use (README.md next to the templates documents them)."""
    p = event.payload
    tz = ZoneInfo(timezone)
    incident, maint = _section(p, "incident"), _section(p, "maintenance")
    at = event.at
    names = [clean(str(c.get("name") or c.get("id"))) for c in _list(p.get("components"))]
    base = site_url.rstrip("/") if site_url else None
    link, since, seconds = None, at, 0.0
    if incident:
        since = _when(incident.get("opened_at")) or at
        seconds = float(incident.get("duration_seconds") or (at - since).total_seconds())
        link = f"{base}/incidents/{incident['id']}.html" if base else None
    maintenance = None
    if maint:
        starts, ends = _when(maint.get("starts_at")) or at, _when(maint.get("ends_at")) or at
        since, seconds = starts, (ends - starts).total_seconds()
        link = f"{base}/maintenance/{maint['id']}.html" if base else None
        maintenance = {
            "id": maint.get("id"),
            "title": clean(str(maint.get("title", ""))),
            "status": str(maint.get("status", "")),
            "starts_utc": _day_hm(starts, UTC),
            "ends_utc": _day_hm(ends, UTC),
            "starts_local": _day_hm(starts, tz),
            "ends_local": _day_hm(ends, tz),
            "window_utc": _window(starts, ends, UTC),
            "window_local": _window(starts, ends, tz),
        }
    phase = str(p.get("phase") or incident.get("phase") or maint.get("status") or "")
    impact = str(incident.get("impact") or ("maintenance" if maint else "none"))
    next_update = at + remind_after
    return {
        "site": {"title": site_title, "url": base},
        "kind": event.kind.value,
        "message": clean(str(p.get("message") or "")).strip(),
        "phase": phase,
        "phase_label": phase.replace("_", " ").capitalize(),  # "Investigating", "In progress"
        "impact": impact,
        "icon": _icon(event.kind, phase, impact),
        "title": clean(str(incident.get("title") or maint.get("title") or site_title)),
        "id": incident.get("id", maint.get("id")),
        "components": names,
        "components_text": join_names(names),
        "link": link,
        "at_utc": _hm(at, UTC),
        "at_local": _hm(at, tz),
        "date": at.astimezone(tz).date().isoformat(),
        "since_utc": _hm(since, UTC),
        "since_local": _hm(since, tz),
        "duration": humanize_duration(seconds),
        "update_number": update_number,
        "next_update_by": _hm(next_update, UTC),
        "next_update_by_local": _hm(next_update, tz),
        "maintenance": maintenance,
        "author": str(p.get("author") or "statusbot"),
    }


def clean(text: str) -> str:
    """Untrusted text made postable: CRLF → LF, lone surrogates → U+FFFD, no control chars
    (nor U+FEFF, U+FFFE, U+FFFF)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", text))


def join_names(names: Iterable[str]) -> str:
    """Names joined the way people write them: A · A and B · A, B and C."""
    items = list(names)
    return f"{', '.join(items[:-1])} and {items[-1]}" if len(items) > 1 else "".join(items)


def _icon(kind: EventKind, phase: str, impact: str) -> str:
    if kind in (EventKind.INCIDENT_RESOLVED, EventKind.MAINTENANCE_ENDED):
        return "✅"
    if kind.value.startswith("maintenance."):
        return "🔧"
    if phase == Phase.MONITORING:
        return "🟡"
    return "🔴" if impact in ("major", "critical") else "🟠"


def _section(payload: Mapping[str, object], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return dict(value) if isinstance(value, dict) else {}


def _list(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _hm(at: datetime, tz: tzinfo) -> str:
    """ "07:41 UTC", "08:41 CET"."""
    local = at.astimezone(tz)
    return f"{local:%H:%M} {local.tzname()}"


def _day_hm(at: datetime, tz: tzinfo) -> str:
    """ "Tue 14 Jan 22:00 UTC" (English names whatever the process locale)."""
    local = at.astimezone(tz)
    return f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {_hm(local, tz)}"


def _window(starts: datetime, ends: datetime, tz: tzinfo) -> str:
    """ "Tue 14 Jan 22:00–23:30 UTC", or both ends in full when they fall on different days."""
    a, b = starts.astimezone(tz), ends.astimezone(tz)
    if a.date() == b.date() and a.tzname() == b.tzname():
        return f"{_day_hm(a, tz).rsplit(' ', 1)[0]}–{_hm(b, tz)}"
    return f"{_day_hm(a, tz)} – {_day_hm(b, tz)}"


# --- samples, validation, preview ------------------------------------------------------------


_INCIDENT_SAMPLES = (  # kind, minutes after opening, phase, author, message
    (EventKind.INCIDENT_OPENED, 0, Phase.INVESTIGATING, "statusbot",
     "Public API is not responding. We are investigating and will post an update soon."),
    (EventKind.INCIDENT_UPDATED, 12, Phase.IDENTIFIED, "operator",
     "A database migration failed and the API cannot read its data. We are rolling it back; "
     "requests may fail until that is done."),
    (EventKind.INCIDENT_REMINDER, 42, Phase.IDENTIFIED, "statusbot",
     "We are still rolling back the database migration."),
    (EventKind.INCIDENT_RESOLVED, 58, Phase.RESOLVED, "statusbot",
     "Public API and Database are working normally again. The outage lasted 58 minutes."),
)  # fmt: skip
_MAINTENANCE_SAMPLES = (  # kind, minutes after announcing, status, message
    (EventKind.MAINTENANCE_SCHEDULED, 0, "scheduled",
     "We are upgrading the database. The Public API may answer slowly for a few minutes."),
    (EventKind.MAINTENANCE_STARTED, 2880, "in_progress", "The upgrade has begun."),
    (EventKind.MAINTENANCE_ENDED, 2970, "completed", "The upgrade is complete."),
    (EventKind.MAINTENANCE_CANCELLED, 60, "cancelled", "We have postponed the upgrade."),
)  # fmt: skip


def sample_events(at: datetime) -> list[Event]:
    """One realistic event per kind, shaped as the store writes them: an API outage opened at
    ``at`` that spreads to the database, and a database maintenance announced at ``at``."""
    api, db = {"id": "api", "name": "Public API"}, {"id": "db", "name": "Database"}
    events: list[Event] = []
    for kind, minutes, phase, author, message in _INCIDENT_SAMPLES:
        when = at + timedelta(minutes=minutes)
        incident = {
            "id": 12, "title": "Public API outage", "phase": phase.value, "impact": "major",
            "auto": True, "opened_at": at.isoformat(), "duration_seconds": minutes * 60.0,
            "resolved_at": when.isoformat() if phase is Phase.RESOLVED else None,
        }  # fmt: skip
        payload: dict[str, object] = {
            "kind": kind.value, "at": when.isoformat(), "message": message, "phase": phase.value,
            "incident": incident, "maintenance": None, "update_id": None, "author": author,
            "components": [api] if kind is EventKind.INCIDENT_OPENED else [api, db],
        }  # fmt: skip
        events.append(Event(len(events) + 1, kind, when, 12, None, payload))
    starts, ends = at + timedelta(days=2), at + timedelta(days=2, minutes=90)
    for kind, minutes, status, message in _MAINTENANCE_SAMPLES:
        when = at + timedelta(minutes=minutes)
        maint = {
            "id": 3, "title": "Database upgrade", "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(), "status": status,
        }  # fmt: skip
        announcement: dict[str, object] = {
            "kind": kind.value, "at": when.isoformat(), "message": message, "phase": None,
            "incident": None, "maintenance": maint, "components": [db], "update_id": None,
            "author": "operator",
        }  # fmt: skip
        events.append(Event(len(events) + 1, kind, when, None, 3, announcement))
    return events


def validate(
    templates_dir: Path | None,
    *,
    site_title: str = "Example Status",
    site_url: str | None = "https://status.example.com",
    timezone: str = "UTC",
) -> list[str]:
    """Problems of every message template, overrides and defaults: "FILE:LINE: what".

    Each is rendered against the sample event of its kind, with and without a site URL; X
    templates must also give different texts for two successive updates.
    """
    if templates_dir is not None and not templates_dir.is_dir():
        return [f"{templates_dir}: not a directory"]
    renderer = Renderer(templates_dir)
    samples = {e.kind.value: e for e in sample_events(datetime(2026, 1, 14, 7, 41, tzinfo=UTC))}
    defaults = [n for n in renderer.defaults.list_templates() if n.endswith(SUFFIX)]
    jobs = [(renderer.defaults, PACKAGED, n) for n in defaults]
    if templates_dir is not None:
        found = [p for d in (*CHANNEL_KINDS, DEFAULT_DIR) for p in templates_dir.glob(f"{d}/*")]
        names = sorted(p.relative_to(templates_dir).as_posix() for p in found if _visible_file(p))
        jobs += [(renderer.env, str(templates_dir), n) for n in names]
    problems: list[str] = []
    for env, shown, name in jobs:
        channel, _, kind = name.removesuffix(SUFFIX).partition("/")
        if not name.endswith(SUFFIX) or kind not in samples:
            problems.append(f"{shown}/{name}: not a template name: use <channel>/<kind>{SUFFIX}")
            continue
        try:
            template = env.get_template(name)
            texts = [
                template.render(context(samples[kind], site_title=site_title, site_url=url,
                                        timezone=timezone, update_number=n)).strip()
                for url, n in ((site_url, 2), (site_url, 3), (None, 4))
            ]  # fmt: skip
        except TemplateError as exc:
            problems.append(_problem(exc, f"{shown}/{name}"))
            continue
        if channel == "x" and texts[0] == texts[1]:
            problems.append(
                f"{shown}/{name}: X refuses repeated texts: use {{{{ update_number }}}}"
            )
    return problems


def _visible_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".")  # editors' swap files are not ours


def _problem(exc: TemplateError, where: str) -> str:
    """ "templates/x/incident.opened.txt.j2:3: 'foo' is undefined"."""
    line = exc.lineno if isinstance(exc, TemplateSyntaxError) else None
    if line is None:  # a render-time error: Jinja maps its frames to template lines
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
        line = frames[-1].lineno if frames else None
    return f"{where}:{line}: {exc.message}" if line else f"{where}: {exc.message}"


def preview_rows(
    renderer: Renderer,
    limits: Mapping[str, Limit],
    *,
    channels: Sequence[str] = CHANNEL_KINDS,
    site_title: str = "Example Status",
    site_url: str | None = "https://status.example.com",
    timezone: str = "UTC",
    at: datetime | None = None,
) -> list[tuple[str, str, int, int | None, str]]:
    """(channel, event kind, counted length, limit or None, text) for every sample event.

    Texts are fitted where the channel has a limit, so the preview shows what would be sent; a
    template too long even without its message is shown unfitted (counted > max).
    """
    at = at or datetime.now(UTC).replace(second=0, microsecond=0)
    rows: list[tuple[str, str, int, int | None, str]] = []
    for channel in channels:
        limit = limits.get(channel)
        numbers: dict[tuple[int | None, int | None], int] = {}  # one thread per subject
        for event in sample_events(at):
            subject = (event.incident_id, event.maintenance_id)
            numbers[subject] = numbers.get(subject, 0) + 1
            ctx = context(event, site_title=site_title, site_url=site_url, timezone=timezone,
                          update_number=numbers[subject])  # fmt: skip
            text = renderer.render(channel, event, ctx)
            if limit is not None:
                with contextlib.suppress(ValueError):  # shown as is: counted > max says it
                    text = renderer.render_fitted(channel, event, ctx, limit)
            counted = limit.count(text) if limit else len(text)
            rows.append((channel, event.kind.value, counted, limit.max if limit else None, text))
    return rows


def format_preview(rows: Iterable[tuple[str, str, int, int | None, str]]) -> str:
    """Rows of :func:`preview_rows` as text: a heading with counted/limit, then the text."""
    parts = []
    for channel, kind, counted, maximum, text in rows:
        if maximum is None:
            size = f"{counted} characters, no limit"
        else:
            size = f"{counted}/{maximum}" + ("  TOO LONG" if counted > maximum else "")
        body = "\n".join(f"   {line}" for line in text.splitlines())
        parts.append(f"── {channel} · {kind} · {size}\n{body}")
    return "\n\n".join(parts) + "\n"
