"""feed.atom: one Atom 1.0 entry per incident update and per maintenance step, newest first.

Pure: :func:`atom` turns a snapshot into the document's text. The XML is built with
``xml.etree.ElementTree`` (which escapes ``<``, ``>`` and ``&``), after stripping the characters
XML 1.0 cannot carry at all (control characters, lone surrogates, U+FFFE/U+FFFF), so hostile
text such as ``<script>`` or ``]]>`` stays text and the document stays well-formed.

Ids are stable: with ``site.url`` they are the incident page's URL with a fragment
(``…/incidents/7.html#update-42``) or the page URL with ``#maintenance-3-started``; without
one, ``tag:statusbot,2026:<title>/…`` URIs with the same suffixes. A cancelled maintenance
reuses the id of its "scheduled" entry, so readers replace the announcement.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from statusbot.model import Phase
from statusbot.page.api import iso, maintenance_steps
from statusbot.page.snapshot import Snapshot

__all__ = ["MAX_ENTRIES", "atom", "xml_text"]

MAX_ENTRIES = 100
ATOM = "http://www.w3.org/2005/Atom"
_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PHASE = {
    Phase.INVESTIGATING: "Investigating",
    Phase.IDENTIFIED: "Identified",
    Phase.MONITORING: "Monitoring",
    Phase.RESOLVED: "Resolved",
}
_MAINTENANCE = {
    "scheduled": ("scheduled", "Scheduled maintenance"),
    "in_progress": ("started", "Maintenance in progress"),
    "completed": ("ended", "Maintenance completed"),
    "cancelled": ("scheduled", "Maintenance cancelled"),  # replaces the announcement
}


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot represent (escaping is ElementTree's)."""
    return _INVALID.sub("", text)


@dataclass(frozen=True, slots=True)
class _Entry:
    at: datetime
    key: str  # id suffix: "update-42", "maintenance-3-started"
    title: str
    page: str  # link, relative to the site root
    text: str


def atom(snap: Snapshot) -> str:
    """The Atom feed of ``snap`` as a string (UTF-8 when encoded; with an XML declaration)."""
    found = _entries(snap)  # oldest first within an incident, so the index breaks ties
    order = sorted(range(len(found)), key=lambda n: (found[n].at, n), reverse=True)
    entries = [found[n] for n in order[:MAX_ENTRIES]]
    base = snap.site.url
    root = f"{base}/" if base else f"tag:statusbot,2026:{quote(snap.site.title, safe='')}/"
    feed = ET.Element("feed", {"xmlns": ATOM})  # plain names below, in this namespace
    _add(feed, "id", root if base else root.rstrip("/"))
    _add(feed, "title", snap.site.title)
    if snap.site.description:
        _add(feed, "subtitle", snap.site.description)
    _add(feed, "updated", iso(entries[0].at if entries else snap.now))
    _link(feed, "alternate", f"{base}/" if base else "./", "text/html")
    if base:
        _link(feed, "self", f"{base}/feed.atom", "application/atom+xml")
    author = ET.SubElement(feed, "author")
    _add(author, "name", snap.site.title)
    if base:
        _add(author, "uri", f"{base}/")
    _add(feed, "generator", "statusbot")
    for e in entries:
        entry = ET.SubElement(feed, "entry")
        _add(entry, "id", f"{root}{e.page}#{e.key}")
        _add(entry, "title", e.title)
        _add(entry, "updated", iso(e.at))
        _link(entry, "alternate", f"{root}{e.page}" if base else e.page or "./", "text/html")
        _add(entry, "content", e.text).set("type", "text")
    body = ET.tostring(feed, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


def _entries(snap: Snapshot) -> list[_Entry]:
    out: list[_Entry] = []
    seen: set[int] = set()
    for incident in (*snap.open_incidents, *snap.incidents):
        if incident.id in seen:
            continue
        seen.add(incident.id)
        page = f"incidents/{incident.id}.html"
        out.extend(
            _Entry(u.at, f"update-{u.id}", f"{_PHASE[u.phase]}: {incident.title}", page, u.message)
            for u in incident.updates
        )
    for m in snap.maintenances:
        for step in maintenance_steps(m, snap.now):
            suffix, label = _MAINTENANCE[step.phase]
            text = step.message or m.title
            if step.phase == "scheduled":
                text += f"\n\nFrom {_utc(m.starts_at)} to {_utc(m.ends_at)}."
            out.append(
                _Entry(step.at, f"maintenance-{m.id}-{suffix}", f"{label}: {m.title}", "", text)
            )
    return out


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _add(parent: ET.Element, tag: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = xml_text(text)
    return child


def _link(parent: ET.Element, rel: str, href: str, kind: str) -> None:
    ET.SubElement(parent, "link", {"rel": rel, "href": xml_text(href), "type": kind})
