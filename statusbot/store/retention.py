"""Rollups (hourly, daily) and retention of raw results.

Raw rows before the ``rolled_until`` mark (an hour boundary, kept in ``meta``) are counted in
the rollups exactly once; rows from the mark on are only raw. So the daily rollup plus the raw
rows from the mark on give complete day totals without double counting. A result recorded with
a time before the mark (clock jumped back) stays raw-only. Every statement walks the check keys
and reads ``result`` by its primary key range (``check_id IN (…) AND ts …``), never by scanning
``ts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, Table, case, delete, func, select
from sqlalchemy.dialects.sqlite import insert

from statusbot.model import State
from statusbot.store import tables as t
from statusbot.store.base import TxBase
from statusbot.store.codec import DAY_MS, HOUR_MS, STATE_CODES, from_ms, to_ms
from statusbot.store.stats import DayStats, PruneStats

ROLLED_UNTIL = "rolled_until"
_COUNTS = ("up", "degraded", "down")


class RetentionMixin(TxBase):
    """``roll_up_and_prune`` and the daily uptime it feeds."""

    def roll_up_and_prune(
        self, now: datetime, raw_days: int = 7, hourly_days: int = 90, daily_days: int = 730
    ) -> PruneStats:
        """Roll raw results of finished hours into hourly and daily rows, then drop old rows.

        Raw rows go after ``raw_days`` (never before they are rolled up), hourly rows after
        ``hourly_days``, daily rows after ``daily_days``. Freed pages go to the freelist; see
        ``Store.vacuum_step``. Safe to call any time; it does nothing twice.
        """
        self._require_write()
        now_ms = to_ms(now)
        cut = now_ms - now_ms % HOUR_MS
        mark = self._meta(ROLLED_UNTIL, 0)
        hourly_rows = daily_rows = 0
        if cut > mark:
            hourly_rows = self._roll(_from_raw(mark, cut), t.result_hourly)
            daily_rows = self._roll(_from_hourly(mark, cut), t.result_daily)
            self._set_meta(ROLLED_UNTIL, cut)
            mark = cut
        return PruneStats(
            hourly_rows=hourly_rows,
            daily_rows=daily_rows,
            raw_deleted=self._delete_before(t.result, min(now_ms - raw_days * DAY_MS, mark)),
            hourly_deleted=self._delete_before(t.result_hourly, now_ms - hourly_days * DAY_MS),
            daily_deleted=self._delete_before(t.result_daily, now_ms - daily_days * DAY_MS),
            rolled_until=from_ms(mark),
        )

    def _roll(self, source: Select[Any], target: Table) -> int:
        cols = ["check_id", "ts", *_COUNTS, "latency_sum_ms", "latency_count", "latency_max_ms"]
        stmt = insert(target).from_select(cols, source)
        ex, c = stmt.excluded, target.c
        stmt = stmt.on_conflict_do_update(
            index_elements=["check_id", "ts"],
            set_={
                "up": c.up + ex.up,
                "degraded": c.degraded + ex.degraded,
                "down": c.down + ex.down,
                "latency_sum_ms": c.latency_sum_ms + ex.latency_sum_ms,
                "latency_count": c.latency_count + ex.latency_count,
                "latency_max_ms": func.max(
                    func.coalesce(c.latency_max_ms, ex.latency_max_ms),
                    func.coalesce(ex.latency_max_ms, c.latency_max_ms),
                ),
            },
        )
        return int(self._conn.execute(stmt).rowcount)

    def _delete_before(self, table: Table, cutoff: int) -> int:
        stmt = delete(table).where(
            table.c.check_id.in_(select(t.check_key.c.id)), table.c.ts < cutoff
        )
        return int(self._conn.execute(stmt).rowcount)

    def uptime_daily(self, check_ids: Sequence[str], since: datetime) -> dict[str, list[DayStats]]:
        """Per check, one ``DayStats`` per UTC day from ``since``'s day on that has runs, oldest
        first: the daily rollup plus the raw results not rolled up yet (today's, at least)."""
        k = t.check_key.c
        ids: dict[int, str] = dict(
            self._conn.execute(select(k.id, k.name).where(k.name.in_(list(check_ids)))).all()
        )
        out: dict[str, list[DayStats]] = {name: [] for name in check_ids}
        if not ids:
            return out
        since_ms = to_ms(since)
        since_day = since_ms - since_ms % DAY_MS
        mark = self._meta(ROLLED_UNTIL, 0)
        d = t.result_daily.c
        rolled = select(
            d.check_id,
            d.ts,
            d.up,
            d.degraded,
            d.down,
            d.latency_sum_ms,
            d.latency_count,
            d.latency_max_ms,
        ).where(d.check_id.in_(list(ids)), d.ts >= since_day)
        fresh = _aggregate_raw(DAY_MS).where(
            t.result.c.check_id.in_(list(ids)), t.result.c.ts >= max(mark, since_day)
        )
        totals: dict[tuple[int, int], list[int | None]] = {}
        for row in [*self._conn.execute(rolled), *self._conn.execute(fresh)]:
            key = (row[0], row[1])
            values = list(row[2:])
            if key in totals:
                values = _merge(totals[key], values)
            totals[key] = values
        for (check, day), (up, degraded, down, lsum, lcount, lmax) in sorted(totals.items()):
            out[ids[check]].append(
                DayStats(
                    day=datetime.fromtimestamp(day / 1000, UTC).date(),
                    up=int(up or 0),
                    degraded=int(degraded or 0),
                    down=int(down or 0),
                    latency_avg=(lsum or 0) / lcount / 1000 if lcount else None,
                    latency_max=None if lmax is None else lmax / 1000,
                )
            )
        return out


def _merge(a: list[int | None], b: list[int | None]) -> list[int | None]:
    sums = [(x or 0) + (y or 0) for x, y in zip(a[:5], b[:5], strict=True)]
    highs = [v for v in (a[5], b[5]) if v is not None]
    return [*sums, max(highs) if highs else None]


def _aggregate_raw(size: int) -> Select[Any]:
    r = t.result.c
    bucket = (r.ts // size) * size
    return (
        select(
            r.check_id,
            bucket.label("ts"),
            *(
                func.sum(case((r.state == STATE_CODES[state], 1), else_=0)).label(state.value)
                for state in (State.UP, State.DEGRADED, State.DOWN)
            ),
            func.coalesce(func.sum(r.latency_ms), 0).label("latency_sum_ms"),
            func.count(r.latency_ms).label("latency_count"),
            func.max(r.latency_ms).label("latency_max_ms"),
        )
        .where(r.check_id.in_(select(t.check_key.c.id)))
        .group_by(r.check_id, bucket)
    )


def _from_raw(mark: int, cut: int) -> Select[Any]:
    return _aggregate_raw(HOUR_MS).where(t.result.c.ts >= mark, t.result.c.ts < cut)


def _from_hourly(mark: int, cut: int) -> Select[Any]:
    h = t.result_hourly.c
    bucket = (h.ts // DAY_MS) * DAY_MS
    return (
        select(
            h.check_id,
            bucket.label("ts"),
            func.sum(h.up),
            func.sum(h.degraded),
            func.sum(h.down),
            func.sum(h.latency_sum_ms),
            func.sum(h.latency_count),
            func.max(h.latency_max_ms),
        )
        .where(h.check_id.in_(select(t.check_key.c.id)), h.ts >= mark, h.ts < cut)
        .group_by(h.check_id, bucket)
    )
