"""``StoreError``: one clear line naming the database file, translated from driver errors."""

from __future__ import annotations

import os
import sqlite3
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


def _unopenable(path: Path | None) -> str:
    if path is None:
        return "unable to open database"
    if path.is_dir():
        return "it is a directory"
    if not path.parent.is_dir():
        return f"directory {path.parent} does not exist"
    if not path.exists() and not os.access(path.parent, os.W_OK):
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
