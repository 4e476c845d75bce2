"""The HTML pages, rendered from a store the real pipeline filled: banner, components, bars,
incidents, history, maintenance, head tags, escaping and template overrides."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from statusbot import config as configmod
from statusbot.config import Config
from statusbot.incidents import humanize_duration
from statusbot.model import (
    CheckResult,
    Impact,
    OpenIncident,
    Phase,
    ResolveIncident,
    ScheduleMaintenance,
    State,
    UpdateIncident,
)
from statusbot.page import html, site, snapshot
from statusbot.pipeline import Pipeline
from statusbot.store import Store

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
HOSTILE = 'Found it: <script>alert(1)</script> a bad deploy & a "quote".'

CONFIG = """
site:
  title: Example Status
  url: https://status.example.com
  output_dir: {out}
  timezone: {tz}
  description: Live status of Example's services.
incidents: {{resolve_after: 0s}}
components:
  - {{id: api, name: Public API, group: Core, checks: [{{type: tcp, host: 127.0.0.1, port: 1}}]}}
  - {{id: db, name: Database, group: Core, checks: [{{type: tcp, host: 127.0.0.1, port: 2}}]}}
  - {{id: web, name: "Web & <i>CDN</i>", checks: [{{type: tcp, host: 127.0.0.1, port: 3}}]}}
