"""Scheduling bookkeeping: stable staggering, and late or missed runs are never silent."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
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
from statusbot.runtime import Daemon, stagger
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
    planned = clock()
    clock.advance(0.2)
    daemon._on_job_event(JobSubmissionEvent(EVENT_JOB_SUBMITTED, "api.tcp", None, [planned]))
    assert (daemon.stats.late, list(daemon.stats.lateness)) == (0, [pytest.approx(0.2)])
    clock.advance(2)
    with caplog.at_level(logging.WARNING):
        daemon._on_job_event(JobSubmissionEvent(EVENT_JOB_SUBMITTED, "api.tcp", None, [planned]))
    assert daemon.stats.late == 1
    assert "check api.tcp started 2.2s late" in caplog.text


def test_missed_and_skipped_runs_are_counted_and_logged(daemon: Daemon, clock, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        daemon._on_job_event(JobExecutionEvent(EVENT_JOB_MISSED, "api.tcp", None, clock()))
        daemon._on_job_event(
            JobExecutionEvent(EVENT_JOB_MAX_INSTANCES, "api.tcp", None, clock() + timedelta(1))
        )
    assert (daemon.stats.missed, daemon.stats.skipped_overlap) == (1, 1)
    assert "check api.tcp missed its run" in caplog.text
    assert "a run was skipped" in caplog.text
