"""api/v2/*.json against REFERENCE.md §4: paths, top-level keys, field lists, vocabularies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from statusbot.config import Site
from statusbot.model import Phase, State
from statusbot.page.api import documents, sid
from statusbot.page.snapshot import Overall

from . import example, from_pipeline, incident, snapshot, update, view

# --- REFERENCE.md §4, written down ---------------------------------------------------------

TOP = {
    "api/v2/summary.json": {"page", "status", "components", "incidents", "scheduled_maintenances"},
    "api/v2/status.json": {"page", "status"},
    "api/v2/components.json": {"page", "components"},
    "api/v2/incidents.json": {"page", "incidents"},
    "api/v2/incidents/unresolved.json": {"page", "incidents"},
    "api/v2/scheduled-maintenances.json": {"page", "scheduled_maintenances"},
    "api/v2/scheduled-maintenances/upcoming.json": {"page", "scheduled_maintenances"},
    "api/v2/scheduled-maintenances/active.json": {"page", "scheduled_maintenances"},
}
PAGE = {"id", "name", "url", "time_zone", "updated_at"}
STATUS = {"indicator", "description"}
COMPONENT = {
    "id", "name", "status", "created_at", "updated_at", "position", "description", "showcase",
    "start_date", "group_id", "page_id", "group", "only_show_if_degraded",
}  # fmt: skip
GROUP = COMPONENT | {"components"}
INCIDENT = {
    "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact",
    "shortlink", "started_at", "page_id", "incident_updates", "components", "reminder_intervals",
}  # fmt: skip
UPDATE = {
    "id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
    "affected_components", "deliver_notifications", "custom_tweet", "tweet_id",
}  # fmt: skip
AFFECTED = {"code", "name", "old_status", "new_status"}
MAINTENANCE = INCIDENT | {"scheduled_for", "scheduled_until"}

INDICATORS = {"none", "minor", "major", "critical"}
COMPONENT_STATUSES = {
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance",
}  # fmt: skip
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
IMPACTS = {"none", "minor", "major", "critical"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ID = re.compile(r"^[0-9a-f]{12}$")

# REFERENCE's example summary.json, verbatim.
EXAMPLE = json.loads("""
{"page": {"id": "sb0000000001", "name": "Example Status", "url": "https://status.example.com", "time_zone": "Etc/UTC", "updated_at": "2026-11-22T07:00:00.000Z"},
 "status": {"indicator": "major", "description": "Partial System Outage"},
 "components": [
  {"id": "grpcore00001", "name": "Core", "status": "partial_outage", "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-11-22T07:00:00.000Z", "position": 1, "description": null, "showcase": false, "start_date": null, "group_id": null, "page_id": "sb0000000001", "group": true, "only_show_if_degraded": false, "components": ["cmpapi000001"]},
  {"id": "cmpapi000001", "name": "Public API", "status": "partial_outage", "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-11-22T07:00:00.000Z", "position": 2, "description": null, "showcase": true, "start_date": null, "group_id": "grpcore00001", "page_id": "sb0000000001", "group": false, "only_show_if_degraded": false}],
 "incidents": [
  {"id": "inc000000001", "name": "Elevated API errors", "status": "identified", "impact": "major", "created_at": "2026-11-22T06:50:00.000Z", "updated_at": "2026-11-22T07:00:00.000Z", "started_at": "2026-11-22T06:50:00.000Z", "monitoring_at": null, "resolved_at": null, "shortlink": "https://status.example.com/incidents/inc000000001", "page_id": "sb0000000001", "reminder_intervals": null,
   "incident_updates": [{"id": "upd000000002", "status": "identified", "body": "We found the cause.", "incident_id": "inc000000001", "created_at": "2026-11-22T07:00:00.000Z", "updated_at": "2026-11-22T07:00:00.000Z", "display_at": "2026-11-22T07:00:00.000Z", "affected_components": [{"code": "cmpapi000001", "name": "Public API", "old_status": "operational", "new_status": "partial_outage"}], "deliver_notifications": true, "custom_tweet": null, "tweet_id": null}],
   "components": [{"id": "cmpapi000001", "name": "Public API", "status": "partial_outage", "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-11-22T07:00:00.000Z", "position": 2, "description": null, "showcase": true, "start_date": null, "group_id": "grpcore00001", "page_id": "sb0000000001", "group": false, "only_show_if_degraded": false}]}],
 "scheduled_maintenances": []}