channels: {{console: {{}}}}
"""


def filled(tmp_path: Path, tz: str = "Europe/Berlin", extra: str = "") -> tuple[Config, Store]:
    """A store the pipeline filled: incident 1 (api) opened, updated by an operator with
    hostile text and resolved; incident 2 (db) open with an update; db maintenance tomorrow."""
    text = CONFIG.format(out=tmp_path / "site", tz=tz) + extra
    config = configmod.from_text(text, "t.yaml", env={})
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    pipeline = Pipeline(config, store)

    def results(seconds: float, states: dict[str, State]) -> None:
        at = T0 + timedelta(seconds=seconds)
        pipeline.handle([CheckResult(f"{c}.tcp", c, at, s, "refused") for c, s in states.items()])

    everyone_up = {"api": State.UP, "db": State.UP, "web": State.UP}
    results(0, everyone_up)
    results(10, everyone_up)
    results(30, {"api": State.DOWN})
    results(40, {"api": State.DOWN})  # incident 1 opens
    with store.write(durable=True) as tx:
        tx.apply(
            UpdateIncident(1, T0 + timedelta(minutes=5), HOSTILE, phase=Phase.IDENTIFIED),
            config.channels.route,
        )
    results(700, {"api": State.UP})
    results(760, {"api": State.UP})  # resolved: 12 minutes
    results(1800, {"db": State.DOWN})
    results(1810, {"db": State.DOWN})  # incident 2 opens
    with store.write(durable=True) as tx:
        tx.apply(
            UpdateIncident(
                2, T0 + timedelta(minutes=35), "Restoring from a replica.", phase=Phase.IDENTIFIED
            ),
            config.channels.route,
        )
        tx.apply(
            ScheduleMaintenance(
                "Database upgrade",
                "Expect <b>brief</b> read-only mode.",
                ("db",),
                T0 + timedelta(days=1),
                T0 + timedelta(days=1, hours=2),
                "cli:test",
                T0,
            ),
            config.channels.route,
        )
    results(3000, everyone_up | {"db": State.DOWN})
    return config, store


def pages(snap: snapshot.Snapshot, templates: Path | None = None) -> dict[str, str]:
    """The HTML pages ``site.render_all`` makes, as text; every page must be valid UTF-8."""
    files = site.render_all(snap, templates)
    return {path: data.decode() for path, data in files.items() if path.endswith(".html")}


def render(tmp_path: Path, tz: str = "Europe/Berlin", templates: Path | None = None) -> dict:
    config, store = filled(tmp_path, tz)
    try:
        return pages(snapshot.take(store, config, NOW), templates)
    finally:
        store.close()


# --- a small DOM, enough to ask questions of the markup ----------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, str):
                continue
            classes = child.attrs.get("class", "").split()
            if (
                (tag is None or child.tag == tag)
                and (cls is None or cls in classes)
                and all(child.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
            ):
                found.append(child)
            found.extend(child.all(tag, cls, **attrs))
        return found

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        (node,) = self.all(tag, cls, **attrs)
        return node


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for n in range(len(self.stack) - 1, 0, -1):
            if self.stack[n].tag == tag:
                del self.stack[n:]
                return
        raise AssertionError(f"stray </{tag}>")

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def dom(markup: str) -> Node:
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    assert [n.tag for n in builder.stack] == ["#document"], "every element is closed"
    return builder.root


# --- the front page ---------------------------------------------------------------------


def test_every_page_is_rendered(tmp_path: Path) -> None:
    out = render(tmp_path)
    assert set(out) == {
        "index.html",
        "history.html",
        "incidents/1.html",
        "incidents/2.html",
        "maintenance/1.html",
    }


def test_index_shows_the_banner_and_every_components_state_by_group(tmp_path: Path) -> None:
    page = dom(render(tmp_path)["index.html"])
    banner = page.one("section", "banner")
    assert "b-partial_outage" in banner.attrs["class"]
    assert banner.one("h1").text() == "Partial outage"
    assert "Last checked 22 Nov 2026, 08:50 CET (07:50 UTC)" in banner.text()
    groups = page.all("div", "group")
    assert [g.all("h3")[0].text() if g.all("h3") else None for g in groups] == ["Core", None]
    shown = {
        c.one("span", "component-name").text(): (
            c.one("span", "state").attrs["class"],
            c.one("span", "state").text(),
        )
        for c in page.all("li", "component")
    }
    assert shown == {
        "Public API": ("state st-up", "Operational"),
        "Database": ("state st-down", "Outage"),
        "Web & <i>CDN</i>": ("state st-up", "Operational"),
    }
    for state in page.all("span", "state"):
        assert state.one("svg").attrs["aria-hidden"] == "true", "an icon shape beside the words"


def test_each_bar_has_90_focusable_days_with_date_uptime_and_incidents(tmp_path: Path) -> None:
    page = dom(render(tmp_path)["index.html"])
    bars = page.all("ol", "bar")
    assert len(bars) == 3
    for bar in bars:
        assert bar.attrs["aria-label"].endswith("uptime, last 90 days")
        days = bar.all("li")
        assert len(days) == 90
        for day in days:
            assert day.attrs["tabindex"] == "0", "reachable by keyboard, not only by hover"
            assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", day.one("strong").text())
            assert re.search(r"(\d+(\.\d\d)?% uptime|No data)", day.text())
        assert days[0].text().startswith("25 Aug 2026")
        assert days[-1].text().startswith("22 Nov 2026")
    api, _db, web = bars
    assert "s-down" in api.all("li")[-1].attrs["class"], "the day's worst state"
    assert "s-unknown" in api.all("li")[0].attrs["class"]
    assert api.all("li")[0].text() == "25 Aug 2026 No data No incidents"
    today = api.all("li")[-1]
    assert [a.attrs["href"] for a in today.all("a")] == ["incidents/1.html"]
    assert "Public API outage" in today.text()
    assert "% uptime" in today.text()
    assert web.all("li")[-1].text() == "22 Nov 2026 Operational · 100% uptime No incidents"
    legends = [
        li.one("p", "legend").one("span", "uptime").text() for li in page.all("li", "component")
    ]
    assert legends[2] == "100% uptime"
    assert all(re.fullmatch(r"\d+(\.\d\d)?% uptime", text) for text in legends)


def test_active_incident_is_on_top_with_its_latest_update(tmp_path: Path) -> None:
    markup = render(tmp_path)["index.html"]
    page = dom(markup)
    active = page.one("section", aria_labelledby="active")
    (card,) = active.all("article")
    assert card.one("h3").text() == "Database outage"
    assert card.one("h3").one("a").attrs["href"] == "incidents/2.html"
    latest = card.one("div", "latest")
    assert latest.text().startswith("Identified 22 Nov 2026, 08:35 CET (07:35 UTC)")
    assert "Restoring from a replica." in latest.text()
    assert markup.index('id="active"') < markup.index('id="components"')
    past = page.one("section", aria_labelledby="past")
    assert [a.text() for a in past.all("a")] == ["Public API outage", "Incident history"]


def test_upcoming_maintenance_is_on_the_index_and_has_its_page(tmp_path: Path) -> None:
    out = render(tmp_path)
    card = dom(out["index.html"]).one("section", aria_labelledby="maint").one("article")
    assert card.one("a").attrs["href"] == "maintenance/1.html"
    assert "Scheduled 23 Nov 2026, 08:00 CET (07:00 UTC) – 23 Nov 2026, 10:00 CET" in card.text()
    page = dom(out["maintenance/1.html"])
    assert page.one("h1").text() == "Database upgrade"
    assert "Expect <b>brief</b> read-only mode." in page.one("main").text()
    assert "2 hours" in page.one("dl").text()


# --- incident pages and history ------------------------------------------------------------


def test_incident_page_lists_every_update_with_local_and_utc_times(tmp_path: Path) -> None:
    config, store = filled(tmp_path)
    with store.read() as tx:
        incident = tx.incident(1)
    out = pages(snapshot.take(store, config, NOW))
    store.close()
    assert incident is not None
    assert incident.resolved_at is not None
    page = dom(out["incidents/1.html"])
    assert page.one("h1").text() == "Public API outage"
    facts = page.one("dl").text()
    assert "Affected Public API" in facts
    assert humanize_duration(incident.duration(NOW)) == "12 minutes"
    assert "Duration 12 minutes" in facts
    assert "Resolved 22 Nov 2026, 08:12 CET (07:12 UTC)" in facts
    entries = page.one("ol", "timeline").all("li")
    assert len(entries) == len(incident.updates) >= 3
    for entry, update in zip(entries, reversed(incident.updates), strict=True):
        utc = update.at.astimezone(UTC)
        assert f"({utc:%H:%M} UTC)" in entry.text()
        assert entry.one("time").attrs["datetime"] == f"{utc:%Y-%m-%dT%H:%M:%SZ}"
        assert entry.one("p", "update-head").one("span", "tag").text() == update.phase.value.title()
        assert entry.one("p", "text").text() == " ".join(update.message.split())
    assert entries[0].one("span", "tag").text() == "Resolved"
    assert "Resolved" in page.one("p", "meta").text()


def test_hostile_text_stays_text_everywhere(tmp_path: Path) -> None:
    out = render(tmp_path)
    for path, markup in out.items():
        assert "<script" not in markup, f"{path}: no script at all (readable with JS off)"
        assert "<i>CDN" not in markup, path
        assert "<b>brief" not in markup, path
    page = dom(out["incidents/1.html"])
    assert HOSTILE in page.one("ol", "timeline").text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out["incidents/1.html"]
    assert 'aria-label="Web &amp; &lt;i&gt;CDN&lt;/i&gt; uptime' in out["index.html"]


def test_history_is_paginated_20_a_page_and_grouped_by_month(tmp_path: Path) -> None:
    config, store = filled(tmp_path)
    with store.write() as tx:
        for n in range(43):
            at = T0 - timedelta(days=3 * (n + 1))
            made = tx.apply(OpenIncident(f"Old {n}", Impact.MINOR, ("web",), "x", at, False), [])
            tx.apply(ResolveIncident(made.id, at + timedelta(minutes=n + 1), "fixed"), [])
    out = pages(snapshot.take(store, config, NOW))
    store.close()
    assert {p for p in out if p.startswith("history")} == {
        "history.html",
        "history-2.html",
        "history-3.html",
    }
    counts = []
    for number, path in enumerate(("history.html", "history-2.html", "history-3.html"), 1):
        page = dom(out[path])
        items = page.one("main").all("h3", "past-title")
        counts.append(len(items))
        months = [h.text() for h in page.one("main").all("h2")]
        assert months
        assert all(re.fullmatch(r"[A-Z][a-z]+ 2026", m) for m in months)
        pager = page.one("nav", "pager")
        current = [a.text() for a in pager.all("a") if "aria-current" in a.attrs]
        assert current == [f"Page {number}"]
    assert counts == [20, 20, 5], "45 incidents: the 2 recent and 43 old ones"
    first = dom(out["history.html"]).one("main")
    assert first.all("h2")[0].text() == "November 2026"
    assert first.all("h3")[0].text() == "Database outage", "newest first"
    assert "October 2026" in [h.text() for h in first.all("h2")]


def test_history_without_incidents_says_so(tmp_path: Path) -> None:
    text = CONFIG.format(out=tmp_path / "site", tz="UTC")
    config = configmod.from_text(text, "t.yaml", env={})
    with Store.open(f"sqlite:///{tmp_path}/s.db") as store:
        out = pages(snapshot.take(store, config, NOW))
    assert "No incidents reported." in dom(out["history.html"]).one("main").text()
    banner = dom(out["index.html"]).one("section", "banner").text()
    assert banner == "All systems operational No checks have run yet"


# --- head, time zones, overrides ----------------------------------------------------------


def test_head_has_title_description_open_graph_icon_feed_and_no_external_assets(
    tmp_path: Path,
) -> None:
    out = render(tmp_path)
    page = dom(out["incidents/2.html"])
    assert page.one("html").attrs["lang"] == "en"
    head = page.one("head")
    meta = {
        m.attrs.get("name") or m.attrs.get("property"): m.attrs.get("content")
        for m in head.all("meta")
    }
    assert head.one("title").text() == "Database outage · Example Status"
    assert meta["description"] == "Restoring from a replica.", "the latest word, for link cards"
    assert meta["og:title"] == "Database outage · Example Status"
    assert meta["og:url"] == "https://status.example.com/incidents/2.html"
    assert meta["og:type"] == "article"
    assert meta["twitter:card"] == "summary"
    assert meta["viewport"] == "width=device-width, initial-scale=1"
    links = {
        (ln.attrs["rel"], ln.attrs.get("type", "")): ln.attrs["href"] for ln in head.all("link")
    }
    assert links[("icon", "image/svg+xml")] == "../assets/favicon.svg"
    assert links[("stylesheet", "")] == "../assets/style.css"
    assert links[("alternate", "application/atom+xml")] == "../feed.atom"
    index = dom(out["index.html"]).one("head")
    assert index.one("meta", name="description").attrs["content"] == (
        "Live status of Example's services."
    )
    assert index.one("meta", property="og:url").attrs["content"] == "https://status.example.com/"
    for path, markup in out.items():
        for ref in re.findall(r'(?:src|href)="([^"]*)"', markup):
            assert not ref.startswith(("http:", "https:", "//")) or ref.startswith(
                "https://status.example.com"
            ), f"{path}: external asset {ref}"
        landmarks = [n.tag for n in dom(markup).one("body").children if isinstance(n, Node)]
        assert {"header", "main", "footer"} <= set(landmarks), path


def test_a_utc_site_shows_each_time_once(tmp_path: Path) -> None:
    page = dom(render(tmp_path, tz="UTC")["incidents/1.html"])
    head = page.one("ol", "timeline").all("li")[-1].one("p", "update-head").text()
    assert head == "Investigating 22 Nov 2026, 07:00 UTC"


def test_templates_dir_overrides_a_page_template(tmp_path: Path) -> None:
    overrides = tmp_path / "templates" / "page"
    overrides.mkdir(parents=True)
    (overrides / "index.html.j2").write_text(
        '{% extends "base.html.j2" %}{% block main %}<p id="x">Ours: {{ snap.overall.value }}'
        " {{ '<b>' }}</p>{% endblock %}"
    )
    out = render(tmp_path, templates=tmp_path / "templates")
    assert dom(out["index.html"]).one("p", id="x").text() == "Ours: partial_outage <b>"
    assert "&lt;b&gt;" in out["index.html"], "overrides are escaped too"
    assert 'class="timeline"' in out["incidents/1.html"], "pages not overridden keep the default"


def test_an_undefined_variable_in_a_template_is_an_error(tmp_path: Path) -> None:
    overrides = tmp_path / "templates" / "page"
    overrides.mkdir(parents=True)
    (overrides / "history.html.j2").write_text("{{ no_such_thing }}")
    with pytest.raises(jinja2.UndefinedError):
        render(tmp_path, templates=tmp_path / "templates")


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "no data"), (1.0, "100%"), (0.99999, "99.99%"), (0.9995, "99.95%"), (0.0, "0.00%")],
)
def test_percent_never_rounds_up_to_100(value: float | None, text: str) -> None:
    assert html.percent(value) == text
