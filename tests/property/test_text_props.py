"""Hostile incident text (property-based) through every message template and the status page.

Titles, update messages, component names and maintenance texts are drawn from markup
(``<script>``, ``"><img onerror>``), entities, template syntax, very long text, emoji and ZWJ
sequences, combining marks, bidi overrides, URLs, mentions, hashtags, line breaks and control
characters. Then:

- every message template, for every channel kind and every event kind (both found at run time,
  not listed here), renders without an exception, and what a courier would send fits the
  channel's limit as the project counts it and as Mastodon.py and twitter-text count it, and
  holds no control character;
- every page of the site (HTML from ``render_all``) keeps the text as text: no element, attribute
  or script that a benign site does not have, no ``on*`` attribute, and the text readable back;
  ``feed.atom`` is well-formed XML carrying it; the JSON documents give it back exactly.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import re
import tempfile
import warnings
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mastodon import Mastodon

from statusbot import config as configmod
from statusbot.config import Config
from statusbot.delivery import Presenter
from statusbot.fitting import mastodon_counter
from statusbot.located import Located
from statusbot.model import (
    CancelMaintenance,
    EndMaintenance,
    Event,
    EventKind,
    Impact,
    OpenIncident,
    Phase,
    ResolveIncident,
    ScheduleMaintenance,
    StartMaintenance,
    UpdateIncident,
)
from statusbot.outbox import fallback_text
from statusbot.page import site, snapshot
from statusbot.publishers import AppriseChannel, ConsoleChannel, WebhookChannel, XChannel, build
from statusbot.publishers import mastodon as mastodon_publisher
from statusbot.publishers.base import Limit
from statusbot.render import CHANNEL_KINDS, SUFFIX, Renderer, clean, sample_events
from statusbot.store import Store
from statusbot.values import SECRET_REF

with warnings.catch_warnings():  # twitter-text-parser imports the deprecated pkg_resources
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from twitter_text import parse_tweet  # type: ignore[import-untyped]

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # a DST change in Europe an hour later
SAMPLES = sample_events(T0)
X_MAX = 280


def props(examples: int) -> settings:
    """``examples`` runs; rendering long text is slow, so no deadline."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- hostile text -----------------------------------------------------------------------------

PIECES = [
    "<script>alert(1)</script>", '"><img src=x onerror=1>', "' onmouseover='alert(1)",
    "<svg onload=alert(1)>", "</title><script>", "</p>", "<!--", "-->", "<![CDATA[", "]]>",
    "&amp;", "&amp;amp;", "&lt;b&gt;", "&#60;", "&#x3C;", "&", "&notit;", "<", ">", '"', "'",
    "{{ site }}", "{% raw %}", "{#", "${env:HOME}", "javascript:alert(1)", "%s", "\\",
    "👨‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "🇩🇪", "e\u0301", "a\u0308\u0308\u0308\u0308", "\u0301",
    "\u202e", "\u202a", "\u2066", "\u200f", "\u200b", "\u200d", "\ufeff", "\ufffe", "\uffff",
    "https://evil.example/a?b=1&c=<x>", "http://127.0.0.1:3000/health", "status.example.com",
    "www.example.org/x", "@bob@example.com", "@alice", "#outage", "#", "$AAPL",
    "\n", "\r\n", "\r", "\t", "\x00", "\x1b[31m", "\x07", "\x7f", "\x85", "\x9b", "\u2028",
    "\u2029", "日本語の説明", "中文", "العربية", "עברית", "…", " ", "  ", "—", "\U000e0001",
    "\U0010fffd", "word", "Outage", ".",
]  # fmt: skip
PIECE = st.one_of(st.sampled_from(PIECES), st.text(max_size=10))
SHORT = st.lists(PIECE, max_size=10).map("".join)
# Up to several thousand characters, cheaply: a short text repeated, with a space between the
# copies. Without the space a copy such as "a." makes one long dotted word, and twitter-text's
# URL regex takes time superlinear in its length ("a." * 400: 2 s per count, * 3000: 2 min; an
# upstream problem, known and left alone here, where it would only make the suite crawl).
LONG = st.builds(
    lambda text, times: " ".join([text] * times)[:3000],
    st.lists(PIECE, min_size=1, max_size=6).map("".join).filter(bool),
    st.integers(20, 1000),
)
WORDS = st.lists(  # long text with spaces, so that fitting cuts at word boundaries
    st.sampled_from(["word", "Wort", "日本", "https://x.example/p", "@bob@example.com", "#tag",
                     "<b>", "&amp;", "👨‍👩‍👧‍👦", "e\u0301", "\u202e", "a-b"]),
    min_size=60, max_size=500,
).map(" ".join)  # fmt: skip
HOSTILE = st.one_of(SHORT, SHORT, SHORT, SHORT, LONG, WORDS)  # a third long: each costs time


