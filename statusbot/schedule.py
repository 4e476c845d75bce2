"""When each check runs: checks that start together share one slot, one scheduler job a slot.

Each check gets a stable rhythm: its interval, and a phase on a grid of ``SLOT`` seconds from a
crc32 of its id, counted from the Unix epoch. So the same check starts at the same second of
its interval in every process, after every restart and every reload, and checks spread over the
interval instead of all starting at once.

Checks with the same rhythm form a slot, and a slot is one APScheduler job. APScheduler's own
work per run (next fire time, job store update, events, executor hand-over) was 7-9 % of the
daemon's CPU with a job per check; a job per slot does it once for up to ``PER_SLOT`` checks, and
10,000 checks need ~1,200 jobs instead of 10,000 (13 MB of job objects). The daemon starts each
check of a slot as its own task, and skips (and counts) a check whose last run is still going:
what ``max_instances=1`` did per job.
"""

from __future__ import annotations

import collections
import contextlib
import zlib
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from statusbot.config import ResolvedCheck

SLOT = 0.25  # seconds: checks start on this grid, so the loop wakes once for all that are due
PER_SLOT = 20  # checks at most in one slot (more checks: shorter slots, down to MIN_SLOT)
MIN_SLOT = 0.01
_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def stagger(check_id: str, interval: float, slot: float = SLOT) -> float:
    """A stable offset in [0, interval) so runs spread out (crc32: same in every process),
    on a grid of ``slot`` seconds: checks that share a slot share the event loop's wake-ups."""
    slots = max(1, int(interval / slot))
    return (zlib.crc32(check_id.encode()) % slots) * slot


def slot_for(interval: float, checks: int) -> float:
    """The slot for ``checks`` checks of one interval: SLOT, or shorter when that would put
    more than PER_SLOT checks in a slot (their first steps run one after the other, so the
    last of 80 would start ~80 ms late)."""
    return max(MIN_SLOT, min(SLOT, interval * PER_SLOT / max(1, checks)))


@dataclass(frozen=True, slots=True)
class Rhythm:
    """Starts at every ``phase + k * interval`` microseconds since the Unix epoch."""

    interval_us: int
    phase_us: int

    @classmethod
    def of(cls, check_id: str, interval: float, slot: float = SLOT) -> Rhythm:
        interval_us = max(1, round(interval * _US))
        return cls(interval_us, round(stagger(check_id, interval, slot) * _US) % interval_us)

    @property
    def job_id(self) -> str:
        """Unique per rhythm: ``repr`` of a float round-trips (``:g`` kept 6 digits, and two
        checks every 2 days with phases 1 s apart shared one job, so one of them never ran)."""
        return f"slot {self.interval_us / _US!r}s+{self.phase_us / _US!r}s"

    def next_start(self, now: datetime) -> datetime:
        """The first start at or after ``now``."""
        now_us = _micros(now)
        return _at(now_us + (self.phase_us - now_us) % self.interval_us)

    def planned(self, now: datetime) -> datetime:
        """The start nearest to ``now``: the one a run beginning at ``now`` was meant for (a
        run more than half an interval late is not run at all: misfire_grace_time)."""
        now_us = _micros(now)
        since = (now_us - self.phase_us) % self.interval_us
        if since * 2 <= self.interval_us:
            return _at(now_us - since)
        return _at(now_us - since + self.interval_us)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _at(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


class Slots:
    """The checks of each slot, and the one scheduler job that starts them."""

    def __init__(self) -> None:
        self._slots: dict[str, tuple[Rhythm, tuple[ResolvedCheck, ...]]] = {}  # by job id
        self._rhythm_of: dict[str, Rhythm] = {}  # check id → its rhythm

    def get(self, job_id: str) -> tuple[Rhythm, tuple[ResolvedCheck, ...]] | None:
        """The rhythm and checks of a slot job, or None for any other job."""
        return self._slots.get(job_id)

    def rhythm_of(self, check_id: str) -> Rhythm | None:
        return self._rhythm_of.get(check_id)

    def plan(
        self,
        scheduler: BaseScheduler,
        checks: Iterable[ResolvedCheck],
        run: Callable[[str], Awaitable[None]],
        now: datetime,
        *,
        keep: Collection[str] = (),
    ) -> None:
        """Make the scheduler's slot jobs match ``checks``.

        Checks named in ``keep`` (unchanged by a reload) keep their rhythm even where the
        number of checks changed the slot size; a slot job that still exists keeps running on
        its rhythm. ``run(job_id)`` is the coroutine function each job calls; ``now`` is the
        scheduler's time (the wall clock)."""
        checks = list(checks)
        per_interval = collections.Counter(c.interval for c in checks)
        kept = {cid: r for cid, r in self._rhythm_of.items() if cid in keep}
        members: dict[Rhythm, list[ResolvedCheck]] = collections.defaultdict(list)
        for check in checks:
            rhythm = kept.get(check.id) or Rhythm.of(
                check.id, check.interval, slot_for(check.interval, per_interval[check.interval])
            )
            members[rhythm].append(check)
        slots = {r.job_id: (r, tuple(cs)) for r, cs in members.items()}
        for job_id in self._slots.keys() - slots.keys():
            with contextlib.suppress(JobLookupError):  # already gone (the scheduler stopped)
                scheduler.remove_job(job_id)
        for job_id, (rhythm, _) in slots.items():
            if job_id in self._slots:
                continue
            interval = rhythm.interval_us / _US
            scheduler.add_job(
                run,
                IntervalTrigger(
                    seconds=interval, start_date=rhythm.next_start(now), timezone="UTC"
                ),
                args=[job_id],
                id=job_id,
                name=job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval / 2)),
                replace_existing=True,
            )
        self._slots = slots
        self._rhythm_of = {c.id: r for r, cs in members.items() for c in cs}
