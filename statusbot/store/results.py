"""Raw check results: compact rows keyed by (check id, epoch ms)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import insert

from statusbot.model import CheckResult, State
from statusbot.store import tables as t
from statusbot.store.base import TxBase
from statusbot.store.codec import CODE_STATES, STATE_CODES, from_ms, to_ms

# SQLite's "INSERT OR REPLACE INTO result (check_id, ts, state, latency_ms, reason) VALUES
# (?, ?, ?, ?, ?)", compiled once: rows are tuples in the table's column order
_RECORD = str(insert(t.result).prefix_with("OR REPLACE").compile(dialect=sqlite.dialect()))


class ResultsMixin(TxBase):
    """Recording and reading raw results."""

    def record_results(self, results: Sequence[CheckResult]) -> None:
        """Store results. Latency is kept in whole ms, the reason only for non-UP results.

        A second result of the same check in the same millisecond replaces the first.
        """
        self._require_write()
        if not results:
            return
        ids = self._check_ids({r.check_id: r.component_id for r in results})
        rows = [
            (
                ids[r.check_id],
                to_ms(r.at),
                STATE_CODES[r.state],
                None if r.latency is None else round(r.latency * 1000),
                None if r.state is State.UP or not r.reason else r.reason,
            )
            for r in results
        ]
        # the driver's executemany: SQLAlchemy's per-row parameter processing cost 30 µs a row,
        # and every check's result comes through here (1,000 checks every 5 s: 200 rows a second)
        self._conn.exec_driver_sql(_RECORD, rows)

    def _check_ids(self, components: Mapping[str, str]) -> dict[str, int]:
        """Integer ids for check keys, creating missing ones; follows a check to a new component.

        Keys the store already knew, with the same component, cost no query: check_key rows
        are never deleted and only the writer moves them."""
        ids: dict[str, int] = {}
        unsure: dict[str, str] = {}
        for key, comp in components.items():
            hit = self._check_keys.get(key)
            if hit is not None and hit[1] == comp:
                ids[key] = hit[0]
            else:
                unsure[key] = comp
        if not unsure:
            return ids
        k = t.check_key.c
        known = {
            r.name: (r.id, r.component_id)
            for r in self._conn.execute(
                select(k.id, k.name, k.component_id).where(k.name.in_(list(unsure)))
            )
        }
        moved = {
            key: comp for key, comp in unsure.items() if key in known and known[key][1] != comp
        }
        missing = {key: comp for key, comp in unsure.items() if key not in known}
        if moved or missing:
            self._ensure_components([*moved.values(), *missing.values()])
        for key, comp in moved.items():
            self._conn.execute(update(t.check_key).where(k.name == key).values(component_id=comp))
        for key in unsure.keys() & known.keys():
            ids[key] = known[key][0]
        for key, comp in missing.items():
            ids[key] = self._conn.execute(
                insert(t.check_key).values(name=key, component_id=comp).returning(k.id)
            ).scalar_one()
        self.learned.update((key, (ids[key], comp)) for key, comp in unsure.items())
        return ids

    def latest_results(self) -> dict[str, CheckResult]:
        """The newest stored result of every check that has one, by check key."""
        k, r = t.check_key.c, t.result.c
        newest = (
            select(func.max(t.result.c.ts))
            .where(t.result.c.check_id == k.id)
            .correlate(t.check_key)
            .scalar_subquery()
        )
        query = select(k.name, k.component_id, r.ts, r.state, r.latency_ms, r.reason).join_from(
            t.check_key, t.result, and_(r.check_id == k.id, r.ts == newest)
        )
        rows = self._conn.execute(query)
        return {row.name: _result(row.name, row.component_id, row) for row in rows}

    def results(self, check_id: str, since: datetime, until: datetime) -> list[CheckResult]:
        """Raw results of one check with ``since <= at < until``, oldest first."""
        k, r = t.check_key.c, t.result.c
        query = (
            select(k.component_id, r.ts, r.state, r.latency_ms, r.reason)
            .join_from(t.check_key, t.result, r.check_id == k.id)
            .where(k.name == check_id, r.ts >= to_ms(since), r.ts < to_ms(until))
            .order_by(r.ts)
        )
        return [_result(check_id, row.component_id, row) for row in self._conn.execute(query)]


def _result(check_id: str, component_id: str, row: Any) -> CheckResult:
    latency_ms: int | None = row.latency_ms
    return CheckResult(
        check_id,
        component_id,
        from_ms(row.ts),
        CODE_STATES[row.state],
        row.reason or "",
        None if latency_ms is None else latency_ms / 1000,
    )
