"""Failed writes in the log: one line per problem, not a traceback per batch of results."""

from __future__ import annotations

import logging

import pytest

from statusbot.store import StoreError
from statusbot.store.errors import WriteFailures

FULL = StoreError("cannot write /var/lib/statusbot/statusbot.db: database or disk is full")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_a_store_error_is_one_line_shown_again_only_after_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    failures = WriteFailures(logging.getLogger("test"), every=60, clock=clock)
    with caplog.at_level(logging.INFO, "test"):
        for _ in range(10):  # a batch every 0.25 s
            failures.failed("could not store 1 results", FULL)
            clock.now += 0.25
        clock.now += 60
        failures.failed("could not store 2 results", FULL)
        failures.ok()
        failures.ok()
    assert messages(caplog) == [
        f"could not store 1 results: {FULL}",
        f"could not store 2 results: {FULL} (9 more failed writes since the last report)",
        "store writable again (11 writes had failed)",
    ]
    assert all(r.exc_info is None for r in caplog.records), "no traceback"


def test_a_new_problem_is_shown_at_once(caplog: pytest.LogCaptureFixture) -> None:
    failures = WriteFailures(logging.getLogger("test"), clock=Clock())
    read_only = StoreError("cannot write /x/statusbot.db: disk I/O error")
    with caplog.at_level(logging.INFO, "test"):
        failures.failed("could not store 1 results", FULL)
        failures.failed("could not store 1 results", read_only)
    assert messages(caplog) == [
        f"could not store 1 results: {FULL}",
        f"could not store 1 results: {read_only}",
    ]


def test_a_bug_keeps_its_traceback_every_time(caplog: pytest.LogCaptureFixture) -> None:
    failures = WriteFailures(logging.getLogger("test"), clock=Clock())
    with caplog.at_level(logging.INFO, "test"):
        for _ in range(2):
            failures.failed("could not store 1 results", KeyError("api"))
        failures.ok()
    assert messages(caplog) == ["could not store 1 results"] * 2
    assert all(r.exc_info is not None for r in caplog.records)
