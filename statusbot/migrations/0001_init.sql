-- 0001_init: the first statusbot schema.
--
-- Conventions: every timestamp is INTEGER epoch milliseconds UTC (columns *_at and ts);
-- enums are stored as their string value, except result.state (0 up, 1 degraded, 2 down,
-- 3 maintenance, 4 unknown) to keep the high-volume table compact. The runner applies this file
-- in one transaction and then sets PRAGMA user_version = 1. statusbot/store/tables.py mirrors
-- it (a test compares both).

PRAGMA application_id = 1396854612; -- 'SBOT': marks the file as a statusbot database

-- Components as configured (synced at start); removed ones stay with configured = 0.
CREATE TABLE component (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    group_name  TEXT,
    description TEXT,
    position    INTEGER NOT NULL,
    configured  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Check keys ("api.http") mapped to small integers so result rows stay small.
CREATE TABLE check_key (
    id           INTEGER NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    component_id TEXT    NOT NULL REFERENCES component (id)
) STRICT;

-- Raw results: about 21 bytes a row; kept for the raw retention only.
CREATE TABLE result (
    check_id   INTEGER NOT NULL REFERENCES check_key (id),
    ts         INTEGER NOT NULL,
    state      INTEGER NOT NULL,
    latency_ms INTEGER,
    reason     TEXT,
    PRIMARY KEY (check_id, ts)
) STRICT, WITHOUT ROWID;

-- Rollups; ts is the start of the hour / UTC day. Counts per state, latency in ms.
CREATE TABLE result_hourly (
    check_id       INTEGER NOT NULL REFERENCES check_key (id),
    ts             INTEGER NOT NULL,
    up             INTEGER NOT NULL,
    degraded       INTEGER NOT NULL,
    down           INTEGER NOT NULL,
    latency_sum_ms INTEGER NOT NULL,
    latency_count  INTEGER NOT NULL,
    latency_max_ms INTEGER,
    PRIMARY KEY (check_id, ts)
) STRICT, WITHOUT ROWID;

CREATE TABLE result_daily (
    check_id       INTEGER NOT NULL REFERENCES check_key (id),
    ts             INTEGER NOT NULL,
    up             INTEGER NOT NULL,
    degraded       INTEGER NOT NULL,
    down           INTEGER NOT NULL,
    latency_sum_ms INTEGER NOT NULL,
    latency_count  INTEGER NOT NULL,
    latency_max_ms INTEGER,
    PRIMARY KEY (check_id, ts)
) STRICT, WITHOUT ROWID;

-- Detection state.
CREATE TABLE transition (
    id           INTEGER NOT NULL PRIMARY KEY,
    component_id TEXT    NOT NULL REFERENCES component (id),
    ts           INTEGER NOT NULL,
    old_state    TEXT    NOT NULL,
    new_state    TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    flapping     INTEGER NOT NULL
) STRICT;
CREATE INDEX transition_component_ts ON transition (component_id, ts);
CREATE INDEX transition_ts ON transition (ts);

CREATE TABLE component_state (
    component_id TEXT    NOT NULL PRIMARY KEY REFERENCES component (id),
    state        TEXT    NOT NULL,
    since        INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Heartbeat pings, so a restart does not forget the last one.
CREATE TABLE ping (
    name TEXT    NOT NULL PRIMARY KEY,
    ts   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Small store bookkeeping (e.g. rolled_until: raw results before it are in the rollups).
CREATE TABLE meta (
    name  TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Incidents and their timeline.
CREATE TABLE incident (
    id          INTEGER NOT NULL PRIMARY KEY,
    title       TEXT    NOT NULL,
    phase       TEXT    NOT NULL,
    impact      TEXT    NOT NULL,
    auto        INTEGER NOT NULL,
    opened_at   INTEGER NOT NULL,
    resolved_at INTEGER
) STRICT;
CREATE INDEX incident_opened_at ON incident (opened_at);
CREATE INDEX incident_open ON incident (id) WHERE resolved_at IS NULL;

CREATE TABLE incident_component (
    incident_id  INTEGER NOT NULL REFERENCES incident (id),
    component_id TEXT    NOT NULL REFERENCES component (id),
    position     INTEGER NOT NULL,
    added_at     INTEGER NOT NULL,
    recovered_at INTEGER,
    PRIMARY KEY (incident_id, component_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX incident_component_component ON incident_component (component_id);

CREATE TABLE incident_update (
    id          INTEGER NOT NULL PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incident (id),
    ts          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    phase       TEXT    NOT NULL,
    message     TEXT    NOT NULL
) STRICT;
CREATE INDEX incident_update_incident ON incident_update (incident_id, id);

-- Maintenance windows. source is unique, except the operator's plain "cli".
CREATE TABLE maintenance (
    id         INTEGER NOT NULL PRIMARY KEY,
    title      TEXT    NOT NULL,
    message    TEXT    NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX maintenance_source ON maintenance (source) WHERE source <> 'cli';
CREATE INDEX maintenance_status ON maintenance (status, starts_at);

CREATE TABLE maintenance_component (
    maintenance_id INTEGER NOT NULL REFERENCES maintenance (id),
    component_id   TEXT    NOT NULL REFERENCES component (id),
    position       INTEGER NOT NULL,
    PRIMARY KEY (maintenance_id, component_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX maintenance_component_component ON maintenance_component (component_id);

-- The outbox: one event per announcement, one delivery per event and channel.
CREATE TABLE event (
    id             INTEGER NOT NULL PRIMARY KEY,
    kind           TEXT    NOT NULL,
    ts             INTEGER NOT NULL,
    incident_id    INTEGER REFERENCES incident (id),
    maintenance_id INTEGER REFERENCES maintenance (id),
    payload        TEXT    NOT NULL
) STRICT;
CREATE INDEX event_incident ON event (incident_id);
CREATE INDEX event_maintenance ON event (maintenance_id);

CREATE TABLE delivery (
    id              INTEGER NOT NULL PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES event (id),
    channel         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,
    sent_at         INTEGER,
    remote_id       TEXT,
    error           TEXT,
    UNIQUE (event_id, channel)
) STRICT;
CREATE INDEX delivery_status ON delivery (status, channel);
