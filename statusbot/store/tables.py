"""SQLAlchemy Core tables mirroring ``statusbot/migrations`` (the migrations are the DDL).

Queries are built from these objects; ``tests/store/test_schema.py`` creates them in an empty
database and checks that the result matches the migrated one, so the two cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True)


component = Table(
    "component",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("group_name", Text),
    Column("description", Text),
    Column("position", Integer, nullable=False),
    Column("configured", Integer, nullable=False),
    sqlite_strict=True,
    sqlite_with_rowid=False,
)

check_key = Table(
    "check_key",
    metadata,
    _id(),
    Column("name", Text, nullable=False, unique=True),
    Column("component_id", Text, ForeignKey("component.id"), nullable=False),
    sqlite_strict=True,
)

result = Table(
    "result",
    metadata,
    Column("check_id", Integer, ForeignKey("check_key.id"), primary_key=True),
    Column("ts", Integer, primary_key=True),
    Column("state", Integer, nullable=False),
    Column("latency_ms", Integer),
    Column("reason", Text),
    sqlite_strict=True,
    sqlite_with_rowid=False,
)


def _rollup(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("check_id", Integer, ForeignKey("check_key.id"), primary_key=True),
        Column("ts", Integer, primary_key=True),
        Column("up", Integer, nullable=False),
        Column("degraded", Integer, nullable=False),
        Column("down", Integer, nullable=False),
        Column("latency_sum_ms", Integer, nullable=False),
        Column("latency_count", Integer, nullable=False),
        Column("latency_max_ms", Integer),
        sqlite_strict=True,
        sqlite_with_rowid=False,
    )


result_hourly = _rollup("result_hourly")
result_daily = _rollup("result_daily")

transition = Table(
    "transition",
    metadata,
    _id(),
    Column("component_id", Text, ForeignKey("component.id"), nullable=False),
    Column("ts", Integer, nullable=False),
    Column("old_state", Text, nullable=False),
    Column("new_state", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("flapping", Integer, nullable=False),
    Index("transition_component_ts", "component_id", "ts"),
    Index("transition_ts", "ts"),
    sqlite_strict=True,
)

component_state = Table(
    "component_state",
    metadata,
    Column("component_id", Text, ForeignKey("component.id"), primary_key=True),
    Column("state", Text, nullable=False),
    Column("since", Integer, nullable=False),
    sqlite_strict=True,
    sqlite_with_rowid=False,
)

ping = Table(
    "ping",
    metadata,
    Column("name", Text, primary_key=True),
    Column("ts", Integer, nullable=False),
    sqlite_strict=True,
    sqlite_with_rowid=False,
)

meta = Table(
    "meta",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Integer, nullable=False),
    sqlite_strict=True,
    sqlite_with_rowid=False,
)

incident = Table(
    "incident",
    metadata,
    _id(),
    Column("title", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("impact", Text, nullable=False),
    Column("auto", Integer, nullable=False),
    Column("opened_at", Integer, nullable=False),
    Column("resolved_at", Integer),
    Column("acked_at", Integer),
    Index("incident_opened_at", "opened_at"),
    Index("incident_open", "id", sqlite_where=text("resolved_at IS NULL")),
    sqlite_strict=True,
)

incident_component = Table(
    "incident_component",
    metadata,
    Column("incident_id", Integer, ForeignKey("incident.id"), primary_key=True),
    Column("component_id", Text, ForeignKey("component.id"), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("added_at", Integer, nullable=False),
    Column("recovered_at", Integer),
    Index("incident_component_component", "component_id"),
    sqlite_strict=True,
    sqlite_with_rowid=False,
)

incident_update = Table(
    "incident_update",
    metadata,
    _id(),
    Column("incident_id", Integer, ForeignKey("incident.id"), nullable=False),
    Column("ts", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("message", Text, nullable=False),
    Index("incident_update_incident", "incident_id", "id"),
    sqlite_strict=True,
)

maintenance = Table(
    "maintenance",
    metadata,
    _id(),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("starts_at", Integer, nullable=False),
    Column("ends_at", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", Integer, nullable=False),
    Index("maintenance_source", "source", unique=True, sqlite_where=text("source <> 'cli'")),
    Index("maintenance_status", "status", "starts_at"),
    sqlite_strict=True,
)

maintenance_component = Table(
    "maintenance_component",
    metadata,
    Column("maintenance_id", Integer, ForeignKey("maintenance.id"), primary_key=True),
    Column("component_id", Text, ForeignKey("component.id"), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("maintenance_component_component", "component_id"),
    sqlite_strict=True,
    sqlite_with_rowid=False,
)

event = Table(
    "event",
    metadata,
    _id(),
    Column("kind", Text, nullable=False),
    Column("ts", Integer, nullable=False),
    Column("incident_id", Integer, ForeignKey("incident.id")),
    Column("maintenance_id", Integer, ForeignKey("maintenance.id")),
    Column("payload", Text, nullable=False),
    Index("event_incident", "incident_id"),
    Index("event_maintenance", "maintenance_id"),
    sqlite_strict=True,
)

delivery = Table(
    "delivery",
    metadata,
    _id(),
    Column("event_id", Integer, ForeignKey("event.id"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Integer, nullable=False),
    Column("next_attempt_at", Integer),
    Column("sent_at", Integer),
    Column("remote_id", Text),
    Column("error", Text),
    Column("first_attempt_at", Integer),
    Column("text", Text),
    Column("idempotency_key", Text),
    UniqueConstraint("event_id", "channel"),
    Index("delivery_status", "status", "channel"),
    sqlite_strict=True,
)
