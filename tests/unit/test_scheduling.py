"""Scheduling: stable rhythms, checks grouped into slot jobs, and late, missed or skipped runs
are never silent."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent

from statusbot import config as configmod
from statusbot.config import Config
from statusbot.model import CheckResult, State
from statusbot.probes.base import Heartbeats, ProbeContext, TlsContexts
from statusbot.runtime import Daemon
from statusbot.schedule import MIN_SLOT, PER_SLOT, SLOT, Rhythm, slot_for, stagger
from tests.conftest import FakeClock


def config_with(n: int, interval: str = "30s", prefix: str = "k") -> Config:
    """``n`` TCP checks (to a closed loopback port), ten to a component."""
    lines = [f"defaults: {{interval: {interval}, timeout: 1s}}", "components:"]
    for c in range(0, n, 10):
        checks = ", ".join(
            f"{{type: tcp, id: {prefix}{i}, host: 127.0.0.1, port: 1}}"
            for i in range(c, min(n, c + 10))
        )
        lines.append(f"  - {{id: c{c}, name: C{c}, checks: [{checks}]}}")
    return configmod.from_text("\n".join(lines) + "\n", "test.yaml", env={})


def test_stagger_is_stable_across_processes_and_within_the_interval() -> None:
    offsets = [stagger(f"svc{n}.http", 30) for n in range(200)]
    assert all(0 <= o < 30 for o in offsets)
    other_process = subprocess.run(
        [
            sys.executable,
            "-c",
            "from statusbot.schedule import stagger; print(stagger('api.http', 30))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert float(other_process.stdout) == stagger("api.http", 30)  # crc32, not hash()
    assert len({round(o) for o in offsets}) > 20, "first runs spread over the interval"


def test_a_rhythm_is_the_same_whenever_it_is_planned() -> None:
    """Starts are counted from the epoch, so a restart or a reload keeps a check's rhythm and
    checks planned at different times still share slots."""
    rhythm = Rhythm.of("api.http", 30)
    assert rhythm.phase_us % round(SLOT * 1_000_000) == 0
    at = datetime(2026, 11, 22, 12, 0, 0, 123_456, tzinfo=UTC)
    first = rhythm.next_start(at)
    assert at <= first < at + timedelta(seconds=30)
    for later in (7.3, 29.9, 3600.1, 86_400 * 3 + 0.5):
        start = rhythm.next_start(at + timedelta(seconds=later))
        assert (start - first).total_seconds() % 30 == 0
    assert rhythm.next_start(first) == first
    assert rhythm.planned(first + timedelta(seconds=0.4)) == first  # a run 0.4 s late
    assert rhythm.planned(first - timedelta(seconds=0.001)) == first  # the loop woke 1 ms early
    assert rhythm.planned(first + timedelta(seconds=16)) == first + timedelta(seconds=30)
    assert Rhythm.of("x", 0.1).phase_us == 0  # shorter than a slot: on the grid itself


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


@pytest.fixture
def daemon(clock: FakeClock) -> Daemon:
    return Daemon(config_with(1_000), clock=clock)


def slot_jobs(daemon: Daemon) -> dict[str, tuple[str, ...]]:
    out = {}
    for job in daemon._scheduler.get_jobs():
        slot = daemon.slots.get(job.id)
        if slot is not None:
            out[job.id] = tuple(c.id for c in slot[1])
    return out


def test_checks_that_start_together_share_one_job(daemon: Daemon) -> None:
    daemon._schedule_all()
    jobs = slot_jobs(daemon)
    assert len(jobs) <= 30 / SLOT  # not one job per check
    members = [cid for ids in jobs.values() for cid in ids]
    assert sorted(members) == sorted(f"k{i}" for i in range(1_000))  # each exactly once
    assert max(len(ids) for ids in jobs.values()) <= 2 * PER_SLOT
    for job in daemon._scheduler.get_jobs():
        if job.id in jobs:
            assert job.misfire_grace_time == 15
            assert (job.max_instances, job.coalesce) == (1, True)
    assert {"_tick", "_prune"} <= {job.id for job in daemon._scheduler.get_jobs()}


def test_a_reload_keeps_unchanged_rhythms_and_drops_empty_slots(daemon: Daemon) -> None:
    daemon._schedule_all()
    before = {f"k{i}": daemon.slots.rhythm_of(f"k{i}") for i in range(1_000)}
    # four times the checks: slots shrink, but the thousand unchanged ones keep their rhythm
    daemon.config = config_with(4_000)
    daemon._schedule_all(keep=before.keys())
    assert all(daemon.slots.rhythm_of(cid) == r for cid, r in before.items())
    new = {daemon.slots.rhythm_of(f"k{i}") for i in range(1_000, 4_000)}
    assert any(r not in before.values() for r in new), "new checks use the finer grid"
    assert len(slot_jobs(daemon)) == len({*before.values(), *new})
    # down to ten: every other slot's job is gone; housekeeping jobs stay
    daemon.config = config_with(10)
    daemon._schedule_all(keep={f"k{i}" for i in range(10)})
    jobs = slot_jobs(daemon)
    assert sorted(cid for ids in jobs.values() for cid in ids) == sorted(f"k{i}" for i in range(10))
    ids = {job.id for job in daemon._scheduler.get_jobs()}
    assert ids == {*jobs, "_tick", "_prune"}


async def run_slot_of(daemon: Daemon, check_id: str) -> None:
    rhythm = daemon.slots.rhythm_of(check_id)
    assert rhythm is not None
    await daemon._run_slot(rhythm.job_id)
    await asyncio.gather(*daemon._inflight.values())


async def test_late_runs_are_counted_and_logged(clock: FakeClock, caplog) -> None:
    """Lateness is against the slot's planned start, taken when the check really begins."""
    daemon = Daemon(config_with(1, interval="30s"), clock=clock)
    daemon._schedule_all()
    rhythm = daemon.slots.rhythm_of("k0")
    assert rhythm is not None
    async with aiohttp.ClientSession() as session:
        daemon.ctx = ProbeContext(session, TlsContexts(), Heartbeats(clock()), clock)
        clock.now = rhythm.next_start(clock()) + timedelta(seconds=0.2)
        await run_slot_of(daemon, "k0")
        assert (daemon.stats.late, list(daemon.stats.lateness)) == (0, [pytest.approx(0.2)])
        clock.advance(30 + 2)
        with caplog.at_level(logging.WARNING):
            await run_slot_of(daemon, "k0")
    assert daemon.stats.late == 1
    assert "check k0 started 2.2s late" in caplog.text
    assert daemon._queue.qsize() == 2  # both runs gave a result
    assert not daemon._inflight


