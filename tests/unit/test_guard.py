"""Guard: the monitor doubts its own network before announcing that the world is down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

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


def _brute_force(latest: dict[str, CheckResult], now: datetime, policy: GuardPolicy) -> str | None:
    """The mass rule as it reads: every latest result, filtered by freshness, counted."""
    fresh = [r for c, r in latest.items() if c != policy.canary and now - r.at <= policy.freshness]
    failing = sum(r.state is not State.UP for r in fresh)
    if not fresh or len(fresh) < policy.mass_min_checks:
        return None
    if failing / len(fresh) < policy.mass_fraction:
        return None
    return f"probe network down: {failing} of {len(fresh)} checks failing at once"


_EVENTS = st.lists(
    st.one_of(
        st.tuples(
            st.just("result"),
            st.sampled_from(["a", "b", "c", "d", "e", "f", "canary"]),
            st.integers(-200, 200),
            st.sampled_from([State.UP, State.DOWN, State.DEGRADED]),
        ),
        st.tuples(st.just("ask"), st.integers(-200, 200)),
    ),
    max_size=60,
)


@given(_EVENTS, st.sampled_from([0.5, 0.75, 1.0]), st.integers(1, 5), st.sampled_from([0, 64]))
@settings(max_examples=300, deadline=None)
def test_running_counts_agree_with_counting_everything(events, fraction, min_checks, slack):
    """The guard keeps counts instead of scanning all checks on every failure (10,000 checks
    made that quadratic); whatever the order of results and questions, even with time going
    back, its answer is the plain count's."""
    policy = GuardPolicy(
        canary="canary",
        mass_fraction=fraction,
        mass_min_checks=min_checks,
        freshness=timedelta(seconds=60),
    )
    g, latest = Guard(policy), {}
    g.heap_slack = slack
    for event in events:
        if event[0] == "result":
            _, check, offset, state = event
            r = CheckResult(check, "c", NOW + timedelta(seconds=offset), state)
            g.observe(r)
            if check not in latest or r.at >= latest[check].at:
                latest[check] = r
        else:
            now = NOW + timedelta(seconds=event[1])
            want = _brute_force(latest, now, policy)
            assert g._mass(now) == want