""")  # noqa: E501


def objects(docs: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (kind, object) in ``docs``: page, status, component, incident, update, …"""
    for path, doc in docs.items():
        if path == "badge.json":
            continue
        yield "page", doc["page"]
        if "status" in doc:
            yield "status", doc["status"]
        for c in doc.get("components", []):
            yield "component", c
        for key, kind in (("incidents", "incident"), ("scheduled_maintenances", "maintenance")):
            for i in doc.get(key, []):
                yield kind, i
                for c in i["components"]:
                    yield "component", c
                for u in i["incident_updates"]:
                    yield f"{kind}_update", u
                    for a in u["affected_components"]:
                        yield "affected", a


FIELDS = {
    "page": PAGE,
    "status": STATUS,
    "incident": INCIDENT,
    "maintenance": MAINTENANCE,
    "incident_update": UPDATE,
    "maintenance_update": UPDATE,
    "affected": AFFECTED,
}
VOCABULARY = {
    ("status", "indicator"): INDICATORS,
    ("component", "status"): COMPONENT_STATUSES,
    ("incident", "status"): INCIDENT_STATUSES,
    ("incident", "impact"): IMPACTS,
    ("maintenance", "status"): MAINTENANCE_STATUSES,
    ("maintenance", "impact"): {"maintenance"},
    ("incident_update", "status"): INCIDENT_STATUSES,
    ("maintenance_update", "status"): MAINTENANCE_STATUSES,
    ("affected", "old_status"): COMPONENT_STATUSES,
    ("affected", "new_status"): COMPONENT_STATUSES,
}


def check(docs: dict[str, dict[str, Any]]) -> None:
    """Everything REFERENCE says about the shape of ``docs``."""
    assert set(docs) == {*TOP, "badge.json"}
    for path, keys in TOP.items():
        assert set(docs[path]) == keys, path
    ids = {c["id"] for c in docs["api/v2/components.json"]["components"]}
    for kind, obj in objects(docs):
        if kind == "component":
            assert set(obj) == (GROUP if obj["group"] else COMPONENT), obj
        else:
            assert set(obj) == FIELDS[kind], kind
        for key, value in obj.items():
            if value is not None and (key.endswith("_at") or key.startswith("scheduled_")):
                assert TIMESTAMP.match(value), (kind, key, value)
            if (kind, key) in VOCABULARY:
                assert value in VOCABULARY[kind, key], (kind, key, value)
            if key in ("id", "page_id", "group_id", "incident_id", "code") and value is not None:
                assert ID.match(value), (kind, key, value)
        if kind == "affected":
            assert obj["code"] in ids, "code joins to components[].id"
        if kind in ("incident", "maintenance"):
            times = [u["display_at"] for u in obj["incident_updates"]]
            assert times == sorted(times, reverse=True), "updates newest first"
            assert all(u["incident_id"] == obj["id"] for u in obj["incident_updates"])
    json.dumps(docs, ensure_ascii=False, separators=(",", ":"))  # JSON-able


def test_field_lists_match_reference_example() -> None:
    assert set(EXAMPLE) == TOP["api/v2/summary.json"]
    assert set(EXAMPLE["page"]) == PAGE
    group, member = EXAMPLE["components"]
    assert (set(group), set(member)) == (GROUP, COMPONENT)
    (inc,) = EXAMPLE["incidents"]
    assert set(inc) == INCIDENT
    (upd,) = inc["incident_updates"]
    assert set(upd) == UPDATE
    assert set(upd["affected_components"][0]) == AFFECTED


def test_example_scenario_documents_have_the_reference_shape() -> None:
    check(documents(example()))


