"""Templates per channel and event kind: defaults, overrides, context, limits, validation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from statusbot.fitting import ELLIPSIS, mastodon_counter, x_counter
from statusbot.model import (
    ComponentInfo,
    Event,
    EventKind,
    Impact,
    OpenIncident,
    ScheduleMaintenance,
)
from statusbot.model import UpdateIncident as Update
from statusbot.publishers.base import Limit
from statusbot.render import (
    CHANNEL_KINDS,
    Renderer,
    context,
    format_preview,
    preview_rows,
    sample_events,
    validate,
)
from statusbot.store import Store

T0 = datetime(2026, 1, 14, 7, 41, tzinfo=UTC)
SITE = "https://status.example.com"
LIMITS = {"mastodon": Limit(500, mastodon_counter()), "x": Limit(280, x_counter())}
HOSTILE = (
    "<script>alert('x')</script> {{ site }} 日本語の説明 👨‍👩‍👧‍👦 e\u0301 https://evil.example/"
    + "a" * 40
    + " @bob@example.com "
    + " ".join(f"word{i}" for i in range(400))
)[:2000]
SAMPLES = sample_events(T0)
REPO = Path(__file__).resolve().parents[2]


def ctx(event: Event, n: int = 1, **kw: object) -> dict[str, Any]:
    args: dict[str, object] = {"site_title": "Example Status", "site_url": SITE, "timezone": "UTC"}
    return context(event, update_number=n, **{**args, **kw})  # type: ignore[arg-type]


def by_kind(kind: EventKind) -> Event:
    return next(e for e in SAMPLES if e.kind is kind)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_one_sample_per_kind() -> None:
    assert [e.kind for e in SAMPLES] == list(EventKind)


@pytest.mark.parametrize("channel", CHANNEL_KINDS)
@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.kind.value)
def test_every_default_renders_for_every_channel(
    renderer: Renderer, channel: str, event: Event
) -> None:
    c = ctx(event, 2)
    text = renderer.render(channel, event, c)
    assert c["components_text"] in text
    assert c["message"] in text
    assert str(c["link"]) in text
    no_site = renderer.render(channel, event, ctx(event, 2, site_url=None))
    assert "None" not in no_site
    assert "http" not in no_site
    limit = LIMITS.get(channel)
    if limit is not None:  # a normal message fits without shortening, with room to spare
        assert limit.count(text) <= limit.max - 40
        assert renderer.render_fitted(channel, event, c, limit) == text


@pytest.mark.parametrize("channel", ["mastodon", "x"])
@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.kind.value)
def test_hostile_message_is_fitted_keeping_link_and_components(
    renderer: Renderer, channel: str, event: Event
) -> None:
    assert len(HOSTILE) == 2000
    c = {**ctx(event, 7), "message": HOSTILE}
    limit = LIMITS[channel]
    text = renderer.render_fitted(channel, event, c, limit)
    assert limit.count(text) <= limit.max
    assert str(c["link"]) in text
    for name in c["components"]:
        assert name in text
    assert ELLIPSIS in text
    assert "<script>alert('x')</script> {{ site }}" in text  # plain text, never evaluated


def test_plain_text_is_not_escaped(renderer: Renderer) -> None:
    event = by_kind(EventKind.INCIDENT_UPDATED)
    message = "<script>alert(1)</script> & <b>"
    for channel in CHANNEL_KINDS:
        assert message in renderer.render(channel, event, ctx(event), message=message)


def test_x_texts_of_successive_updates_differ(renderer: Renderer) -> None:
    first = by_kind(EventKind.INCIDENT_REMINDER)
    second = dataclasses.replace(first, id=99, at=first.at + timedelta(minutes=30))
    texts = {renderer.render("x", e, ctx(e, n)) for n, e in ((3, first), (4, second))}
    texts.add(renderer.render("x", first, ctx(first, 4)))  # same minute, next number
    assert len(texts) == 3


def test_context_variables() -> None:
    c = ctx(by_kind(EventKind.INCIDENT_REMINDER), 3, timezone="Europe/Berlin")
    assert c["site"] == {"title": "Example Status", "url": SITE}
    assert c["kind"] == "incident.reminder"
    assert (c["phase"], c["phase_label"], c["impact"]) == ("identified", "Identified", "major")
    assert c["title"] == "Public API outage"
    assert c["components"] == ["Public API", "Database"]
    assert c["components_text"] == "Public API and Database"
    assert c["link"] == f"{SITE}/incidents/12.html"
    assert (c["at_utc"], c["at_local"], c["date"]) == ("08:23 UTC", "09:23 CET", "2026-01-14")
    assert (c["since_utc"], c["since_local"]) == ("07:41 UTC", "08:41 CET")
    assert c["duration"] == "42 minutes"
    assert (c["next_update_by"], c["next_update_by_local"]) == ("08:53 UTC", "09:53 CET")
    assert (c["update_number"], c["maintenance"], c["author"]) == (3, None, "statusbot")
    later = context(
        by_kind(EventKind.INCIDENT_OPENED),
        site_title="S",
        site_url=f"{SITE}/",
        timezone="UTC",
        update_number=1,
        remind_after=timedelta(minutes=45),
    )
    assert later["next_update_by"] == "08:26 UTC"
    assert later["link"] == f"{SITE}/incidents/12.html"
    assert later["author"] == "statusbot"


def test_maintenance_context() -> None:
    c = ctx(by_kind(EventKind.MAINTENANCE_SCHEDULED), timezone="Europe/Berlin")
    assert c["link"] == f"{SITE}/maintenance/3.html"
    assert (c["phase"], c["phase_label"], c["impact"]) == ("scheduled", "Scheduled", "maintenance")
    assert c["maintenance"] == {
        "id": 3,
        "title": "Database upgrade",
        "status": "scheduled",
        "starts_utc": "Fri 16 Jan 07:41 UTC",
        "ends_utc": "Fri 16 Jan 09:11 UTC",
        "starts_local": "Fri 16 Jan 08:41 CET",
        "ends_local": "Fri 16 Jan 10:11 CET",
        "window_utc": "Fri 16 Jan 07:41–09:11 UTC",
        "window_local": "Fri 16 Jan 08:41–10:11 CET",
    }
    assert c["duration"] == "1 hour 30 minutes"
    assert ctx(by_kind(EventKind.MAINTENANCE_SCHEDULED), site_url=None)["link"] is None


def test_untrusted_text_is_cleaned() -> None:
    event = by_kind(EventKind.INCIDENT_UPDATED)
    payload = {**event.payload, "message": " line\r\nnext\x00\x1b[31m \udcff "}
    c = ctx(dataclasses.replace(event, payload=payload))
    assert c["message"] == "line\nnext[31m \ufffd"


def test_events_written_by_the_store_render(tmp_path: Path, renderer: Renderer) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.write() as tx:
        tx.sync_components([ComponentInfo("api", "Public API"), ComponentInfo("db", "Database")])
        inc = tx.apply(
            OpenIncident("Public API outage", Impact.MAJOR, ("api",), "Down.", T0, True), ["x"]
        )
        tx.apply(Update(inc.id, T0 + timedelta(minutes=5), "Found it.", add_components=("db",)),
                 ["x"])  # fmt: skip
        start = T0 + timedelta(days=1)
        window = (start, start + timedelta(hours=1))
        tx.apply(ScheduleMaintenance("Upgrade", "Short.", ("db",), *window, "cli:1", T0), ["x"])
        events = tx.events()
    store.close()
    assert [e.kind for e in events] == [
        EventKind.INCIDENT_OPENED,
        EventKind.INCIDENT_UPDATED,
        EventKind.MAINTENANCE_SCHEDULED,
    ]
    texts = [renderer.render("x", e, ctx(e, n)) for n, e in enumerate(events, start=1)]
    assert "Public API" in texts[0]
    assert "Public API and Database" in texts[1]
    assert f"{SITE}/incidents/{inc.id}.html" in texts[1]
    assert "Upgrade" in texts[2]
    assert ctx(events[1])["author"] == "operator"


# --- overrides and validation --------------------------------------------------------------


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_override_wins_and_default_dir_falls_back(tmp_path: Path) -> None:
    write(tmp_path, "x/incident.opened.txt.j2", "X {{ update_number }} {{ components_text }}\n")
    write(tmp_path, "default/incident.opened.txt.j2", "ANY {{ title }}")
    renderer = Renderer(tmp_path)
    event = by_kind(EventKind.INCIDENT_OPENED)
    assert renderer.render("x", event, ctx(event)) == "X 1 Public API"
    assert renderer.render("console", event, ctx(event)) == "ANY Public API outage"
    assert renderer.render("mastodon", event, ctx(event)) == "ANY Public API outage"
    updated = by_kind(EventKind.INCIDENT_UPDATED)  # not overridden: packaged default
    assert renderer.render("x", updated, ctx(updated)) == Renderer().render(
        "x", updated, ctx(updated)
    )


def test_validate_defaults_are_clean() -> None:
    assert validate(None) == []


def test_validate_reports_undefined_with_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    write(root, "x/incident.opened.txt.j2", "{{ title }}\n{{ update_number }}\nHi {{ nope }}\n")
    write(root, "page/index.html.j2", "{{ whatever }}")  # not a message template: not ours
    assert validate(root) == [f"{root}/x/incident.opened.txt.j2:3: 'nope' is undefined"]
    event = by_kind(EventKind.INCIDENT_OPENED)
    with pytest.raises(Exception, match="'nope' is undefined"):
        Renderer(root).render("x", event, ctx(event))


def test_validate_reports_syntax_errors_names_and_repeated_x_texts(tmp_path: Path) -> None:
    write(tmp_path, "mastodon/incident.updated.txt.j2", "ok\n{% if %}\n")
    write(tmp_path, "mastodon/incident.open.txt.j2", "{{ title }}")
    write(tmp_path, "x/incident.resolved.txt.j2", "Resolved: {{ title }} {{ link }}")
    write(tmp_path, "default/incident.reminder.txt.j2", "{{ maintenance.title }}")
    problems = validate(tmp_path)
    assert problems == [
        f"{tmp_path}/default/incident.reminder.txt.j2:1: 'None' has no attribute 'title'",
        f"{tmp_path}/mastodon/incident.open.txt.j2: not a template name: "
        "use <channel>/<kind>.txt.j2",
        f"{tmp_path}/mastodon/incident.updated.txt.j2:2: Expected an expression, got 'end of "
        "statement block'",
        f"{tmp_path}/x/incident.resolved.txt.j2: X refuses repeated texts: use "
        "{{ update_number }}",
    ]
    assert validate(tmp_path / "missing") == [f"{tmp_path / 'missing'}: not a directory"]


# --- preview and packaging -----------------------------------------------------------------


def test_preview_rows_and_format(tmp_path: Path) -> None:
    write(tmp_path, "x/incident.opened.txt.j2", "{{ link }} " + "long " * 80)
    rows = preview_rows(Renderer(tmp_path), LIMITS, at=T0)
    assert len(rows) == len(CHANNEL_KINDS) * len(EventKind)
    by = {(r[0], r[1]): r for r in rows}
    assert by[("x", "incident.updated")][2:4] == (
        x_counter()(by[("x", "incident.updated")][4]),
        280,
    )
    assert by[("console", "incident.opened")][3] is None
    assert by[("x", "incident.opened")][2] > 280
    later = [r for r in rows if r[0] == "x" and r[1] != "incident.opened"]
    numbers = [r[4].split("Update ")[1][0] for r in later]
    assert numbers == ["2", "3", "4", "1", "2", "3", "4"]  # one thread per incident/maintenance
    out = format_preview(rows)
    assert "── x · incident.updated · " in out
    assert "/280  TOO LONG" in out
    assert "characters, no limit" in out


def test_templates_symlink_and_package_data() -> None:
    packaged = REPO / "statusbot" / "data" / "templates"
    assert (REPO / "templates").resolve() == packaged.resolve()
    names = {p.relative_to(packaged).as_posix() for p in packaged.rglob("*.txt.j2")}
    for kind in EventKind:
        assert f"default/{kind.value}.txt.j2" in names
        assert f"x/{kind.value}.txt.j2" in names
    assert (packaged / "README.md").is_file()
