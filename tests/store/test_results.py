"""Results, components, detection state and pings round-trip through a real file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from statusbot.model import CheckResult, ComponentInfo, State, Transition
from statusbot.store import Store, StoreError
from tests.store.conftest import T0


def test_results_round_trip(store: Store) -> None:
    results = [
        CheckResult("api.http", "api", T0, State.UP, "HTTP 200", 0.1234),
        CheckResult("api.http", "api", T0 + timedelta(seconds=30), State.DOWN, "HTTP 503", None),
        CheckResult("db.tcp", "db", T0, State.DEGRADED, "slow: 1.6 s", 1.6),
    ]
    with store.write() as tx:
        tx.record_results(results)
    with store.read() as tx:
        got = tx.results("api.http", T0, T0 + timedelta(minutes=1))
        assert got == [
            # latency kept in whole ms; an UP result's reason is not stored
            CheckResult("api.http", "api", T0, State.UP, "", 0.123),
            results[1],
        ]
        assert tx.results("api.http", T0 + timedelta(seconds=1), T0 + timedelta(minutes=1)) == [
            results[1]
        ]
        assert tx.results("nope", T0, T0 + timedelta(days=1)) == []
        latest = tx.latest_results()
    assert latest == {"api.http": results[1], "db.tcp": results[2]}
    assert latest["api.http"].at.tzinfo is not None


def test_same_millisecond_duplicates_do_not_crash(store: Store) -> None:
    at = T0 + timedelta(microseconds=100)
    with store.write() as tx:
        tx.record_results([CheckResult("api.http", "api", T0, State.UP)])
        tx.record_results([CheckResult("api.http", "api", at, State.DOWN, "boom")])
    with store.read() as tx:
        assert tx.results("api.http", T0, T0 + timedelta(seconds=1)) == [
            CheckResult("api.http", "api", T0, State.DOWN, "boom")
        ]


def test_a_check_can_move_to_another_component(store: Store) -> None:
    with store.write() as tx:
        tx.record_results([CheckResult("shared.dns", "api", T0, State.UP)])
        tx.record_results([CheckResult("shared.dns", "web", T0 + timedelta(seconds=1), State.UP)])
    with store.read() as tx:
        assert tx.latest_results()["shared.dns"].component_id == "web"


def test_a_known_check_moves_across_transactions(store: Store) -> None:
    """The store remembers check ids between transactions; a move must still be written."""
    for n, component in enumerate(["api", "api", "web", "web", "api"]):
        with store.write() as tx:
            tx.record_results(
                [CheckResult("shared.dns", component, T0 + timedelta(seconds=n), State.UP)]
            )
        with store.read() as tx:
            assert tx.latest_results()["shared.dns"].component_id == component


def test_a_rolled_back_check_key_is_not_remembered(store: Store, db_path: Path) -> None:
    class Boom(Exception):
        pass

    def record_then_fail() -> None:
        with store.write() as tx:
            tx.record_results([CheckResult("new.http", "api", T0, State.UP)])
            raise Boom

    with pytest.raises(Boom):
        record_then_fail()
    # another writer takes the id the rolled-back insert had used, for another check
    other = Store.open(f"sqlite:///{db_path}")
    with other.write() as tx:
        tx.record_results([CheckResult("other.http", "db", T0, State.DOWN, "x")])
    other.close()
    with store.write() as tx:
        tx.record_results([CheckResult("new.http", "api", T0 + timedelta(seconds=1), State.UP)])
    with store.read() as tx:
        latest = tx.latest_results()
    assert latest["new.http"].component_id == "api"
    assert latest["other.http"] == CheckResult("other.http", "db", T0, State.DOWN, "x")
    with store.read() as tx:
        assert [r.at for r in tx.results("new.http", T0, T0 + timedelta(minutes=1))] == [
            T0 + timedelta(seconds=1)
        ]


def test_sync_components_upserts_and_keeps_removed_history(store: Store) -> None:
    with store.write() as tx:
        tx.record_results([CheckResult("web.http", "web", T0, State.DOWN, "gone")])
        tx.sync_components(
            [
                ComponentInfo("db", "Database (primary)", "Core", "PostgreSQL", position=0),
                ComponentInfo("api", "Public API", "Core", position=1),
            ]
        )
    with store.read() as tx:
        assert tx.components() == [
            ComponentInfo("db", "Database (primary)", "Core", "PostgreSQL", 0),
            ComponentInfo("api", "Public API", "Core", None, 1),
        ]
        assert tx.latest_results()["web.http"].reason == "gone"  # removed, history kept
    with store.write() as tx:
        tx.sync_components([ComponentInfo("web", "Website", position=5)])
    with store.read() as tx:
        assert [c.id for c in tx.components()] == ["web"]


def test_duplicate_component_ids_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="duplicate component ids"), store.write() as tx:
        tx.sync_components([ComponentInfo("a", "A"), ComponentInfo("a", "A again")])


def test_transitions_and_component_states(store: Store) -> None:
    trs = [
        Transition("api", State.UP, State.DOWN, T0, "HTTP 503"),
        Transition("db", State.UP, State.DEGRADED, T0 + timedelta(seconds=5), "slow", True),
        Transition("api", State.DOWN, State.UP, T0 + timedelta(minutes=3)),
        Transition("ghost", State.UP, State.DOWN, T0 + timedelta(minutes=4)),  # not configured
    ]
    with store.write(durable=True) as tx:
        for tr in trs:
            tx.record_transition(tr)
            tx.set_component_state(tr.component_id, tr.new, tr.at)
    with store.read() as tx:
        assert tx.transitions() == trs
        assert tx.transitions("api") == [trs[0], trs[2]]
        assert tx.transitions(since=T0 + timedelta(minutes=1)) == trs[2:]
        assert tx.component_states() == {
            "api": (State.UP, trs[2].at),
            "db": (State.DEGRADED, trs[1].at),
            "ghost": (State.DOWN, trs[3].at),
        }
        assert "ghost" not in [c.id for c in tx.components()]


def test_timelines_agree_with_transitions(store: Store) -> None:
    """The page's fast read: per component, its state before the span and each change in
    epoch seconds, oldest first (ties in the order they were recorded)."""
    trs = [
        Transition("db", State.UP, State.DOWN, T0 - timedelta(hours=1)),  # before the span
        Transition("api", State.UP, State.DOWN, T0),
        Transition("db", State.DOWN, State.UP, T0 + timedelta(milliseconds=1500)),
        Transition("api", State.DOWN, State.DEGRADED, T0 + timedelta(minutes=3)),
        Transition("api", State.DEGRADED, State.UP, T0 + timedelta(minutes=3)),
    ]
    with store.write() as tx:
        for tr in trs:
            tx.record_transition(tr)
    with store.read() as tx:
        got = tx.timelines(since=T0)
        expected = {}
        for tr in tx.transitions(since=T0):
            line = expected.setdefault(tr.component_id, (tr.old, []))
            line[1].append((tr.at.timestamp(), tr.new))
    assert {cid: (line.before, line.changes) for cid, line in got.items()} == expected
    assert got["db"].before is State.DOWN
    assert got["db"].changes == [((T0 + timedelta(milliseconds=1500)).timestamp(), State.UP)]
    assert [s for _, s in got["api"].changes] == [State.DOWN, State.DEGRADED, State.UP]


def test_pings_survive_a_restart(store: Store) -> None:
    with store.write() as tx:
        tx.record_ping("backup", T0)
        tx.record_ping("backup", T0 + timedelta(hours=1))
        tx.record_ping("cron", T0)
    store.close()
    assert store.path is not None
    reopened = Store.open(f"sqlite:///{store.path}")
    with reopened.read() as tx:
        assert tx.pings() == {"backup": T0 + timedelta(hours=1), "cron": T0}
    reopened.close()


def test_read_transactions_refuse_writes(store: Store) -> None:
    with pytest.raises(StoreError, match="read transaction"), store.read() as tx:
        tx.record_ping("x", T0)


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"), store.write() as tx:
        tx.record_ping("x", T0.replace(tzinfo=None))
