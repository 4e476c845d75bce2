"""feed.atom: valid Atom that feedparser reads, an entry per update and per maintenance step."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import feedparser

from statusbot.config import Site
from statusbot.model import MaintenanceStatus, Phase, State
from statusbot.page.feed import ATOM, MAX_ENTRIES, atom, xml_text

from . import example, from_pipeline, incident, maintenance, snapshot, update, view

HOSTILE = "<script>alert(1)</script> ]]> & \x00\x07\x1b\ufffe done"


def parse(xml: str) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(xml.encode())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    ET.fromstring(xml.encode())  # well-formed for a strict parser too
    return parsed


def test_one_entry_per_incident_update_and_maintenance_step() -> None:
    parsed = parse(atom(example()))
    feed = parsed.feed
    assert feed.title == "Example Status"
    assert feed.id == "https://status.example.com/"
    assert feed.updated == "2026-11-22T07:00:00.000Z"
    assert {link.rel: link.href for link in feed.links} == {
        "alternate": "https://status.example.com/",
        "self": "https://status.example.com/feed.atom",
    }
    assert feed.author == "Example Status"
    titles = [e.title for e in parsed.entries]
    # 5 incident updates; maintenances: completed (3 steps), running (2), scheduled (1),
    # cancelled (1, replacing its announcement).
    assert len(titles) == 5 + 3 + 2 + 1 + 1
    assert titles[:3] == [
        "Identified: Elevated API errors",
        "Investigating: Elevated API errors",
        "Maintenance in progress: Cache flush",
    ]
    assert "Resolved: Website slow" in titles
    assert "Maintenance cancelled: Never mind" in titles
    assert "Maintenance completed: Database upgrade" in titles
    announced = next(e for e in parsed.entries if e.title.startswith("Scheduled maintenance"))
    assert announced.content[0].value == (
        "We upgrade the database.\n\nFrom 2026-11-23 07:00 UTC to 2026-11-23 08:00 UTC."
    )
    updated = [e.updated for e in parsed.entries]
    assert updated == sorted(updated, reverse=True), "newest first"
    ids = [e.id for e in parsed.entries]
    assert len(set(ids)) == len(ids)
    first = parsed.entries[0]
    assert first.id == "https://status.example.com/incidents/1.html#update-2"
    assert first.link == "https://status.example.com/incidents/1.html"
    assert first.content[0].type == "text/plain"
    assert first.content[0].value == "We found the cause."


def test_ids_are_stable_and_a_cancellation_replaces_the_announcement() -> None:
    scheduled = maintenance(7, MaintenanceStatus.SCHEDULED, 24)
    before = parse(atom(snapshot([view("db", "Database")], maintenances=[scheduled])))
    cancelled = replace(scheduled, status=MaintenanceStatus.CANCELLED)
    after = parse(atom(snapshot([view("db", "Database")], maintenances=[cancelled])))
    assert [e.id for e in before.entries] == [e.id for e in after.entries]
    assert after.entries[0].title == "Maintenance cancelled: Database upgrade"
    assert atom(example()) == atom(example())


def test_hostile_text_stays_text() -> None:
    evil = incident(
        9,
        f"Outage {HOSTILE}",
        [update(1, 9, 5, Phase.INVESTIGATING, HOSTILE)],
    )
    site = Site(title="Evil <b>Status</b> & co", description="]]> \x01")
    xml = atom(snapshot([view("api", "API", State.DOWN)], [evil], site=site))
    assert "&lt;script&gt;" in xml
    assert "<script>" not in xml
    parsed = parse(xml)
    (entry,) = parsed.entries
    expected = xml_text(HOSTILE)
    assert expected == "<script>alert(1)</script> ]]> &  done"
    assert entry.content[0].value == expected
    assert entry.title == f"Investigating: Outage {expected}"
    assert parsed.feed.title == "Evil <b>Status</b> & co"
    root = ET.fromstring(xml.encode())
    content = root.find(f"{{{ATOM}}}entry/{{{ATOM}}}content")
    assert content is not None
    assert content.text == expected
    assert content.get("type") == "text"


def test_without_a_site_url_ids_are_tag_uris_and_links_relative() -> None:
    parsed = parse(atom(replace(example(), site=Site(title="Bare Status"))))
    assert parsed.feed.id == "tag:statusbot,2026:Bare%20Status"
    assert all(e.id.startswith("tag:statusbot,2026:Bare%20Status/") for e in parsed.entries)
    assert "self" not in {link.rel for link in parsed.feed.links}
    assert parsed.entries[0].link.endswith("incidents/1.html")


def test_entries_are_capped() -> None:
    updates = [update(n, 1, 1000 - n, Phase.INVESTIGATING, f"Update {n}") for n in range(1, 151)]
    parsed = parse(atom(snapshot([view("api", "API")], [incident(1, "Long one", updates)])))
    assert len(parsed.entries) == MAX_ENTRIES
    assert parsed.entries[0].content[0].value == "Update 150"


def test_empty_page() -> None:
    parsed = parse(atom(snapshot([])))
    assert parsed.entries == []
    assert parsed.feed.updated == "2026-11-22T07:00:00.000Z"


def test_from_a_store_filled_by_the_real_pipeline(tmp_path: Path) -> None:
    snap = from_pipeline(tmp_path)
    parsed = parse(atom(snap))
    updates = sum(len(i.updates) for i in snap.incidents)
    assert updates >= 3  # opened + resolved, opened
    assert len(parsed.entries) == updates + 1  # + the maintenance announcement
    assert [e.title for e in parsed.entries] == [
        "Investigating: Database outage",
        "Resolved: Public API outage",
        "Investigating: Public API outage",
        "Scheduled maintenance: Database upgrade",
    ]
    assert parsed.entries[1].content[0].value.endswith("The outage lasted 12 minutes.")
    assert parsed.entries[3].content[0].value == (
        "Database upgrade\n\nFrom 2026-11-22 12:00 UTC to 2026-11-22 13:00 UTC."
    )
