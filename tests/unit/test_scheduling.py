"""Scheduling bookkeeping: stable staggering, and late or missed runs are never silent."""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)

from statusbot import config as configmod
from statusbot.runtime import MIN_SLOT, PER_SLOT, SLOT, Daemon, on_grid, slot_for, stagger
from tests.conftest import FakeClock


def test_stagger_is_stable_across_processes_and_within_the_interval() -> None:
    offsets = [stagger(f"svc{n}.http", 30) for n in range(200)]
    assert all(0 <= o < 30 for o in offsets)
    other_process = subprocess.run(
        [
            sys.executable,
            "-c",
            "from statusbot.runtime import stagger; print(stagger('api.http', 30))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert float(other_process.stdout) == stagger("api.http", 30)  # crc32, not hash()
    assert len({round(o) for o in offsets}) > 20, "first runs spread over the interval"


@pytest.fixture
def daemon(tmp_path: Path, clock: FakeClock) -> Daemon:
    path = tmp_path / "c.yaml"
    path.write_text("components: [{id: api, name: API, checks: [{type: tcp, host: h, port: 1}]}]\n")
    return Daemon(configmod.load(path), path, clock=clock)


def test_late_runs_are_counted_and_logged(daemon: Daemon, clock: FakeClock, caplog) -> None:
    """Lateness is taken when the run really begins, not when the scheduler hands it over:
    a busy loop between the two is part of it."""
    planned = clock()
    daemon._on_job_event(JobSubmissionEvent(EVENT_JOB_SUBMITTED, "api.tcp", None, [planned]))
    clock.advance(0.2)
    daemon._started("api.tcp")
    assert (daemon.stats.late, list(daemon.stats.lateness)) == (0, [pytest.approx(0.2)])
    daemon._on_job_event(JobSubmissionEvent(EVENT_JOB_SUBMITTED, "api.tcp", None, [planned]))
    clock.advance(2)
    with caplog.at_level(logging.WARNING):
        daemon._started("api.tcp")
    assert daemon.stats.late == 1
    assert "check api.tcp started 2.2s late" in caplog.text
    daemon._started("api.tcp")  # a run nobody planned (a direct call): not counted
    assert len(daemon.stats.lateness) == 2


def test_first_runs_sit_on_a_shared_grid(daemon: Daemon) -> None:
    """Checks whose offsets fall in one slot share the loop's wake-ups, across reloads too."""
    at = datetime(2026, 11, 22, 12, 0, 0, 123_456, tzinfo=UTC)
    grid = on_grid(at)
    assert grid >= at
    assert (grid - at).total_seconds() < SLOT
    assert (grid.timestamp() / SLOT).is_integer()
    assert on_grid(grid) == grid
    offsets = {stagger(f"svc{n}.http", 30) for n in range(500)}
    assert all((o / SLOT).is_integer() for o in offsets)
    assert len(offsets) > 100, "still spread over the interval"
    assert stagger("x", 0.1) == 0.0  # shorter than a slot: on the grid itself


def test_slots_shrink_so_no_slot_holds_more_than_a_few_checks() -> None:
    """A slot's checks start one after the other: 10,000 checks every 30 s in 0.25 s slots
    put 83 in each, and the last started ~80 ms late."""
    assert slot_for(30, 1_000) == SLOT  # 8 a slot
    small = slot_for(30, 10_000)
    assert small < SLOT
    assert 30 / small * PER_SLOT >= 10_000
    assert slot_for(1, 1_000_000) == MIN_SLOT
    offsets = [stagger(f"k{n}", 30, small) for n in range(10_000)]
    busiest = max(collections.Counter(offsets).values())
    assert busiest <= 2 * PER_SLOT  # crc32 spreads them about evenly


def test_missed_and_skipped_runs_are_counted_and_logged(daemon: Daemon, clock, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        daemon._on_job_event(JobExecutionEvent(EVENT_JOB_MISSED, "api.tcp", None, clock()))
        daemon._on_job_event(
            JobExecutionEvent(EVENT_JOB_MAX_INSTANCES, "api.tcp", None, clock() + timedelta(1))
        )
    assert (daemon.stats.missed, daemon.stats.skipped_overlap) == (1, 1)
    assert "check api.tcp missed its run" in caplog.text
    assert "a run was skipped" in caplog.text