def test_summary_of_the_reference_scenario() -> None:
    summary = documents(example())["api/v2/summary.json"]
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert summary["page"] == {
        "id": sid("page", "https://status.example.com"),
        "name": "Example Status",
        "url": "https://status.example.com",
        "time_zone": "Etc/UTC",
        "updated_at": "2026-11-22T07:00:00.000Z",
    }
    core, api, db, web = summary["components"]
    assert (core["name"], core["group"], core["status"]) == ("Core", True, "partial_outage")
    assert (
        core["components"] == [api["id"], db["id"]] == [sid("component", c) for c in ["api", "db"]]
    )
    assert api["group_id"] == db["group_id"] == core["id"] == sid("group", "Core")
    assert (api["status"], db["status"]) == ("major_outage", "operational")
    assert (web["group_id"], web["status"]) == (None, "under_maintenance")
    assert [c["position"] for c in summary["components"]] == [1, 2, 3, 4]
    (inc,) = summary["incidents"]  # unresolved only
    assert (inc["name"], inc["status"], inc["impact"]) == (
        "Elevated API errors",
        "identified",
        "major",
    )
    assert inc["created_at"] == inc["started_at"] == "2026-11-22T06:50:00.000Z"
    assert inc["shortlink"] == "https://status.example.com/incidents/1.html"
    assert [u["body"] for u in inc["incident_updates"]] == [
        "We found the cause.",
        "We are investigating errors.",
    ]
    assert inc["incident_updates"][0]["affected_components"] == [
        {
            "code": api["id"],
            "name": "Public API",
            "old_status": "major_outage",
            "new_status": "major_outage",
        }
    ]
    assert [c["id"] for c in inc["components"]] == [api["id"]]
    names = [(m["name"], m["status"]) for m in summary["scheduled_maintenances"]]
    assert names == [("Cache flush", "in_progress"), ("Database upgrade", "scheduled")]


def test_incidents_and_maintenance_lists() -> None:
    docs = documents(example())
    everything = docs["api/v2/incidents.json"]["incidents"]
    assert [i["name"] for i in everything] == ["Elevated API errors", "Website slow"]
    past = everything[1]
    assert past["resolved_at"] == past["incident_updates"][0]["created_at"]
    assert past["monitoring_at"] == past["incident_updates"][1]["created_at"]
    resolved = past["incident_updates"][0]["affected_components"][0]
    assert (resolved["old_status"], resolved["new_status"]) == (
        "degraded_performance",
        "operational",
    )
    unresolved = docs["api/v2/incidents/unresolved.json"]["incidents"]
    assert [i["name"] for i in unresolved] == ["Elevated API errors"]

    def listed(path: str) -> list[tuple[str, str]]:
        return [(m["name"], m["status"]) for m in docs[path]["scheduled_maintenances"]]

    assert listed("api/v2/scheduled-maintenances.json") == [
        ("Database upgrade", "scheduled"),
        ("Cache flush", "in_progress"),
        ("Database upgrade", "completed"),
    ], "newest first; the cancelled one is left out (Statuspage has no cancelled)"
    assert listed("api/v2/scheduled-maintenances/upcoming.json") == [
        ("Database upgrade", "scheduled")
    ]
    assert listed("api/v2/scheduled-maintenances/active.json") == [("Cache flush", "in_progress")]
    done = docs["api/v2/scheduled-maintenances.json"]["scheduled_maintenances"][2]
    assert [u["status"] for u in done["incident_updates"]] == [
        "completed",
        "in_progress",
        "scheduled",
    ]
    assert done["resolved_at"] == done["scheduled_until"] == "2026-11-20T08:00:00.000Z"
    assert done["scheduled_for"] == "2026-11-20T07:00:00.000Z"
    assert done["created_at"] == "2026-11-18T07:00:00.000Z", "from its cli:<when> source"


