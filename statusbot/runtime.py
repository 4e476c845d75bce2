"""The daemon: schedules every check, hands results to the single writer, stops cleanly.

Probes are coroutines on one event loop (APScheduler ``AsyncIOScheduler``, one job per slot of
checks that start together: ``schedule``), each under its own deadline, so a slow target never
starves the others. Results go through an asyncio queue to one writer thread that owns the
database and the detection state (``Pipeline``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from statusbot import config_child
from statusbot.config import Config, ConfigError, ResolvedCheck
from statusbot.delivery import couriers
from statusbot.listener import Listener
from statusbot.metrics import Metrics, snapshot_from
from statusbot.metrics import Snapshot as MetricsSnapshot
from statusbot.model import CheckResult, Clock, DeliveryStatus, State, utcnow
from statusbot.outbox import Courier, first_of
from statusbot.pipeline import Pipeline, policies
from statusbot.probes import run_check
from statusbot.probes.base import Heartbeats, ProbeContext, TlsContexts
from statusbot.probes.heartbeat import HeartbeatCheck
from statusbot.probes.http import make_session
from statusbot.schedule import Slots
from statusbot.service import Health, Notifier, result_gap, status_line, watchdog_interval
from statusbot.store import OutboxStats, Store, Tx
from statusbot.store.errors import WriteFailures

log = logging.getLogger("statusbot")
T = TypeVar("T")

TICK = 5.0  # seconds between evaluations of time-driven rules (maintenance, resolutions)
PRUNE_EVERY = 3600.0  # seconds between rollup/retention runs


PAGE_EVERY = 60.0  # seconds between page rebuilds when nothing changed
PAGE_MIN_GAP = 2.0  # seconds at least between two rebuilds
PAGE_COST_SHARE = 5  # …and at least this many times as long as the last rebuild took
DRAIN = 10.0  # seconds in-flight deliveries get to finish when the daemon stops
BATCH_WINDOW = 0.05  # seconds results wait to share one store transaction
CALM_WINDOW = 0.5  # …and how long while all are UP results of checks confirmed UP
SETTLED_CAP = 1000  # UP results in a row counted at most
SWITCH_INTERVAL = 0.0001  # seconds (Python's default: 0.005), see run()
GC_OLDER_EVERY = 20  # collections of a generation per one of the next (Python's default: 10)
LATE = 1.0  # seconds after its planned time that make a run "late" (counted and logged)


@dataclass
class SchedulerStats:
    """Runs that did not happen as planned: counted and logged, never silent."""

    missed: int = 0
    skipped_overlap: int = 0
    late: int = 0
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))  # seconds


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - present on glibc only
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def settle_garbage_collector() -> None:
    """Once the config, the schedule and the store are set up: keep the cyclic GC off them.

    Measured at 10,000 checks: full (generation 2) collections walked every long-lived object —
    pydantic models, jobs, caches — taking 150–370 ms each, several a minute, and the event
    loop stood still meanwhile (p99 start lateness 500 ms). ``gc.freeze()`` moves what exists
    now to the permanent generation (still freed by reference counting, never scanned again),
    and the older generations are collected half as often. Called again after a reload, so
    the old config can be collected first.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(gc.get_threshold()[0], GC_OLDER_EVERY, GC_OLDER_EVERY)


SiteBuilder = Callable[[Store, Config, datetime], object]
"""Builds the page from the store: ``page.site.build``."""


def build_page(build: SiteBuilder, *args: Any) -> float:
    """``site.build(*args)`` with the cyclic GC paused, then the freed heap given back; returns
    the CPU seconds the build's thread spent (a build that waits on the GIL or the disk costs
    its wall time, not that).

    A build of 1,000 components makes a few million short-lived objects; collections they
    triggered in the building thread walked all of them while holding the GIL, so the event
    loop stood still (runs started 250 ms late). Reference counting frees them anyway."""
    started = time.thread_time()
    was = gc.isenabled()
    gc.disable()
    try:
        build(*args)
    finally:
        if was:
            gc.enable()
    give_back_memory()
    return time.thread_time() - started


