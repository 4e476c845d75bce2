"""Migrations, schema drift against tables.py, connection PRAGMAs, refusing foreign files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from statusbot.model import Impact, OpenIncident
from statusbot.store import Store, StoreError
from statusbot.store.engine import APPLICATION_ID, migrations, statements
from statusbot.store.tables import metadata
from tests.store.conftest import T0


def _schema(path: Path) -> dict[str, object]:
    """Everything SQLite reports about the tables: columns, keys, indexes, STRICT, rowid."""
    con = sqlite3.connect(path)
    try:
        out: dict[str, object] = {}
        tables = con.execute(
            "SELECT name, type, ncol, wr, strict FROM pragma_table_list "
            "WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for name, kind, ncol, without_rowid, strict in tables:
            columns = con.execute(f"PRAGMA table_xinfo({name})").fetchall()
            fks = sorted(
                (row[2], row[3], row[4]) for row in con.execute(f"PRAGMA foreign_key_list({name})")
            )
            indexes = set()
            for _seq, iname, unique, origin, partial in con.execute(f"PRAGMA index_list({name})"):
                cols = tuple(r[2] for r in con.execute(f"PRAGMA index_info({iname})"))
                indexes.add((iname if origin == "c" else origin, unique, partial, cols))
            out[name] = {
                "kind": kind,
                "ncol": ncol,
                "without_rowid": without_rowid,
                "strict": strict,
                "columns": columns,
                "fks": fks,
                "indexes": indexes,
            }
        return out
    finally:
        con.close()


def test_migrated_schema_matches_tables_py(store: Store, tmp_path: Path) -> None:
    assert store.path is not None
    reference = tmp_path / "from_tables.db"
    engine = create_engine(f"sqlite:///{reference}")
    metadata.create_all(engine)
    engine.dispose()
    migrated, declared = _schema(store.path), _schema(reference)
    assert sorted(migrated) == sorted(declared)
    for name in migrated:
        assert migrated[name] == declared[name], name


def test_migrations_apply_once_and_reopen_is_a_no_op(db_path: Path) -> None:
    latest = migrations()[-1].number
    first = Store.open(f"sqlite:///{db_path}")
    assert first.version == latest
    first.close()
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == latest
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    before = con.execute("SELECT sql FROM sqlite_schema ORDER BY name").fetchall()
    con.close()
    again = Store.open(f"sqlite:///{db_path}")  # would fail on CREATE TABLE if re-applied
    assert again.version == latest
    again.close()
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT sql FROM sqlite_schema ORDER BY name").fetchall() == before
    con.close()


def test_upgrading_keeps_the_key_an_attempted_delivery_was_sent_with(db_path: Path) -> None:
    """Before version 4 the key was statusbot:<delivery id>; a delivery whose outcome is
    unknown must be retried with that key, or Mastodon posts it twice."""
    with Store.open(f"sqlite:///{db_path}") as store, store.write() as tx:
        opened = OpenIncident("Down", Impact.MAJOR, ("api",), "x", T0, auto=True)
        tx.apply(opened, ["mastodon", "x"])
        first = tx.deliveries()[0]
        tx.mark_sending(first.id, T0)
        tx.mark_failed(first.id, "timeout", T0)
    con = sqlite3.connect(db_path)  # as a version 3 database has it: no key column
    con.execute("ALTER TABLE delivery DROP COLUMN idempotency_key")
    con.execute("PRAGMA user_version = 3")
    con.commit()
    con.close()
    with Store.open(f"sqlite:///{db_path}") as store, store.read() as tx:
        keys = [d.idempotency_key for d in tx.deliveries()]
    assert keys == [f"statusbot:{first.id}", None]  # the other one gets a new key when tried


def test_pragmas_in_effect(store: Store) -> None:
    with store.write() as tx:
        conn = tx._conn
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == 67108864
        assert conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2  # INCREMENTAL
    with store.write(durable=True) as tx:
        assert tx._conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    with store.write() as tx:
        assert tx._conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # back to NORMAL


def test_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "statusbot.db"
    store = Store.open(f"sqlite:///{path}")
    assert store.path == path
    assert path.is_file()
    store.close()


def test_in_memory_database_works() -> None:
    store = Store.open("sqlite://")
    assert store.path is None
    with store.write() as tx:
        tx.record_ping("backup", T0)
    with store.read() as tx:
        assert list(tx.pings()) == ["backup"]
    store.close()


def test_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError) as err:
        Store.open(f"sqlite:///{path}")
    assert str(err.value) == f"cannot open {path}: not a statusbot database (not an SQLite file)"
    assert path.read_bytes().startswith(b"these are my notes")


def test_refuses_another_applications_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=r"not a statusbot database \(it has other tables\)"):
        Store.open(f"sqlite:///{path}")


def test_refuses_a_newer_schema(db_path: Path) -> None:
    Store.open(f"sqlite:///{db_path}").close()
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA user_version = 99")
    con.close()
    with pytest.raises(StoreError) as err:
        Store.open(f"sqlite:///{db_path}")
    assert f"cannot open {db_path}: newer schema version 99" in str(err.value)
    assert "\n" not in str(err.value)


def test_rejects_other_databases_urls() -> None:
    with pytest.raises(StoreError, match="only sqlite"):
        Store.open("postgresql://localhost/statusbot")


def test_statement_splitter_respects_strings_and_comments() -> None:
    script = (
        "-- a comment; with a semicolon\nCREATE TABLE t (x TEXT);\n"
        "INSERT INTO t VALUES ('a;b');\n-- tail\n"
    )
    assert statements(script) == [
        "-- a comment; with a semicolon\nCREATE TABLE t (x TEXT);",
        "INSERT INTO t VALUES ('a;b');",
    ]
