"""Rollups and retention with controlled timestamps; the daily uptime they feed; vacuum."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Table, func, select

from statusbot.model import CheckResult, State
from statusbot.store import DayStats, Store
from statusbot.store import tables as t

START = datetime(2026, 2, 20, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
OUTAGE = datetime(2026, 2, 25, 3, 0, tzinfo=UTC)  # api.http is down for this hour
STEP = timedelta(minutes=10)


def _feed(store: Store) -> int:
    rows: list[CheckResult] = []
    at = START
    while at < NOW:
        if OUTAGE <= at < OUTAGE + timedelta(hours=1):
            rows.append(CheckResult("api.http", "api", at, State.DOWN, "HTTP 503", None))
        else:
            rows.append(CheckResult("api.http", "api", at, State.UP, "", 0.1))
        rows.append(CheckResult("db.tcp", "db", at, State.UP, "", 0.2))
        at += STEP
    with store.write() as tx:
        tx.record_results(rows)
    return len(rows)


def _count(store: Store, table: Table) -> int:
    with store.read() as tx:
        return int(tx._conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_roll_up_and_prune(store: Store) -> None:
    fed = _feed(store)
    assert fed == 2 * (10 * 144 + 12 * 6 + 3)
    with store.write() as tx:
        stats = tx.roll_up_and_prune(NOW, raw_days=7, hourly_days=90, daily_days=730)
    # finished hours 02-20 00:00 .. 03-02 11:00 (252 per check) and 11 days per check
    assert stats.hourly_rows == 2 * 252
    assert stats.daily_rows == 2 * 11
    assert stats.rolled_until == datetime(2026, 3, 2, 12, tzinfo=UTC)
    # raw before 02-23 12:30 is gone: 3 days and 75 ten-minute runs per check
    assert stats.raw_deleted == 2 * (3 * 144 + 75)
    assert (stats.hourly_deleted, stats.daily_deleted) == (0, 0)
    assert _count(store, t.result) == fed - stats.raw_deleted
    assert _count(store, t.result_hourly) == 2 * 252
    assert _count(store, t.result_daily) == 2 * 11

    with store.read() as tx:
        assert tx.results("api.http", START, START + timedelta(days=3)) == []
        assert len(tx.results("api.http", OUTAGE, OUTAGE + timedelta(hours=1))) == 6
        hour = tx._conn.execute(
            select(t.result_hourly)
            .where(t.result_hourly.c.ts == int(OUTAGE.timestamp() * 1000))
            .order_by(t.result_hourly.c.check_id)
        ).all()
    counts = [(r.up, r.degraded, r.down, r.latency_count) for r in hour]
    assert counts == [(0, 0, 6, 0), (6, 0, 0, 6)]

    with store.write() as tx:  # nothing new to roll; shorter hourly retention
        again = tx.roll_up_and_prune(NOW, raw_days=7, hourly_days=5, daily_days=730)
    assert (again.hourly_rows, again.daily_rows, again.raw_deleted) == (0, 0, 0)
    assert again.hourly_deleted == 2 * (5 * 24 + 13)  # hours before 02-25 12:30
    assert _count(store, t.result_daily) == 2 * 11  # daily rollups remain


def test_uptime_daily_combines_rollups_and_fresh_raw(store: Store) -> None:
    _feed(store)
    with store.write() as tx:
        tx.roll_up_and_prune(NOW - timedelta(days=1), raw_days=2)
    with store.read() as tx:
        days = tx.uptime_daily(["api.http", "db.tcp", "unknown"], since=START + timedelta(hours=5))
    api = days["api.http"]
    assert [d.day for d in api] == [date(2026, 2, 20) + timedelta(days=i) for i in range(11)]
    assert api[0] == DayStats(date(2026, 2, 20), 144, 0, 0, 0.1, 0.1)  # whole day, from rollup
    outage_day = api[5]
    assert (outage_day.day, outage_day.up, outage_day.down) == (date(2026, 2, 25), 138, 6)
    assert outage_day.uptime == 138 / 144
    assert outage_day.latency_avg == 0.1
    # the day split by the roll-up mark (03-01 12:00): rollup part + raw part, counted once
    assert api[9] == DayStats(date(2026, 3, 1), 144, 0, 0, 0.1, 0.1)
    assert api[10] == DayStats(date(2026, 3, 2), 75, 0, 0, 0.1, 0.1)  # today, raw only
    assert days["db.tcp"][3].latency_avg == 0.2
    assert days["unknown"] == []


def test_vacuum_step_returns_free_pages(store: Store) -> None:
    with store.write() as tx:
        tx.record_results(
            [
                CheckResult(f"c{i % 20}", "api", START + timedelta(seconds=i), State.DOWN, "x" * 40)
                for i in range(20_000)
            ]
        )
    with store.write() as tx:
        stats = tx.roll_up_and_prune(NOW, raw_days=1)
    assert stats.raw_deleted == 20_000
    freed = store.vacuum_step(pages=3)
    assert freed == 3
    rest = store.vacuum_step()
    assert rest > 0
    assert store.vacuum_step() == 0
