"""``StoreError``: one clear line naming the database file, translated from driver errors."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import DBAPIError, SQLAlchemyError


class StoreError(Exception):
    """A storage problem, worded for an operator: "cannot write /x/statusbot.db: …"."""


class ChangeRefused(StoreError):
    """A change that does not fit what is stored: an unknown id, a resolved incident, an
    illegal maintenance move. The database is fine; the request was wrong."""


def describe(path: Path | None, action: str, exc: BaseException) -> str:
    """Word a driver error as one line: ``cannot <action> <path>: <reason>``."""
    where = str(path) if path is not None else ":memory:"
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    raw = str(orig).strip().splitlines()
    text = raw[0] if raw else type(orig).__name__
    low = text.lower()
    known: tuple[tuple[tuple[str, ...], str, Callable[[], str]], ...] = (
        (("readonly", "read-only"), "write", lambda: _read_only(path)),
        (("disk is full", "disk full"), "write", lambda: "database or disk is full"),
        (("not a database",), "open", lambda: "not a statusbot database (not an SQLite file)"),
        (("unable to open",), "open", lambda: _unopenable(path)),
        (("locked", "busy"), action, lambda: "database is locked (held by another writer > 5 s)"),
        (("disk i/o error",), action, lambda: _io_error(path, text)),
        (("malformed", "corrupt"), action, lambda: f"the database file is corrupt ({text})"),
    )
    for needles, verb, reason in known:
        if any(n in low for n in needles):
            return f"cannot {verb} {where}: {reason()}"
    return f"cannot {action} {where}: {text}"


def _read_only(path: Path | None) -> str:
    if path is not None and not os.access(path.parent, os.W_OK):
        return f"directory {path.parent} is read-only"
    if path is not None and path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only"
    return "the database is read-only"


def _io_error(path: Path | None, text: str) -> str:
    """SQLite words a write refused by the file system (EROFS, ENOSPC) as "disk I/O error":
    say which, when the file system tells."""
    try:
        fs = os.statvfs(path.parent) if path is not None else None
    except OSError:
        fs = None
    if path is None or fs is None:
        return text
    if fs.f_flag & os.ST_RDONLY:
        return f"{text} (the file system of {path.parent} is read-only)"
    if fs.f_bavail == 0:
        return f"{text} (no space left on the file system of {path.parent})"
    return text


def _unopenable(path: Path | None) -> str:
    if path is None:
        return "unable to open database"
    if path.is_dir():
        return "it is a directory"
    if not path.parent.is_dir():
        return f"directory {path.parent} does not exist"
    if not os.access(path.parent, os.W_OK):  # an existing file too: its -wal/-shm go beside it
        return f"directory {path.parent} is read-only"
    if path.exists() and not os.access(path, os.R_OK):
        return "permission denied"
    return "unable to open database file"


@contextmanager
def translated(path: Path | None, action: str) -> Iterator[None]:
    """Re-raise SQLAlchemy/sqlite3 errors raised inside as ``StoreError``; others pass."""
    try:
        yield
    except StoreError:
        raise
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise StoreError(describe(path, action, exc)) from exc


class WriteFailures:
    """Logs failed writes without flooding the log (they recur with every batch of results).

    A ``StoreError`` is one line — it already names the database and the problem — never a
    traceback: shown when its text is new, else at most every ``every`` seconds, with how many
    were not shown meanwhile. ``ok()`` after a write that worked says so once, if a failure was
    shown. Any other exception is a bug: logged with its traceback, every time."""

    def __init__(
        self, log: logging.Logger, every: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = log
        self._every = every
        self._clock = clock
        self._shown: tuple[str, float] | None = None  # the last line shown, and when
        self._hidden = 0  # failures not shown since
        self._failing = 0  # failures since the last write that worked
        self._announced = False  # one of those was shown

    def failed(self, what: str, exc: BaseException) -> None:
        """``what`` failed with ``exc``: "could not store 3 results (kept; retried)"."""
        if not isinstance(exc, StoreError):
            self._log.error("%s", what, exc_info=exc)
            return
        now, text = self._clock(), str(exc)
        self._failing += 1
        if self._shown and self._shown[0] == text and now - self._shown[1] < self._every:
            self._hidden += 1
            return
        more = f" ({self._hidden} more failed writes since the last report)" if self._hidden else ""
        self._log.error("%s: %s%s", what, text, more)
        self._shown, self._hidden, self._announced = (text, now), 0, True

    def ok(self) -> None:
        """A write worked."""
        if self._announced:
            self._log.info("store writable again (%d writes had failed)", self._failing)
        self._failing, self._announced = 0, False
