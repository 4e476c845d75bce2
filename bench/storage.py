"""Database size after 90 simulated days of 1,000 checks every 30 s, with retention applied.

Drives the real store on a simulated clock (no probes, no real time): results go in through
``Tx.record_results`` in time order, and every simulated hour ``Pipeline.prune`` runs as the
daemon runs it (``roll_up_and_prune`` with the config's retention, then ``Store.vacuum_step``).

90 days × 1,000 checks is 259.2 M results; the store takes them at ~50-90 k/s, so writing them
all would take about an hour. The bench writes what the final file really holds instead:

* **raw results** (kept ``storage.retention.raw``, 7 days by default) for the full width of
  1,000 checks: the last 7 days plus ``--tail-hours`` of steady state, in which every hour's
  prune deletes an hour of old results and the vacuum step hands the pages back, as in a
  daemon that has run for months. The raw table, check keys and free pages are measured, not
  estimated;
* **rollups** (hourly kept 90 days, daily 730) of the same simulated stretch, measured per row
  (``dbstat``); the rows of the earlier days, which a 90-day run would hold too, are added at
  that measured size. Row counts are exact (checks × hours, checks × days); only their bytes per
  row are carried over. ``--validate`` checks this shortcut against a real, complete 90-day run
  at 10 checks.

``--quick`` writes a sample of the checks (spread over all 1,000 check keys, so check ids have
their real sizes) and scales the per-check tables up to 1,000.

    .venv/bin/python bench/storage.py [--checks 1000] [--tail-hours 6] [--validate] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from report import Report
from sqlalchemy import event

from statusbot import config as configmod
from statusbot.config import Config, ResolvedCheck
from statusbot.model import CheckResult, State
from statusbot.pipeline import Pipeline
from statusbot.store import Store

GOAL_MB = 600
DAYS = 90
INTERVAL_S = 30
END = datetime(2026, 11, 22, tzinfo=UTC)  # the end of day 90 (UTC midnight)
HOUR = timedelta(hours=1)
BULK_CACHE_KIB = 65536
MB = 1e6


def config_for(checks: int, folder: Path) -> Config:
    """A config with ``checks`` components of one HTTP check each, every 30 s, and the default
    retention (whatever ``statusbot.config`` says it is)."""
    lines = [
        f"defaults: {{interval: {INTERVAL_S}s}}",
        f"storage: {{url: 'sqlite:///{folder}/statusbot.db'}}",
        "components:",
    ]
    lines += [
        f"  - {{id: svc{n:04d}, name: Service {n}, group: Group {n % 20}, "
        f"checks: [{{type: http, url: 'https://svc{n:04d}.example.com/health'}}]}}"
        for n in range(checks)
    ]
    return configmod.from_text("\n".join(lines) + "\n", "bench.yaml", env={})


def outcomes(seed: int = 7, size: int = 10_007) -> list[tuple[State, str, float | None]]:
    """A pool of realistic outcomes, cycled through: 99.5 % up with a latency around 35 ms,
    0.3 % degraded (slow), 0.2 % down (refused, HTTP 503, timeout) with their reasons."""
    rnd = random.Random(seed)
    down = [
        ("connection refused", None),
        ("HTTP 503 from https://svc0042.example.com/health", 0.012),
        ("no answer within 10 s", None),
    ]
    pool: list[tuple[State, str, float | None]] = []
    for _ in range(size):
        x = rnd.random()
        if x < 0.002:
            reason, latency = rnd.choice(down)
            pool.append((State.DOWN, reason, latency))
        elif x < 0.005:
            slow = round(rnd.uniform(2.0, 6.0), 3)
            pool.append((State.DEGRADED, f"slow: {slow:.2f} s, limit 2 s", slow))
        else:
            pool.append((State.UP, "", round(rnd.lognormvariate(3.55, 0.6)) / 1000))
    return pool


@dataclass
class Sim:
    """What one simulation wrote and how fast the store took it."""

    results: int = 0
    write_s: float = 0.0
    prune_s: float = 0.0
    prunes: int = 0
    default_cache_results: int = 0
    default_cache_write_s: float = 0.0
    peak_bytes: int = 0  # logical size (pages × page size) just before a prune, steady state
    max_freelist: int = 0  # free pages left after a prune's vacuum step, steady state
    wall_s: float = 0.0
    hours: int = 0


@dataclass
class Measure:
    """Sizes of the database as it stands (read-only connection, WAL included)."""

    file_bytes: int
    wal_bytes: int
    page_size: int
    pages: int
    freelist: int
    tables: dict[str, int] = field(default_factory=dict)  # bytes (pages) per table and index
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def logical(self) -> int:
        return self.pages * self.page_size


def measure(path: Path) -> Measure:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        freelist = db.execute("PRAGMA freelist_count").fetchone()[0]
        tables = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        rows = {
            name: db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
            for (name,) in db.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"
            )
        }
    wal = path.with_name(path.name + "-wal")
    return Measure(
        file_bytes=path.stat().st_size,
        wal_bytes=wal.stat().st_size if wal.exists() else 0,
        page_size=page_size,
        pages=pages,
        freelist=freelist,
        tables=tables,
        rows=rows,
    )


def pragma(path: Path, name: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return int(db.execute(f"PRAGMA {name}").fetchone()[0])


@contextlib.contextmanager
def opened(config: Config, bulk_cache: dict[str, int | None]) -> Iterator[tuple[Store, Pipeline]]:
    """The store and a pipeline on it (which syncs the components, as the daemon's does).

    ``bulk_cache["kib"]``, when set, gives the store's pooled connections a bigger page cache:
    writing 1,000 interleaved checks with SQLite's default 2 MiB cache re-reads a page from the
    OS for nearly every row. The cache changes speed only, never what is written; the bench
    also times an hour with the store's own settings (set it to None and dispose the pool).
    """
    store = Store.open(config.storage.url)

    def on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        if bulk_cache.get("kib"):
            dbapi_conn.execute(f"PRAGMA cache_size = -{bulk_cache['kib']}")

    store.engine.dispose()  # the connection that migrated the file had no listener yet
    event.listen(store.engine, "connect", on_connect)
    try:
        yield store, Pipeline(config, store, clock=lambda: END)
    finally:
        store.close()


def simulate(
    store: Store,
    pipeline: Pipeline,
    path: Path,
    checks: Sequence[ResolvedCheck],
    *,
    start: datetime,
    end: datetime,
    steady_from: datetime,
    bulk_cache: dict[str, int | None],
    default_cache_hours: int = 1,
    tx_minutes: int = 10,
    label: str = "",
) -> Sim:
    """Write a result of every check every 30 s from ``start`` to ``end`` (in time order, each
    check at its own phase within the 30 s), ``tx_minutes`` of results per transaction, and
    run the daemon's prune after every simulated hour. The last ``default_cache_hours`` run
    with the store's own connection settings, to time its write rate as the daemon has it."""
    sim = Sim()
    started = time.perf_counter()
    rnd = random.Random(1)
    phased = sorted(
        ((timedelta(milliseconds=rnd.randrange(INTERVAL_S * 1000)), c) for c in checks),
        key=lambda pair: pair[0],
    )
    keys = [(offset, c.id, c.component_id) for offset, c in phased]
    pool = itertools.cycle(outcomes())
    steps_per_tx = tx_minutes * 60 // INTERVAL_S
    hours = int((end - start) / HOUR)
    page_size = pragma(path, "page_size")
    default_from = hours - default_cache_hours
    for h in range(hours):
        hour = start + h * HOUR
        if h == default_from:
            bulk_cache["kib"] = None
            store.engine.dispose()  # new connections: the store's own PRAGMAs only
        for first in range(0, 3600 // INTERVAL_S, steps_per_tx):
            batch = []
            for step in range(first, first + steps_per_tx):
                base = hour + timedelta(seconds=INTERVAL_S * step)
                for offset, check_id, component_id in keys:
                    state, reason, latency = next(pool)
                    batch.append(
                        CheckResult(check_id, component_id, base + offset, state, reason, latency)
                    )
            t = time.perf_counter()
            with store.write() as tx:
                tx.record_results(batch)
            spent = time.perf_counter() - t
            sim.results += len(batch)
            sim.write_s += spent
            if h >= default_from:
                sim.default_cache_results += len(batch)
                sim.default_cache_write_s += spent
        now = hour + HOUR
        steady = now > steady_from
        if steady:
            sim.peak_bytes = max(sim.peak_bytes, pragma(path, "page_count") * page_size)
        t = time.perf_counter()
        pipeline.prune(now)
        sim.prune_s += time.perf_counter() - t
        sim.prunes += 1
        if steady:
            sim.max_freelist = max(sim.max_freelist, pragma(path, "freelist_count"))
        if (h + 1) % 24 == 0 or h + 1 == hours:
            print(
                f"{label}day {(h + 1) / 24:5.2f}: {sim.results / 1e6:6.1f} M results, "
                f"{sim.results / max(sim.write_s, 1e-9) / 1e3:5.0f} k/s written, "
                f"{time.perf_counter() - started:5.0f} s",
                file=sys.stderr,
                flush=True,
            )
    sim.hours = hours
    sim.wall_s = time.perf_counter() - started
    return sim


ROLLUPS = ("result_hourly", "result_daily")
PER_CHECK = ("result", *ROLLUPS)  # tables whose size is linear in the number of checks


def expected_rollup_rows(end: datetime, retention_hourly: int, retention_daily: int) -> dict:
    """Rows per check the rollups hold after a prune at ``end`` of a ``DAYS``-day history."""
    first = end - timedelta(days=DAYS)
    hourly_from = max(first, end - timedelta(days=retention_hourly))
    daily_from = max(first, end - timedelta(days=retention_daily))
    return {
        "result_hourly": int((end - hourly_from) / HOUR),
        "result_daily": int((end - daily_from) / timedelta(days=1)),
    }


def estimate(m: Measure, *, written: int, total: int, rollup_rows: dict[str, int]) -> dict:
    """The 90-day, ``total``-check size from a measured file of ``written`` checks: per-check
    tables scaled by total/written, rollups extended to their full row count at the measured
    bytes per row; everything else (schema, check keys, components, free pages) as measured."""
    scale = total / written
    out: dict[str, float] = {}
    for name in PER_CHECK:
        out[name] = m.tables.get(name, 0) * scale
    for name in ROLLUPS:
        rows = m.rows.get(name, 0)
        if rows:
            out[name] = m.tables[name] / rows * rollup_rows[name] * total
    out["other"] = m.logical - sum(m.tables.get(name, 0) for name in PER_CHECK)
    out["total"] = sum(out.values())
    return out


def run_once(
    folder: Path,
    *,
    checks: int,
    written: int,
    days: float,
    steady_days: float,
    label: str,
) -> tuple[Config, Sim, Measure]:
    """Simulate ``days`` ending at END for ``written`` of ``checks`` check keys."""
    folder.mkdir(parents=True, exist_ok=True)
    config = config_for(checks, folder)
    every = config.checks()
    step = max(1, checks // written)
    sample = every[::step][:written]
    path = folder / "statusbot.db"
    bulk_cache: dict[str, int | None] = {"kib": BULK_CACHE_KIB}
    start = END - timedelta(days=days)
    with opened(config, bulk_cache) as (store, pipeline):
        if written < checks:  # every check key exists (ids 1..checks), as in the daemon
            with store.write() as tx:
                tx.record_results(
                    [CheckResult(c.id, c.component_id, start, State.UP) for c in every]
                )
        sim = simulate(
            store,
            pipeline,
            path,
            sample,
            start=start,
            end=END,
            steady_from=start + timedelta(days=steady_days),
            bulk_cache=bulk_cache,
            label=label,
        )
        m = measure(path)  # before close: the WAL as the running daemon has it
    return config, sim, m


def run(
    quick: bool = False,
    checks: int = 1000,
    tail_hours: int = 6,
    validate: bool | None = None,
    validate_checks: int = 10,
) -> Report:
    wall = time.perf_counter()
    written = 25 if quick else checks
    validate = (not quick) if validate is None else validate
    report = Report(
        f"Storage: database size after {DAYS} days of {checks:,} checks every {INTERVAL_S} s",
        f"bench/storage.py --checks {checks} --tail-hours {tail_hours}"
        + (" --validate" if validate else "")
        + (" --quick" if quick else ""),
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = config_for(1, folder)
        retention = config.storage.retention
        raw_days = retention.raw.days
        days = raw_days + tail_hours / 24
        config, sim, m = run_once(
            folder / "main",
            checks=checks,
            written=written,
            days=days,
            steady_days=raw_days,
            label="",
        )
        rollup_rows = expected_rollup_rows(END, retention.hourly.days, retention.daily.days)
        est = estimate(m, written=written, total=checks, rollup_rows=rollup_rows)
        wal = m.wal_bytes
        total = est["total"] + wal
        results_90d = checks * DAYS * 86_400 // INTERVAL_S
        raw_rows = m.rows["result"] * checks / written
        report.row(
            f"database after {DAYS} days (file + WAL), retention "
            f"raw {raw_days} d / hourly {retention.hourly.days} d / daily {retention.daily.days} d",
            f"{total / MB:.0f} MB ({est['total'] / MB:.0f} MB file + {wal / MB:.0f} MB WAL)",
            f"< {GOAL_MB} MB",
            total < GOAL_MB * MB,
        )
        report.row(
            "  raw results (table `result`)",
            f"{est['result'] / MB:.0f} MB for {raw_rows / 1e6:.1f} M rows, "
            f"{est['result'] / raw_rows:.1f} B/row",
        )
        for name in ROLLUPS:
            rows = rollup_rows[name] * checks
            report.row(
                f"  {name}",
                f"{est[name] / MB:.1f} MB for {rows / 1e6:.2f} M rows, "
                f"{est[name] / rows:.1f} B/row",
            )
        report.row("  everything else (schema, keys, free pages)", f"{est['other'] / MB:.1f} MB")
        report.row(
            f"bytes per stored result ({results_90d / 1e6:.1f} M results in {DAYS} days)",
            f"{total / results_90d:.2f} B per result written; "
            f"{est['result'] / raw_rows:.1f} B per raw row kept",
        )
        if not quick:
            peak = sim.peak_bytes + sum(est[n] - m.tables.get(n, 0) for n in ROLLUPS)
            report.row(
                "largest in steady state (just before an hourly prune: 7 days + 1 hour of raw "
                "results)",
                f"{(peak + wal) / MB:.1f} MB ({peak / MB:.1f} MB file + {wal / MB:.0f} MB WAL; "
                f"after the prune {est['total'] / MB:.1f} MB file)",
                f"< {GOAL_MB} MB",
                peak + wal < GOAL_MB * MB,
            )
        bulk_rate = (sim.results - sim.default_cache_results) / (
            sim.write_s - sim.default_cache_write_s
        )
        default_rate = sim.default_cache_results / sim.default_cache_write_s
        report.row(
            "store write rate, `record_results`, 10 simulated minutes a transaction",
            f"{default_rate / 1e3:.0f} k results/s with the store's own settings (last hour, "
            f"full file); {bulk_rate / 1e3:.0f} k/s with a {BULK_CACHE_KIB // 1024} MiB page "
            "cache (bulk of the run)",
            f"≥ {checks / INTERVAL_S:.0f}/s (the load)",
            default_rate >= checks / INTERVAL_S,
        )
        report.row(
            "hourly prune (`Pipeline.prune`: roll up, delete, vacuum step)",
            f"{sim.prune_s / sim.prunes * 1000:.0f} ms on average ({sim.prunes} runs); "
            f"free pages left after it ≤ {sim.max_freelist}",
        )
        rows = ", ".join(f"{name} {count:,}" for name, count in sorted(m.rows.items()) if count)
        report.note(
            f"- Simulated: {written:,} of {checks:,} checks"
            + (
                ""
                if written == checks
                else f" (every check key registered; per-check tables × {checks / written:g})"
            )
            + f", a result every {INTERVAL_S} s each for the last {days:g} days up to day {DAYS}"
            f" ({sim.results / 1e6:.1f} M results through `Tx.record_results`, in time order, each"
            f" check at its own phase; 99.5 % up, 0.3 % slow, 0.2 % down with reasons), "
            f"`Pipeline.prune` after every simulated hour ({sim.prunes} times), as the daemon "
            f"runs it. Wall time {sim.wall_s:.0f} s."
        )
        report.note(
            f"- Measured file: {m.file_bytes / MB:.0f} MB + {m.wal_bytes / MB:.1f} MB WAL "
            f"({m.pages:,} pages of {m.page_size} B, {m.freelist} free); rows: {rows}."
        )
        report.note(
            f"- Rollups: the file holds the rollups of the simulated {days:g} days; a 90-day "
            f"history holds {rollup_rows['result_hourly']:,} hourly and "
            f"{rollup_rows['result_daily']} daily rows per check, added at the bytes per row "
            "measured here (dbstat). Raw results, check keys and free pages are as measured: after"
            f" {days - raw_days:g} days past the raw retention the raw table is in steady state "
            "(every hour deletes an hour of old rows; the vacuum step returns the pages)."
        )
        report.note(
            "- The WAL's size depends on the transaction size (the daemon commits every few "
            "seconds and checkpoints every 1,000 pages; `journal_size_limit` is 64 MiB)."
        )
        if validate:
            report.note(validation(folder / "validate", validate_checks, days, raw_days))
    report.note(f"- Bench wall time: {time.perf_counter() - wall:.0f} s.")
    return report


def validation(folder: Path, checks: int, days: float, raw_days: int) -> str:
    """The shortcut (last ``days`` + extrapolated rollups) against a complete 90-day run."""
    cfg, _sim, short = run_once(
        folder / "short",
        checks=checks,
        written=checks,
        days=days,
        steady_days=raw_days,
        label="validate short: ",
    )
    retention = cfg.storage.retention
    rollup_rows = expected_rollup_rows(END, retention.hourly.days, retention.daily.days)
    guess = estimate(short, written=checks, total=checks, rollup_rows=rollup_rows)["total"]
    _cfg, full_sim, full = run_once(
        folder / "full",
        checks=checks,
        written=checks,
        days=DAYS,
        steady_days=raw_days,
        label="validate full: ",
    )
    error = guess / full.logical - 1
    return (
        f"- Shortcut checked against a complete run at {checks} checks: all {DAYS} days "
        f"written ({full_sim.results / 1e6:.1f} M results, {full_sim.wall_s:.0f} s) give a "
        f"{full.logical / MB:.2f} MB file (rows: "
        + ", ".join(f"{n} {full.rows[n]:,}" for n in PER_CHECK)
        + f"); the last {days:g} days plus extrapolated rollups give {guess / MB:.2f} MB "
        f"({error:+.1%})."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--tail-hours", type=int, default=6, help="steady state past raw retention")
    parser.add_argument(
        "--validate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check the shortcut against a complete 90-day run at 10 checks (default: not --quick)",
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(run(args.quick, args.checks, args.tail_hours, args.validate).markdown())


if __name__ == "__main__":
    main()
