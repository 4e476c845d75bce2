"""Results, components, detection state and pings round-trip through a real file."""

from __future__ import annotations

from datetime import timedelta

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