def config_text(text: str) -> bool:
    """Whether ``text`` may stand in the config (a secret reference there is refused)."""
    return not SECRET_REF.search(text)


TITLES = st.one_of(SHORT, SHORT, SHORT, SHORT, SHORT, LONG)  # long ones: slow plain fallbacks
NAMES = TITLES.filter(lambda s: bool(s) and config_text(s))


@dataclasses.dataclass(frozen=True)
class Site:
    title: str
    description: str
    url: str | None
    timezone: str


SITES = st.builds(
    Site,
    title=st.one_of(st.just("Example Status"), SHORT.filter(config_text)),
    description=st.one_of(st.just(""), SHORT.filter(config_text)),
    url=st.sampled_from(["https://status.example.com", None]),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"]),
)
BENIGN_SITE = Site("Example Status", "", "https://status.example.com", "Europe/Berlin")


def make_config(where: Site, names: tuple[str, str], group: str, description: str) -> Config:
    data = {
        "site": {
            "title": where.title,
            "url": where.url,
            "timezone": where.timezone,
            "description": where.description,
        },
        "components": [
            {"id": "api", "name": names[0], "group": group, "description": description},
            {"id": "db", "name": names[1]},
        ],
    }
    return configmod.parse(Located(data, {(): 1}), "props.yaml", env={})


# --- the message templates --------------------------------------------------------------------

RENDERER = Renderer()
TEMPLATES = sorted(n for n in RENDERER.defaults.list_templates() if n.endswith(SUFFIX))
CHANNELS = sorted({*CHANNEL_KINDS, *(name.split("/")[0] for name in TEMPLATES)})


def _limits() -> dict[str, Limit]:
    """Each channel's limit as its publisher reports it (Mastodon: without asking an instance,
    which is the publisher's fallback too)."""
    channels = [
        ConsoleChannel(),
        WebhookChannel.model_validate({"url": "https://hooks.example/x"}),
        AppriseChannel.model_validate({"urls": ["json://localhost/"], "title": "Status"}),
        XChannel.model_validate(dict.fromkeys(
            ("consumer_key", "consumer_secret", "access_token", "access_token_secret"), "k"
        )),
    ]  # fmt: skip
    limits = {}
    for settings_ in channels:
        publisher = build(settings_, lambda: T0)
        limits[publisher.kind] = asyncio.run(publisher.limit())
    limits["mastodon"] = Limit(
        mastodon_publisher.DEFAULT_MAX, mastodon_counter(mastodon_publisher.URL_WEIGHT)
    )
    return limits


LIMITS = _limits()


@dataclasses.dataclass(frozen=True)
class Texts:
    """The hostile parts of one set of events."""

    title: str
    maintenance_title: str
    names: tuple[str, str]
    messages: tuple[str, ...]  # one per sample event


TEXTS = st.builds(
    Texts,
    title=TITLES,
    maintenance_title=TITLES,
    names=st.tuples(NAMES, NAMES),
    messages=st.builds(  # short ones, and maybe one long one (fitting it takes time)
        lambda short, long: tuple(long.get(n, text) for n, text in enumerate(short)),
        st.lists(SHORT, min_size=len(SAMPLES), max_size=len(SAMPLES)),
        st.dictionaries(st.integers(0, len(SAMPLES) - 1), st.one_of(LONG, WORDS), max_size=1),
    ),
)


