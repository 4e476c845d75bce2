"""The SQLite engine: per-connection PRAGMAs, ``BEGIN IMMEDIATE`` writes, numbered migrations.

Every pooled connection runs in driver autocommit mode (``isolation_level = None``) so that
SQLAlchemy's ``begin`` event can issue the ``BEGIN`` itself: ``BEGIN IMMEDIATE`` for writes (a
deferred read-then-write transaction would get SQLITE_BUSY despite the busy timeout), plain
``BEGIN`` for reads (``statusbot_begin`` execution option).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from statusbot.store.errors import StoreError

APPLICATION_ID = 1396854612  # 'SBOT', set by 0001_init.sql
BUSY_TIMEOUT_MS = 5000
BEGIN_OPTION = "statusbot_begin"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def sqlite_path(url: str) -> Path | None:
    """The database file named by a ``sqlite:///…`` URL; None for an in-memory database."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"bad storage url {url!r}: expected sqlite:////path/to/statusbot.db"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        raise StoreError(f"unsupported storage url {url!r}: only sqlite:/// is supported")
    database = parsed.database
    if not database or database == ":memory:" or "mode=memory" in str(parsed):
        return None
    return Path(database.removeprefix("file:")).expanduser().absolute()


def make_engine(url: str, path: Path | None) -> Engine:
    """An engine whose connections carry the statusbot PRAGMAs and ``BEGIN`` handling."""
    if path is None:
        engine = create_engine(url, poolclass=StaticPool)
    else:
        engine = create_engine(url, pool_size=4, max_overflow=8)
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if cur.execute("PRAGMA page_count").fetchone()[0] == 0:
            # Only possible on a fresh file, and only before WAL writes the first page.
            cur.execute("PRAGMA auto_vacuum = INCREMENTAL")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_size_limit = 67108864")
    finally:
        cur.close()


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get(BEGIN_OPTION, "BEGIN IMMEDIATE"))


def driver(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under a SQLAlchemy connection."""
    raw = conn.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        raise TypeError("statusbot's store needs the sqlite3 driver")
    return raw


# --- migrations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The packaged ``statusbot/migrations/NNNN_name.sql`` files, numbered 1, 2, … in order."""
    found: list[Migration] = []
    for entry in resources.files("statusbot.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    if [m.number for m in found] != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations are not numbered 1..n: {[m.name for m in found]}")
    return found


def statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (semicolons in strings/triggers respected)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            stmt = buf.strip()
            if _strip_comments(stmt):
                out.append(stmt)
            buf = ""
    if _strip_comments(buf):
        raise StoreError(f"incomplete SQL statement at the end of a migration: {buf.strip()[:60]}")
    return out


def _strip_comments(sql: str) -> str:
    lines = (line.split("--", 1)[0] for line in sql.splitlines())
    return "".join(lines).strip().strip(";").strip()


def migrate(conn: sqlite3.Connection, where: str) -> int:
    """Apply pending migrations, each in its own ``BEGIN IMMEDIATE`` transaction.

    The version lives in ``PRAGMA user_version``; it is re-read inside each transaction, so two
    processes opening a fresh file at once apply every migration exactly once. Returns the
    schema version. Refuses files of another application or of a newer statusbot.
    """
    known = migrations()
    latest = known[-1].number if known else 0
    version = _pragma(conn, "user_version")
    app_id = _pragma(conn, "application_id")
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(f"cannot open {where}: not a statusbot database (application_id {app_id})")
    if version > latest:
        raise StoreError(
            f"cannot open {where}: newer schema version {version} (this statusbot knows up to "
            f"{latest}); upgrade statusbot"
        )
    if version == 0 and app_id == 0 and _has_tables(conn):
        raise StoreError(f"cannot open {where}: not a statusbot database (it has other tables)")
    for migration in known[version:]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _pragma(conn, "user_version") < migration.number:
                for stmt in statements(migration.sql):
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {migration.number}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return max(version, latest)


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(f"PRAGMA {name}").fetchone()
    return int(row[0])


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchone()
    return bool(row[0])