async def test_a_check_still_running_is_skipped_and_counted(clock: FakeClock, caplog) -> None:
    daemon = Daemon(config_with(1), clock=clock)
    daemon._schedule_all()
    hung = asyncio.create_task(asyncio.sleep(3600))
    daemon._inflight["k0"] = hung
    with caplog.at_level(logging.WARNING):
        await daemon._run_slot(daemon.slots.rhythm_of("k0").job_id)  # type: ignore[union-attr]
    hung.cancel()
    assert daemon.stats.skipped_overlap == 1
    assert daemon._inflight == {"k0": hung}  # no second run
    assert "check k0 still running; a run was skipped" in caplog.text


def test_missed_slot_runs_count_every_check_of_the_slot(daemon: Daemon, clock, caplog) -> None:
    daemon._schedule_all()
    job_id, members = max(slot_jobs(daemon).items(), key=lambda kv: len(kv[1]))
    assert len(members) > 1
    with caplog.at_level(logging.WARNING):
        daemon._on_job_event(JobExecutionEvent(EVENT_JOB_MISSED, job_id, None, clock()))
        daemon._on_job_event(JobExecutionEvent(EVENT_JOB_MISSED, "_tick", None, clock()))
        daemon._on_job_event(
            JobExecutionEvent(EVENT_JOB_MAX_INSTANCES, job_id, None, clock() + timedelta(1))
        )
    assert daemon.stats.missed == len(members) + 1
    assert daemon.stats.skipped_overlap == len(members)
    assert f"{len(members)} checks ({job_id}) missed the run" in caplog.text
    assert "a run was skipped" in caplog.text