def hostile_events(texts: Texts) -> list[Event]:
    """The sample events (one per kind, shaped as the store writes them) with hostile text."""
    names = dict(zip(("api", "db"), texts.names, strict=True))
    out = []
    for event, message in zip(SAMPLES, texts.messages, strict=True):
        payload = copy.deepcopy(event.payload)
        payload["message"] = message
        payload["components"] = [
            {"id": c["id"], "name": names[c["id"]]}
            for c in payload["components"]  # type: ignore[attr-defined]
        ]
        if isinstance(payload.get("incident"), dict):
            payload["incident"]["title"] = texts.title  # type: ignore[index]
        if isinstance(payload.get("maintenance"), dict):
            payload["maintenance"]["title"] = texts.maintenance_title  # type: ignore[index]
        out.append(dataclasses.replace(event, payload=payload))
    return out


@lru_cache(maxsize=16)
def presenter(where: Site) -> Presenter:
    return Presenter(make_config(where, ("Public API", "Database"), "Core", ""))


def sent_text(show: Presenter, channel: str, event: Event, position: int, limit: Limit) -> str:
    """What a courier sends (``Courier._text``): the fitted template, or when even the template
    without any message is too long, the plain fallback. Any other failure is a bug."""
    try:
        return show(channel, event, position, limit)
    except ValueError:
        bare = show.renderer.render(channel, event, show.context(event, position), message="")
        assert limit.count(bare) > limit.max, "fit() gave up although the bare template fits"
        return fallback_text(event, limit)


def check_post(channel: str, text: str, limit: Limit) -> None:
    assert text.strip(), "an empty post"
    assert limit.count(text) <= limit.max, (limit.count(text), limit.max, text)
    assert clean(text) == text, f"control characters in the post: {text!r}"
    if channel == "mastodon":
        assert Mastodon.get_status_length(text) <= limit.max, text
    if channel == "x":
        parsed = parse_tweet(text)
        assert parsed.weightedLength <= X_MAX, (parsed, text)
        assert parsed.valid, (parsed, text)


def test_every_channel_and_event_kind_is_covered() -> None:
    """The properties below iterate over what exists; make sure that is everything."""
    assert {e.kind for e in SAMPLES} == set(EventKind)
    assert {"default", "x"} <= set(CHANNELS)
    assert set(CHANNEL_KINDS) <= set(CHANNELS)
    assert {"mastodon", "x", "console", "webhook", "apprise"} <= set(LIMITS)


@props(12)
@given(texts=TEXTS, where=SITES)
@example(
    texts=Texts("T" * 2000, "M" * 2000, ("\x00API\x1b[31m " * 100, "DB"), ("x",) * len(SAMPLES)),
    where=BENIGN_SITE,
)
@example(
    texts=Texts("Outage", "Upgrade", ("API", "DB"), ("\ufeff\ufffe\uffff" * 3,) * len(SAMPLES)),
    where=BENIGN_SITE,
)
@example(  # found: the plain fallback sent the raw message, a backspace included
    texts=Texts(
        "", "<script>alert(1)</script>" * 6, ("<script>alert(1)</script>",) * 2,
        ("",) * (len(SAMPLES) - 1) + ("\x08",),
    ),
    where=dataclasses.replace(BENIGN_SITE, timezone="UTC"),
)  # fmt: skip
def test_every_template_renders_hostile_text_within_each_limit(texts: Texts, where: Site) -> None:
    show = presenter(where)
    used: set[str] = set()
    events = hostile_events(texts)
    for channel in CHANNELS:
        limit = LIMITS.get(channel, LIMITS["console"])
        numbers: dict[tuple[int | None, int | None], int] = {}  # one thread per subject
        for event in events:
            subject = (event.incident_id, event.maintenance_id)
            numbers[subject] = position = numbers.get(subject, 0) + 1
            used.add(str(show.renderer.template(channel, event.kind).name))
            text = sent_text(show, channel, event, position, limit)
            check_post(channel, text, limit)
            if channel == "console":  # room for everything: kept verbatim, never evaluated
                message = clean(str(event.payload["message"])).strip()
                assert message in text
                for component in event.payload["components"]:  # type: ignore[attr-defined]
                    assert clean(component["name"]).strip() in text
    assert used == set(TEMPLATES), "every packaged template was rendered"


