"""``Store``: opens the database (creating and migrating it) and hands out transactions."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine

from statusbot.store.engine import BEGIN_OPTION, driver, make_engine, migrate, sqlite_path
from statusbot.store.errors import StoreError, translated
from statusbot.store.tx import Tx


class Store:
    """The statusbot database. One per process is enough; it is safe to share between threads
    (each transaction takes its own pooled connection). Several processes may open the same
    file: writes serialise on SQLite's write lock (``BEGIN IMMEDIATE``, 5 s busy timeout)."""

    def __init__(self, engine: Engine, path: Path | None, version: int) -> None:
        self._engine = engine
        self.path = path
        self.version = version
        self._check_keys: dict[str, tuple[int, str]] = {}  # see TxBase; only grows

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (creating parent directories and the file) and apply pending migrations."""
        path = sqlite_path(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
        engine = make_engine(url, path)
        try:
            with translated(path, "open"), engine.connect() as conn:
                version = migrate(driver(conn), str(path) if path else ":memory:")
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, path, version)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        """Close every pooled connection (a checkpoint happens when the last one closes)."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def write(self, *, durable: bool = False) -> Iterator[Tx]:
        """A ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back when it
        raises. ``durable`` runs it with ``synchronous=FULL`` (incidents, outbox, maintenance:
        a power loss cannot undo it); otherwise ``NORMAL`` (results)."""
        with translated(self.path, "write"), self._engine.connect() as conn:
            raw = driver(conn)
            if durable:
                raw.execute("PRAGMA synchronous = FULL")  # only outside a transaction
            try:
                with conn.begin():
                    tx = Tx(conn, writable=True, check_keys=self._check_keys)
                    yield tx
                self._check_keys.update(tx.learned)  # committed: a rollback keeps nothing
            finally:
                if durable:
                    _restore_normal(conn, raw)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        """A short read transaction (a consistent snapshot); its write methods raise."""
        with translated(self.path, "read"), self._engine.connect() as conn:
            conn.execution_options(**{BEGIN_OPTION: "BEGIN"})
            with conn.begin():
                yield Tx(conn, writable=False)

    def vacuum_step(self, pages: int = 1000) -> int:
        """Return up to ``pages`` free pages to the file system (incremental vacuum, outside any
        transaction). Returns how many pages were freed."""
        with translated(self.path, "write"), self._engine.connect() as conn:
            raw = driver(conn)
            before = int(raw.execute("PRAGMA freelist_count").fetchone()[0])
            # executescript steps the pragma to completion; execute() would free one page.
            raw.executescript(f"PRAGMA incremental_vacuum({max(0, int(pages))});")
            after = int(raw.execute("PRAGMA freelist_count").fetchone()[0])
            return before - after


def _restore_normal(conn: Connection, raw: sqlite3.Connection) -> None:
    try:
        raw.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error:
        conn.invalidate()  # never hand a FULL (or broken) connection back to the pool