def give_back_memory() -> None:
    """Return the heap that a page build freed to the system (glibc's ``malloc_trim``).

    A build of 1,000 components allocates tens of MB of short-lived strings; glibc keeps freed
    heap memory for reuse, so without this the daemon's RSS kept each build's peak (measured:
    +50 MB at 10,000 checks). Elsewhere than glibc, nothing happens."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _settled_after(config: Config) -> dict[str, int]:
    """Component id → the UP results in a row that confirm one of its checks UP."""
    return {cid: policy.recover_after for cid, policy in policies(config).items()}


def stored_pings(config: Config) -> dict[str, datetime]:
    """Heartbeat pings the daemon recorded, if its database exists (``check`` creates none)."""
    url = config.store_url()
    if not Path(url.removeprefix("sqlite:///")).exists():
        return {}
    with Store.open(url) as store, store.read() as tx:
        return tx.pings()


async def check_once(config: Config, clock: Clock = utcnow) -> list[CheckResult]:
    """Run every check (and the canary) once, concurrently; nothing is stored."""
    checks = config.checks()
    canary = config.canary_check()
    if canary:
        checks.append(canary)
    heartbeats = Heartbeats(started_at=clock(), last=stored_pings(config))
    async with make_session() as session:
        ctx = ProbeContext(session, TlsContexts(), heartbeats, clock)

        async def one(check: ResolvedCheck) -> CheckResult:
            outcome = await run_check(check.spec, ctx, check.timeout)
            return CheckResult.of(check.id, check.component_id, clock(), outcome)

        return list(await asyncio.gather(*(one(c) for c in checks)))


class Daemon:
    """``statusbot run``: everything wired together in one asyncio process."""

    def __init__(
        self,
        config: Config,
        config_path: Path | None = None,
        clock: Clock = utcnow,
        *,
        dry_run: bool = False,
        build_site: SiteBuilder | None = None,
    ) -> None:
        self.config = config
        self._build_site = build_site
        self.dry_run = dry_run
        self.couriers: list[Courier] = []
        self.config_path = config_path
        self.clock = clock
        self.stats = SchedulerStats()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="statusbot-writer")
        # the page is built on a thread of its own, from its own read transaction: a build of
        # 1,000 components takes 0.4-1.6 s, and on the writer thread results, incidents and
        # the couriers' reads all waited for it
        self._page_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="statusbot-page")
        self._queue: asyncio.Queue[CheckResult] = asyncio.Queue()
        self._up_streak: dict[str, int] = {}  # check id → UP results in a row, lately
        self._settled_after = _settled_after(config)
        self._news = asyncio.Event()  # a queued result may change something: write soon
        self._stop = asyncio.Event()
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._listener: Listener | None = None
        self._inflight: dict[str, asyncio.Task[Any]] = {}  # check id → its running probe
        self._extra_runs: set[str] = set()  # checks whose running probe is an extra run
        self.slots = Slots()
        self._canary_nudged: datetime | None = None
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False  # a SIGHUP came while a reload ran: read the config again
        self._page_dirty = asyncio.Event()
        self.metrics = Metrics()
        self._metrics_db: tuple[dict[str, tuple[State, datetime]], int, dict[str, OutboxStats]] = (
            {},
            0,
            {},
        )
        self.metrics.set_snapshot_source(self._metrics_snapshot)
        self.store: Store | None = None
        self.pipeline: Pipeline | None = None
        self.heartbeat_tokens: dict[str, str] = {}
        self.notifier = Notifier()
        self.health = Health(time.monotonic())
        self.write_failures = WriteFailures(log)  # one line per problem, not one per batch

    async def _in_writer(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    async def run(self) -> int:
        """Run until SIGINT/SIGTERM; returns the exit code. Raises StartupError or StoreError
        (one line each) when it cannot start; everything opened so far is closed again."""
        loop = asyncio.get_running_loop()
        # The writer and page threads and the loop share the GIL; every syscall of the loop
        # gives the GIL up and must wait up to this long to get it back while the writer is busy
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        try:
            return await self._serve()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            self._db.shutdown(wait=True)
            sys.setswitchinterval(switch_interval)

    async def _serve(self) -> int:
        self.store = await self._in_writer(Store.open, self.config.store_url())
        try:
            self.pipeline = await self._in_writer(Pipeline, self.config, self.store, self.clock)
            if not self.dry_run:
                resumed = await self.write(lambda tx: tx.reset_sending())
                if resumed:
                    log.info("resuming %d deliveries interrupted by the last stop", resumed)
            self.couriers = couriers(
                self.config, self.write, self.clock, read=self.read, dry_run=self.dry_run
            )
            pings = await self.read(lambda tx: tx.pings())
            self.heartbeats = Heartbeats(started_at=self.clock(), last=pings)
            async with make_session() as session:
                self.ctx = ProbeContext(session, TlsContexts(), self.heartbeats, self.clock)
                await self._watch()
            try:
                await self._in_writer(self.pipeline.flush)
            except Exception:
                log.exception("could not write the last results; they are lost")
        finally:
            # a build cut off by the stop still runs on its thread: let it end before the store
            await asyncio.to_thread(self._page_pool.shutdown, wait=True)
            await self._in_writer(self.store.close)
        log.info("stopped")
        return 0

    async def _watch(self) -> None:
        """Schedule the checks and run until told to stop; then finish what is in flight."""
        writer = asyncio.create_task(self._writer(), name="writer")
        deliveries_stop = asyncio.Event()
        delivering = [
            asyncio.create_task(c.run(deliveries_stop), name=f"courier-{c.name}")
            for c in self.couriers
        ]
        delivering.append(asyncio.create_task(self._pages(deliveries_stop), name="page"))
        watchdog: asyncio.Task[None] | None = None
        try:
            await self._refresh_metrics()
            if self.config.http.listen:
                site = self.config.resolve(self.config.site.output_dir)
                self._listener = Listener(
                    self.config.http.listen, self._on_ping, site, metrics=self.metrics.handler
                )
                await self._listener.start()
            self._schedule_all()
            self._scheduler.add_listener(
                self._on_job_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
            )
            self._scheduler.start()
            settle_garbage_collector()
            log.info(
                "statusbot running: %d checks on %d components, store %s",
                self.config.check_count(),
                len(self.config.components),
                self.store.path if self.store else "?",
            )
            self.health.expect_results(result_gap(self._all_checks()), time.monotonic())
            self.notifier.ready(self._status_line())
            if interval := watchdog_interval():
                watchdog = asyncio.create_task(
                    self.notifier.watchdog_loop(self.health, time.monotonic, self._stop, interval),
                    name="watchdog",
                )
            await self._stop.wait()
            self.notifier.stopping()
            log.info("stopping: no new checks; finishing the running ones")
            self._scheduler.shutdown(wait=False)  # deferred to the loop: `running` lags
            if self._inflight:
                longest = max(c.timeout for c in self._all_checks())
                await asyncio.wait(set(self._inflight.values()), timeout=longest + 1)
            await self._queue.join()
            await self._finish_deliveries(deliveries_stop, delivering)
        finally:
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            deliveries_stop.set()
            for task in delivering:
                task.cancel()
            await asyncio.gather(*delivering, return_exceptions=True)
            for courier in self.couriers:
                with contextlib.suppress(Exception):
                    await courier.publisher.close()
            if not self._stop.is_set() and self._scheduler.running:
                self._scheduler.shutdown(wait=False)  # start-up failed after it started
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if self._listener:
                await self._listener.close()

    def stop(self) -> None:
        self._stop.set()

    def _status_line(self) -> str:
        """The one-line summary for systemd's STATUS=, from the store reads cached for /metrics
        (``_refresh_metrics``): no extra query."""
        _states, incidents, outbox = self._metrics_db
        pending = sum(s.count(DeliveryStatus.PENDING) for s in outbox.values())
        return status_line(
            self.config.check_count(),
            len(self.config.components),
            incidents,
            pending,
            degraded=self.stats.missed + self.stats.skipped_overlap,
        )

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` in a durable write transaction on the writer thread."""
        store = self.store
        assert store is not None

        def run() -> T:
            with store.write(durable=True) as tx:
                return fn(tx)

        return await self._in_writer(run)

    async def read(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` in a short read transaction (on the writer thread, in turn)."""
        store = self.store
        assert store is not None

        def run() -> T:
            with store.read() as tx:
                return fn(tx)

        return await self._in_writer(run)

    def _wake_couriers(self) -> None:
        """Something was written: deliver it, and show it on the page."""
        for courier in self.couriers:
            courier.wake.set()
        self._page_dirty.set()

    async def _pages(self, stop: asyncio.Event) -> None:
        """Rebuild the page after changes (at most every PAGE_MIN_GAP s) and every
        PAGE_EVERY s anyway (the bars, "last checked"). Built from the store, never memory."""
        if self._build_site is None:
            from statusbot.page import site  # noqa: PLC0415 - only when the daemon runs

            self._build_site = site.build
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = time.monotonic()
            # cleared before the build reads the store: whatever changes from here on, during
            # the build too (it runs beside the writer), asks for the next one
            self._page_dirty.clear()
            try:
                store = self.store
                assert store is not None
                cost = await loop.run_in_executor(
                    self._page_pool, build_page, self._build_site, store, self.config, self.clock()
                )
            except Exception:
                log.exception("could not build the page")
                cost = time.monotonic() - started
            # a big page (1,000 components) costs ~1 s of CPU: while things change by the
            # second, spend at most 1/PAGE_COST_SHARE of a core on it
            with contextlib.suppress(TimeoutError):  # a stop does not wait for the pause
                async with asyncio.timeout(max(PAGE_MIN_GAP, cost * PAGE_COST_SHARE)):
                    await stop.wait()
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PAGE_EVERY):
                    await first_of(self._page_dirty.wait(), stop.wait())

    async def _finish_deliveries(
        self, stop: asyncio.Event, tasks: list[asyncio.Task[None]]
    ) -> None:
        """Stop taking new deliveries; give the ones in flight ``DRAIN`` seconds to finish.
        Whatever did not finish stays pending (or sending) and goes out after the next start."""
        stop.set()
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=DRAIN)
        if pending:
            log.warning(
                "%d channel(s) still sending after %gs; they resume at the next start",
                len(pending),
                DRAIN,
            )

    # --- scheduling ---------------------------------------------------------------------

    def _all_checks(self) -> list[ResolvedCheck]:
        canary = self.config.canary_check()
        return self.config.checks() + ([canary] if canary else [])

    def _schedule_all(self, keep: Collection[str] = ()) -> None:
        """(Re)plan every check's slot, keeping the rhythm of the checks in ``keep`` (unchanged
        by a reload); add the housekeeping jobs unless they run already."""
        checks = self._all_checks()
        self.heartbeat_tokens = {
            c.spec.ping_key(): c.id for c in checks if isinstance(c.spec, HeartbeatCheck)
        }
        self._settled_after = _settled_after(self.config)
        now = self.clock()
        self.slots.plan(self._scheduler, checks, self._run_slot, now, keep=keep)
        for job_id, func, seconds, first in (
            ("_tick", self._tick, TICK, now),
            ("_prune", self._prune, PRUNE_EVERY, now + timedelta(seconds=60)),
        ):
            if self._scheduler.get_job(job_id) is not None:
                continue
            self._scheduler.add_job(
                func,
                IntervalTrigger(seconds=seconds),
                id=job_id,
                next_run_time=first,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        """Scheduler listener (runs in the loop: keep it O(1)). Missed runs are counted and
        logged: they mean the monitoring itself is degraded, not a target."""
        slot = self.slots.get(event.job_id)
        checks = slot[1] if slot else ()
        n = len(checks) or 1
        if not checks:
            what = event.job_id  # a housekeeping job
        elif n == 1:
            what = f"check {checks[0].id}"
        else:
            what = f"{n} checks ({event.job_id})"
        if event.code == EVENT_JOB_MISSED:
            self.stats.missed += n
            self.metrics.count_missed(n)
            log.warning(
                "%s missed the run at %s (event loop overloaded?)", what, event.scheduled_run_time
            )
        else:
            self.stats.skipped_overlap += n
            self.metrics.count_skipped(n)
            log.warning("%s still starting; a run was skipped", what)

    async def _run_slot(self, job_id: str) -> None:
        """A slot's time has come: start each of its checks as a task of its own."""
        now = self.clock()
        self.health.tick(time.monotonic())  # the scheduler dispatches: the loop is not wedged
        slot = self.slots.get(job_id)
        if slot is None:
            return
        rhythm, checks = slot
        planned = rhythm.planned(now)
        for check in checks:
            self._launch(check, planned)

    def _launch(self, check: ResolvedCheck, planned: datetime | None) -> None:
        """Start one run of ``check`` (``planned``: when it was due; None for an extra run),
        unless its last run is still going: then this run is skipped, and counted and logged
        when that was a regular run (an extra one, the canary's nudge, answers for it)."""
        if check.id in self._inflight:
            if planned is not None and check.id not in self._extra_runs:
                self.stats.skipped_overlap += 1
                self.metrics.count_skipped()
                log.warning("check %s still running; a run was skipped", check.id)
            return
        if planned is None:
            self._extra_runs.add(check.id)
        self._inflight[check.id] = asyncio.create_task(
            self._run_check(check, planned), name=check.id
        )

    def _started(self, check_id: str, planned: datetime) -> None:
        """A check run really began: how late against its planned time, counted and logged."""
        lateness = max(0.0, (self.clock() - planned).total_seconds())
        self.stats.lateness.append(lateness)
        self.metrics.observe_lateness(lateness)
        if lateness > LATE:
            self.stats.late += 1
            self.metrics.count_late()
            log.warning("check %s started %.1fs late", check_id, lateness)

    async def _run_check(self, check: ResolvedCheck, planned: datetime | None = None) -> None:
        try:
            if planned is not None:
                self._started(check.id, planned)
            outcome = await run_check(check.spec, self.ctx, check.timeout)
        finally:
            self._inflight.pop(check.id, None)
            self._extra_runs.discard(check.id)
        result = CheckResult.of(check.id, check.component_id, self.clock(), outcome)
        self.metrics.observe_result(result)
        self._take(result)
        if outcome.state is not State.UP and check.id != "canary":
            self._nudge_canary()

    def _take(self, result: CheckResult) -> None:
        """Queue ``result`` for the store. One that may change something goes out within
        BATCH_WINDOW; an UP result of a check already confirmed UP changes nothing and may wait
        up to CALM_WINDOW. Any other result may open, end or first confirm a state, and the
        canary's answer may be what an outage waits for."""
        self._queue.put_nowait(result)
        streak = self._up_streak.get(result.check_id, 0) if result.state is State.UP else -1
        # confirmed UP already (recover_after UP results in a row): this one moves nothing
        settled = streak >= self._settled_after.get(result.component_id, 1)
        if not settled or result.check_id == "canary":
            self._news.set()
        self._up_streak[result.check_id] = min(streak + 1, SETTLED_CAP)

    def _nudge_canary(self) -> None:
        """A check just failed: ask the canary now, so an outage is not held back waiting for
        the canary's next regular run (the pipeline waits for a canary answer after the
        failures began). At most once per canary timeout."""
        canary = self.config.canary_check()
        if canary is None or canary.id in self._inflight:
            return
        now = self.clock()
        if self._canary_nudged and (now - self._canary_nudged).total_seconds() < canary.timeout:
            return
        self._canary_nudged = now
        self._launch(canary, None)  # an extra run; its regular rhythm goes on

    async def _writer(self) -> None:
        assert self.pipeline is not None
        counters = self.pipeline.counters
        while True:
            batch = [await self._queue.get()]
            # gather what arrives within BATCH_WINDOW: one transaction (and one hop to the
            # writer thread) for many results instead of one each. While nothing but UP
            # results of healthy checks come (the steady state), gather for CALM_WINDOW: a
            # commit per 50 ms was a fifth of the writer's CPU, for results that move nothing.
            await asyncio.sleep(BATCH_WINDOW)
            if not self._news.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CALM_WINDOW - BATCH_WINDOW):
                        await first_of(self._news.wait(), self._stop.wait())
            self._news.clear()
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                revision = counters.revision
                await self._in_writer(self.pipeline.handle, batch)
                now = time.monotonic()
                self.health.result(now)
                self.health.store_ok(now)
                self.write_failures.ok()
                if counters.revision != revision:  # states, incidents or the outbox changed
                    self._wake_couriers()
            except Exception as exc:
                self.health.store_failed(time.monotonic(), str(exc))
                what = f"could not store {len(batch)} results (kept; retried with the next)"
                self.write_failures.failed(what, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _tick(self) -> None:
        assert self.pipeline is not None
        self.health.tick(time.monotonic())  # the scheduler dispatches: the loop is not wedged
        if await self._periodic("time-driven rules", self.pipeline.tick):
            self.health.store_ok(time.monotonic())  # pipeline.tick is a durable write
        await self._refresh_metrics()
        self.notifier.status(self._status_line())  # sent only when it changed

    async def _refresh_metrics(self) -> None:
        """Read what /metrics reports from the store (off the scrape path, every tick)."""
        try:
            self._metrics_db = await self.read(
                lambda tx: (tx.component_states(), len(tx.open_incidents()), tx.outbox_summary())
            )
        except Exception:
            log.exception("metrics: could not read the store")

    def _metrics_snapshot(self) -> MetricsSnapshot:
        """Called at scrape time on the loop: cached store reads and in-memory counters only."""
        states, open_incidents, outbox = self._metrics_db
        return snapshot_from(
            states=states,
            open_incidents=open_incidents,
            outbox=outbox,
            couriers=self.couriers,
            counters=self.pipeline.counters if self.pipeline else None,
            now=self.clock(),
        )

    async def _prune(self) -> None:
        assert self.pipeline is not None
        await self._periodic("retention", self.pipeline.prune)

    async def _periodic(self, what: str, job: Callable[[datetime], bool | None]) -> bool:
        """Run ``job(now)`` in the writer; a failure is logged, never fatal. When the job says
        it changed something, the couriers and the page hear of it."""
        try:
            changed = await self._in_writer(job, self.clock())
            self.write_failures.ok()
            if changed:
                self._wake_couriers()
        except Exception as exc:
            self.health.store_failed(time.monotonic(), str(exc))
            self.write_failures.failed(f"{what} failed", exc)
            return False
        return True

    # --- reload ---------------------------------------------------------------------------

    def _on_sighup(self) -> None:
        if self._stop.is_set():
            log.warning("stopping; this SIGHUP is ignored")
            return
        if self._reloading and not self._reloading.done():
            # the file may have changed again since the running reload read it
            self._reload_again = True
            log.info("a reload is running; the config is read again once it ends")
            return
        self._reloading = asyncio.create_task(self._reloads(), name="reload")

    async def _reloads(self) -> None:
        """Reload, and again while SIGHUPs came meanwhile: the last edit always takes effect."""
        self._reload_again = True
        while self._reload_again and not self._stop.is_set():
            self._reload_again = False
            await self.reload()

    async def reload(self) -> bool:
        """``_reload`` between RELOADING=1 and READY=1 (sent whatever the outcome)."""
        self.notifier.reloading()
        try:
            return await self._reload()
        finally:
            self.health.expect_results(result_gap(self._all_checks()), time.monotonic())
            await self._refresh_metrics()  # logs and keeps the old numbers if the read fails
            self.notifier.ready(self._status_line())

    async def _reload(self) -> bool:
        """Re-read the config: swap it in if valid, else keep the old one and say why.

        Detection state, open incidents and the outbox stay; checks that did not change keep
        their schedule. ``http.listen`` and ``storage.url`` need a restart (logged)."""
        if self.config_path is None or self.pipeline is None:
            return False
        try:
            new = await config_child.load_async(self.config_path)
            await self._in_writer(self.pipeline.reconfigure, new)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused, keeping the running config: %s", problem)
            return False
        except Exception:
            log.exception("reload failed, keeping the running config")
            return False
        old, self.config = self.config, new
        for what, before, after in (
            ("http.listen", old.http.listen, new.http.listen),
            ("storage.url", old.store_url(), new.store_url()),
            ("channels", old.channels, new.channels),
            ("templates_dir", old.templates_dir, new.templates_dir),
        ):
            if before != after:
                log.warning("%s changed: restart statusbot to apply it (still %s)", what, before)
        previous = {c.id: c for c in (*old.checks(), *filter(None, [old.canary_check()]))}
        unchanged = {c.id for c in self._all_checks() if previous.get(c.id) == c}
        self._schedule_all(keep=unchanged)
        settle_garbage_collector()
        log.info(
            "config reloaded: %d checks (%d unchanged)", len(self._all_checks()), len(unchanged)
        )
        return True

    # --- heartbeats ------------------------------------------------------------------------

    async def _on_ping(self, key: str) -> bool:
        """A cron job called /ping/<token>: remember it (in memory and in the store)."""
        if key not in self.heartbeat_tokens:
            return False
        now = self.clock()
        self.heartbeats.ping(key, now)
        await self.write(lambda tx: tx.record_ping(key, now))
        return True