# --- the page ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Story:
    """One resolved incident, one still open, a maintenance done and one cancelled."""

    where: Site
    names: tuple[str, str]
    group: str
    description: str
    titles: tuple[str, str]
    messages: tuple[str, ...]  # opened, updated, reminder, resolved, open incident's first
    maintenance_title: str
    maintenance_message: str


STORIES = st.builds(
    Story,
    where=SITES,
    names=st.tuples(NAMES, NAMES),
    group=NAMES,
    description=SHORT.filter(config_text),
    titles=st.tuples(TITLES, TITLES),
    messages=st.lists(HOSTILE, min_size=5, max_size=5).map(tuple),
    maintenance_title=TITLES,
    maintenance_message=HOSTILE,
)
BENIGN = Story(
    BENIGN_SITE,
    ("Public API", "Database"),
    "Core",
    "REST API",
    ("API outage", "Slow database"),
    ("Down.", "Found it.", "Still on it.", "Fixed.", "Slow."),
    "Upgrade",
    "Short.",
)
NOW = T0 + timedelta(hours=3)


def site_files(story: Story) -> dict[str, bytes]:
    """Every file of the site, from a store the story was written into."""
    config = make_config(story.where, story.names, story.group, story.description)
    route = ["console", "mastodon", "x"]
    m = story.messages
    minutes = timedelta(minutes=1)
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{folder}/props.db")
        try:
            with store.write() as tx:
                tx.sync_components(config.component_infos())
                inc = tx.apply(
                    OpenIncident(story.titles[0], Impact.MAJOR, ("api",), m[0], T0, False), route
                )
                later = UpdateIncident(
                    inc.id, T0 + 5 * minutes, m[1], Phase.IDENTIFIED, add_components=("db",)
                )
                tx.apply(later, route)
                reminder = UpdateIncident(
                    inc.id, T0 + 35 * minutes, m[2], kind=EventKind.INCIDENT_REMINDER
                )
                tx.apply(reminder, route)
                tx.apply(ResolveIncident(inc.id, T0 + 50 * minutes, m[3]), route)
                tx.apply(
                    OpenIncident(story.titles[1], Impact.MINOR, ("db",), m[4], T0, False), route
                )
                start, end = T0 + 60 * minutes, T0 + 120 * minutes
                done = tx.apply(
                    ScheduleMaintenance(
                        story.maintenance_title, story.maintenance_message, ("api", "db"),
                        start, end, f"cli:{T0.isoformat()}", T0,
                    ),
                    route,
                )  # fmt: skip
                tx.apply(StartMaintenance(done.id, start), route)
                tx.apply(EndMaintenance(done.id, end), route)
                dropped = tx.apply(
                    ScheduleMaintenance(
                        story.maintenance_title, story.maintenance_message, ("db",),
                        start + 300 * minutes, end + 300 * minutes, "cli:second", T0,
                    ),
                    route,
                )  # fmt: skip
                tx.apply(CancelMaintenance(dropped.id, T0 + 130 * minutes), route)
            return site.render_all(snapshot.take(store, config, NOW), None)
        finally:
            store.close()