async def test_a_regular_run_during_an_extra_one_is_skipped_without_alarm(
    clock: FakeClock, caplog
) -> None:
    """The canary's nudge starts an extra run; its regular time may come while that runs:
    the extra run answers for it, and that is no sign of degraded monitoring."""
    daemon = Daemon(config_with(1), clock=clock)
    daemon._schedule_all()
    (check,) = daemon.config.checks()
    async with aiohttp.ClientSession() as session:
        daemon.ctx = ProbeContext(session, TlsContexts(), Heartbeats(clock()), clock)
        daemon._launch(check, None)  # the extra run
        with caplog.at_level(logging.WARNING):
            await run_slot_of(daemon, "k0")  # its regular time, while the extra one runs
        await run_slot_of(daemon, "k0")  # later: a regular run again
    assert daemon.stats.skipped_overlap == 0
    assert "skipped" not in caplog.text
    assert daemon._queue.qsize() == 2
    assert not daemon._extra_runs


def test_every_rhythm_has_its_own_job_even_for_long_intervals() -> None:
    """Two checks every 2 days with phases a second apart once shared a job id (6 digits), and
    only one of them ran."""
    a, b = Rhythm.of("svc1097.tls", 172_800), Rhythm.of("svc1448.tls", 172_800)
    assert a != b
    assert a.job_id != b.job_id
    rhythms = {
        Rhythm.of(f"k{n}.tls", interval) for n in range(5_000) for interval in (0.5, 172_800)
    }
    assert len({r.job_id for r in rhythms}) == len(rhythms)


def test_planning_survives_a_scheduler_that_lost_its_jobs(daemon: Daemon) -> None:
    """A reload racing the shutdown: the stopped scheduler no longer has the jobs to remove."""
    daemon._schedule_all()
    daemon._scheduler.remove_all_jobs()
    daemon.config = config_with(10)
    daemon._schedule_all(keep={f"k{i}" for i in range(10)})
    assert all(daemon.slots.rhythm_of(f"k{i}") is not None for i in range(10))
    assert daemon.slots.rhythm_of("k500") is None


async def test_only_results_that_may_change_something_are_written_at_once(clock: FakeClock) -> None:
    """The writer gathers results for BATCH_WINDOW, or for CALM_WINDOW while nothing but UP
    results of checks already confirmed UP came (a commit every 50 ms was a fifth of its
    CPU); recover_after (2 here) UP results in a row confirm a check UP."""
    daemon = Daemon(config_with(2), clock=clock)

    def take(check_id: str, state: State) -> bool:
        daemon._news.clear()
        daemon._take(CheckResult(check_id, "c0", clock(), state, ""))
        return daemon._news.is_set()

    assert take("k0", State.UP)  # first seen: the check is not confirmed yet
    assert take("k0", State.UP)  # confirms it UP (and maybe its component)
    assert not take("k0", State.UP)  # the steady state: nothing to hurry
    assert not take("k0", State.UP)
    assert take("k1", State.DOWN)  # a failure may open an outage
    assert take("k1", State.DEGRADED)
    assert take("k1", State.UP)
    assert take("k1", State.UP)  # ends the outage
    assert not take("k1", State.UP)
    assert take("canary", State.UP)  # an outage may wait for the canary's answer
    assert take("canary", State.UP)
    assert daemon._queue.qsize() == 11  # every result is written, only later