def test_incidents_json_holds_the_50_most_recent() -> None:
    many = [
        incident(n, f"Blip {n}", [update(n, n, 1000 - n, Phase.INVESTIGATING, "Hm.")])
        for n in range(1, 61)
    ]
    docs = documents(snapshot([view("api", "API")], many))
    listed = docs["api/v2/incidents.json"]["incidents"]
    assert len(listed) == 50
    assert listed[0]["name"] == "Blip 60"
    assert len(docs["api/v2/incidents/unresolved.json"]["incidents"]) == 60


@pytest.mark.parametrize(
    ("states", "indicator", "description", "message", "color"),
    [
        (
            [State.UP, State.UNKNOWN],
            "none",
            "All Systems Operational",
            "operational",
            "brightgreen",
        ),
        ([State.UP, State.DEGRADED], "minor", "Minor Service Outage", "degraded", "yellow"),
        ([State.UP, State.DOWN], "major", "Partial System Outage", "partial outage", "orange"),
        ([State.DOWN, State.DOWN], "critical", "Major Service Outage", "major outage", "red"),
        ([State.UP, State.MAINTENANCE], "none", "Service Under Maintenance", "maintenance", "blue"),
    ],
)
def test_status_and_badge(
    states: list[State], indicator: str, description: str, message: str, color: str
) -> None:
    docs = documents(snapshot([view(f"c{n}", f"C{n}", s) for n, s in enumerate(states)]))
    assert docs["api/v2/status.json"]["status"] == {
        "indicator": indicator,
        "description": description,
    }
    assert docs["badge.json"] == {
        "schemaVersion": 1,
        "label": "status",
        "message": message,
        "color": color,
    }
    assert {c["status"] for c in docs["api/v2/components.json"]["components"]} <= COMPONENT_STATUSES


def test_ids_are_stable_and_the_output_is_deterministic() -> None:
    assert documents(example()) == documents(example())
    docs = documents(example())
    updates = [
        u["id"]
        for path in ("api/v2/incidents.json", "api/v2/scheduled-maintenances.json")
        for obj in next(iter(v for k, v in docs[path].items() if k != "page"))
        for u in obj["incident_updates"]
    ]
    assert len(updates) == len(set(updates)) == 5 + 6
    assert docs["api/v2/incidents.json"]["incidents"][0]["id"] == sid("incident", 1)


def test_without_a_site_url() -> None:
    snap = replace(example(), site=Site(title="Bare"))
    docs = documents(snap)
    check(docs)
    assert docs["api/v2/status.json"]["page"]["url"] is None
    assert docs["api/v2/status.json"]["page"]["id"] == sid("page", "Bare")
    assert docs["api/v2/incidents.json"]["incidents"][0]["shortlink"] is None


def test_from_a_store_filled_by_the_real_pipeline(tmp_path: Path) -> None:
    snap = from_pipeline(tmp_path)
    assert snap.overall is Overall.PARTIAL_OUTAGE
    docs = documents(snap)
    check(docs)
    summary = docs["api/v2/summary.json"]
    assert summary["status"]["indicator"] == "major"
    core, api, db, web = summary["components"]
    assert core["components"] == [api["id"], db["id"]]
    assert (api["status"], db["status"], web["status"]) == (
        "operational",
        "major_outage",
        "operational",
    )
    assert db["updated_at"] == "2026-11-22T07:13:30.000Z", "since the confirmed failure"
    (open_,) = summary["incidents"]
    assert open_["components"][0]["id"] == db["id"]
    incidents = docs["api/v2/incidents.json"]["incidents"]
    assert [i["status"] for i in incidents] == ["investigating", "resolved"]
    resolved = incidents[1]
    assert resolved["resolved_at"] == "2026-11-22T07:12:40.000Z"
    assert resolved["incident_updates"][0]["status"] == "resolved"
    assert resolved["shortlink"].startswith("https://status.acme.test/incidents/")
    (m,) = summary["scheduled_maintenances"]
    assert (m["name"], m["status"], m["scheduled_for"]) == (
        "Database upgrade",
        "scheduled",
        "2026-11-22T12:00:00.000Z",
    )
    assert docs["api/v2/scheduled-maintenances/upcoming.json"]["scheduled_maintenances"] == [m]