class Page(HTMLParser):
    """Elements, attributes, script bodies and the text of one HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self.data: list[str] = []
        self._script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag == "script":
            self._script = True
            self.scripts.append(repr(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._script:
            self.scripts[-1] += data
        self.data.append(data)

    @property
    def text(self) -> str:
        return "".join(self.data)

    def shapes(self) -> set[tuple[str, str]]:
        return {(tag, name) for tag, attrs in self.tags for name, _ in attrs} | {
            (tag, "") for tag, _ in self.tags
        }


def html_pages(files: dict[str, bytes]) -> dict[str, Page]:
    return {path: Page(data.decode()) for path, data in files.items() if path.endswith(".html")}


@lru_cache(maxsize=1)
def benign() -> tuple[set[tuple[str, str]], set[str]]:
    """Every (element, attribute) and every script body of the site with ordinary text."""
    pages = html_pages(site_files(BENIGN)).values()
    return set().union(*(p.shapes() for p in pages)), set().union(*(p.scripts for p in pages))


ATOM = "{http://www.w3.org/2005/Atom}"
ATOM_TAGS = {
    ATOM + t
    for t in (
        "feed", "id", "title", "subtitle", "updated", "link", "author", "name", "uri",
        "generator", "entry", "content",
    )
}  # fmt: skip
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def as_xml_reads_it(text: str) -> str:
    """``text`` as it comes back out of an XML document: characters XML 1.0 cannot carry gone,
    line ends normalised to LF (XML 1.0 §2.11)."""
    return _NOT_XML.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def check_html(pages: dict[str, Page], story: Story) -> None:
    shapes, scripts = benign()
    for path, page in pages.items():
        extra = page.shapes() - shapes
        assert not extra, f"{path}: elements or attributes a benign page does not have: {extra}"
        assert set(page.scripts) <= scripts, f"{path}: a script of its own: {page.scripts}"
        for tag, attrs in page.tags:
            for name, value in attrs:
                assert not name.startswith("on"), f"{path}: <{tag} {name}={value!r}>"
                if name in ("href", "src", "action") and value:
                    assert not value.strip().lower().startswith("javascript:"), (path, value)
    m = story.messages
    first, second = pages["incidents/1.html"].text, pages["incidents/2.html"].text
    assert story.titles[0] in first
    for message in m[:4]:
        assert message in first
    assert story.titles[1] in second
    assert m[4] in second
    index = pages["index.html"].text
    for name in (*story.names, story.group):
        assert name in index
    maintenance = pages["maintenance/1.html"].text
    assert story.maintenance_title in maintenance
    assert story.maintenance_message in maintenance
    assert story.where.title in index


def check_feed(data: bytes, story: Story) -> None:
    root = ET.fromstring(data)
    assert root.tag == ATOM + "feed"
    strays = {el.tag for el in root.iter()} - ATOM_TAGS
    assert not strays, f"elements made of text: {strays}"
    entries = list(root.iter(ATOM + "entry"))
    contents = [e.findtext(ATOM + "content") or "" for e in entries]
    titles = [e.findtext(ATOM + "title") or "" for e in entries]
    for message in story.messages:
        assert as_xml_reads_it(message) in contents
    for title in (*story.titles, story.maintenance_title):
        assert any(t.endswith(": " + as_xml_reads_it(title)) for t in titles), title


def check_json(files: dict[str, bytes], story: Story) -> None:
    docs: dict[str, Any] = {p: json.loads(d) for p, d in files.items() if p.endswith(".json")}
    assert docs["api/v2/summary.json"]["page"]["name"] == story.where.title
    incidents = {i["name"]: i for i in docs["api/v2/incidents.json"]["incidents"]}
    assert set(incidents) == set(story.titles)
    resolved, still_open = incidents[story.titles[0]], incidents[story.titles[1]]
    if story.titles[0] != story.titles[1]:
        bodies = [u["body"] for u in resolved["incident_updates"]]
        assert bodies == list(reversed(story.messages[:4]))  # newest first
        assert [u["body"] for u in still_open["incident_updates"]] == [story.messages[4]]
    unresolved = docs["api/v2/incidents/unresolved.json"]["incidents"]
    assert [i["name"] for i in unresolved] == [story.titles[1]]
    components = docs["api/v2/components.json"]["components"]
    assert [c["name"] for c in components] == [story.group, *story.names]
    assert components[1]["description"] == (story.description or None)
    windows = docs["api/v2/scheduled-maintenances.json"]["scheduled_maintenances"]
    assert [w["name"] for w in windows] == [story.maintenance_title]  # the cancelled one hidden
    scheduled = [u for u in windows[0]["incident_updates"] if u["status"] == "scheduled"]
    assert [u["body"] for u in scheduled] == [story.maintenance_message]


@props(20)
@given(story=STORIES)
@example(story=BENIGN)
@example(
    story=dataclasses.replace(
        BENIGN,
        titles=('"><img src=x onerror=1>', "<script>alert(1)</script>"),
        names=("<b>API</b> & <i>co</i>", "&amp;lt;"),
        messages=("]]><x/>", "\x00\x1b[31m\r\n", "\ufffe\U000e0001", "{{ site }}", "-->"),
    )
)
def test_page_feed_and_api_keep_hostile_text_as_text(story: Story) -> None:
    files = site_files(story)
    check_html(html_pages(files), story)
    check_feed(files["feed.atom"], story)
    check_json(files, story)
