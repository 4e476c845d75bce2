"""Two stores on one file; one-line StoreErrors for full, read-only and unwritable databases."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from statusbot.model import CheckResult, Impact, OpenIncident, State
from statusbot.store import Store, StoreError
from tests.store.conftest import CHANNELS, T0


def _permissions_ignored() -> bool:
    """True for root with CAP_DAC_OVERRIDE, where chmod cannot make anything read-only."""
    if os.geteuid() != 0:
        return False
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / "probe"
        probe.touch(0o444)
        try:
            probe.open("a").close()
        except PermissionError:
            return False
        return True


def _result(i: int, reason: str = "boom") -> CheckResult:
    return CheckResult("api.http", "api", T0 + timedelta(seconds=i), State.DOWN, reason)


def test_two_stores_write_alternately(store: Store) -> None:
    assert store.path is not None
    other = Store.open(f"sqlite:///{store.path}")
    try:
        for i in range(10):
            writer = store if i % 2 else other
            with writer.write(durable=i % 3 == 0) as tx:
                tx.record_results([_result(i)])
        with other.read() as tx:
            assert len(tx.results("api.http", T0, T0 + timedelta(minutes=1))) == 10
    finally:
        other.close()


def test_a_second_writer_waits_for_the_first(store: Store) -> None:
    assert store.path is not None
    other = Store.open(f"sqlite:///{store.path}")
    done = threading.Event()
    errors: list[BaseException] = []

    def write_other() -> None:
        try:
            with other.write(durable=True) as tx:
                tx.apply(OpenIncident("B", Impact.MINOR, ("db",), "b", T0, False), CHANNELS)
        except BaseException as exc:
            errors.append(exc)
        done.set()

    try:
        with store.write() as tx:
            # BEGIN IMMEDIATE holds the write lock from the start, before any write:
            probe = sqlite3.connect(store.path, timeout=0, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                probe.execute("BEGIN IMMEDIATE")
            probe.close()
            thread = threading.Thread(target=write_other)
            thread.start()
            time.sleep(0.2)
            assert not done.is_set()  # waiting on the busy timeout, not failing
            tx.apply(OpenIncident("A", Impact.MINOR, ("api",), "a", T0, False), CHANNELS)
        thread.join(5)
        assert done.is_set()
        assert errors == []
        with store.read() as tx:
            assert sorted(i.title for i in tx.incidents()) == ["A", "B"]
    finally:
        other.close()


def test_database_full_keeps_what_was_stored(store: Store) -> None:
    with store.write() as tx:
        tx.record_results([_result(0)])
    with store.read() as tx:
        pages = tx._conn.exec_driver_sql("PRAGMA page_count").scalar()

    def cap(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(store.engine, "connect", cap)
    store.engine.dispose()
    with pytest.raises(StoreError) as err, store.write() as tx:
        tx.record_results([_result(i, "x" * 500) for i in range(1, 2000)])
    assert str(err.value) == f"cannot write {store.path}: database or disk is full"
    event.remove(store.engine, "connect", cap)
    store.engine.dispose()
    with store.read() as tx:
        assert tx.results("api.http", T0, T0 + timedelta(hours=1)) == [_result(0)]


def test_read_only_database(store: Store) -> None:
    with store.write() as tx:
        tx.record_results([_result(0)])
    store.close()
    ro = Store.open(f"sqlite:///file:{store.path}?mode=ro&uri=true")
    try:
        assert ro.path == store.path
        with ro.read() as tx:
            assert len(tx.latest_results()) == 1
        with pytest.raises(StoreError) as err, ro.write() as tx:
            tx.record_results([_result(1)])
        assert str(err.value) == f"cannot write {store.path}: the database is read-only"
    finally:
        ro.close()


@pytest.mark.skipif(_permissions_ignored(), reason="running as root: chmod is not enforced")
def test_read_only_file_and_directory(tmp_path: Path) -> None:
    path = tmp_path / "ro" / "statusbot.db"
    store = Store.open(f"sqlite:///{path}")
    with store.write() as tx:
        tx.record_results([_result(0)])
    store.close()
    path.chmod(0o444)
    try:
        store = Store.open(f"sqlite:///{path}")
        with (
            pytest.raises(StoreError, match=f"^cannot write {path}: the file is read-only$"),
            store.write() as tx,
        ):
            tx.record_results([_result(1)])
        store.close()
    finally:
        path.chmod(0o644)
    fresh = tmp_path / "locked" / "statusbot.db"
    fresh.parent.mkdir()
    fresh.parent.chmod(0o555)
    try:
        with pytest.raises(StoreError, match=f"directory {fresh.parent} is read-only"):
            Store.open(f"sqlite:///{fresh}")
    finally:
        fresh.parent.chmod(0o755)


def test_unopenable_path_names_the_reason(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory.db"
    directory.mkdir()
    with pytest.raises(StoreError) as err:
        Store.open(f"sqlite:///{directory}")
    assert str(err.value) == f"cannot open {directory}: it is a directory"
