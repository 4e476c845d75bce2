"""Guard: the monitor doubts its own network before announcing that the world is down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from statusbot.guard import Guard, GuardPolicy
from statusbot.model import CheckResult, State

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def res(check: str, state: State, age: float = 5, reason: str = "") -> CheckResult:
    return CheckResult(check, "c", NOW - timedelta(seconds=age), state, reason)


def guard(*results: CheckResult, **kw) -> Guard:
    g = Guard(GuardPolicy(**kw))
    for r in results:
        g.observe(r)
    return g


def test_failing_canary_is_suspect():
    g = guard(
        res("canary", State.DOWN, reason="connection refused"),
        canary="canary",
        canary_label="tcp 192.0.2.1:53",
    )
    assert g.suspect(NOW) == "canary tcp 192.0.2.1:53 is failing: connection refused"
    assert g.suspected_count == 1


def test_healthy_canary_is_not_suspect():
    assert (
        guard(res("canary", State.UP), res("a", State.DOWN), canary="canary").suspect(NOW) is None
    )


def test_canary_label_defaults_to_check_id():
    g = guard(res("canary", State.DEGRADED, reason="slow"), canary="canary")
    assert g.suspect(NOW) == "canary canary is failing: slow"


def test_stale_results_are_ignored():
    g = guard(
        res("canary", State.DOWN, age=120),
        *(res(f"c{i}", State.DOWN, age=61) for i in range(5)),
        canary="canary",
    )
    assert g.suspect(NOW) is None
    assert g.suspected_count == 0


def test_newer_result_is_not_replaced_by_an_older_one():
    g = guard(res("canary", State.UP, age=1), res("canary", State.DOWN, age=10), canary="canary")
    assert g.suspect(NOW) is None


def test_four_of_four_failing_is_suspect():
    g = guard(*(res(f"c{i}", State.DOWN) for i in range(4)))
    assert g.suspect(NOW) == "probe network down: 4 of 4 checks failing at once"


def test_one_of_five_failing_is_not_suspect():
    g = guard(res("c0", State.DOWN), *(res(f"c{i}", State.UP) for i in range(1, 5)))
    assert g.suspect(NOW) is None


def test_too_few_checks_are_not_a_mass_failure():
    assert guard(*(res(f"c{i}", State.DOWN) for i in range(3))).suspect(NOW) is None


def test_canary_does_not_count_towards_mass_failure():
    g = guard(
        res("canary", State.UP), *(res(f"c{i}", State.DOWN) for i in range(3)), canary="canary"
    )
    assert g.suspect(NOW) is None


def test_suspected_count_counts_each_suspicion():
    g = guard(*(res(f"c{i}", State.DOWN) for i in range(4)))
    g.suspect(NOW)
    g.suspect(NOW)
    assert g.suspected_count == 2
    assert g.suspect(NOW + timedelta(minutes=5)) is None  # everything went stale
    assert g.suspected_count == 2
