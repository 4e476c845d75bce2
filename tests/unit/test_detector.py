"""Detector scripts (gatus style): feed results one by one, assert the transition after each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statusbot.detector import ComponentPolicy, Detector
from statusbot.model import CheckResult, State, Transition

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
UP, DEGRADED, DOWN, UNKNOWN = State.UP, State.DEGRADED, State.DOWN, State.UNKNOWN

Step = tuple[float, str, State, tuple[State, State] | None]


def result(t: float, check: str, state: State, reason: str = "") -> CheckResult:
    # component_id is a sentinel: the detector must use its own policies, not the result's field
    return CheckResult(check, "sentinel-component", T0 + timedelta(seconds=t), state, reason)


def run(detector: Detector, script: Sequence[Step]) -> list[Transition]:
    """Feed ``script``; after each step assert the expected (old, new) transition or None."""
    seen = []
    for i, (t, check, state, expected) in enumerate(script):
        tr = detector.feed(result(t, check, state, f"{state} from {check}"))
        got = (tr.old, tr.new) if tr else None
        assert got == expected, f"step {i} (t={t}s, {check} {state}): want {expected}, got {got}"
        if tr:
            assert tr.at == T0 + timedelta(seconds=t)
            seen.append(tr)
    return seen


def one(checks: tuple[str, ...] = ("a",), **kw) -> Detector:
    return Detector({"api": ComponentPolicy(checks=checks, **kw)})


def test_first_successes_confirm_up():
    run(one(), [(0, "a", UP, None), (30, "a", UP, (UNKNOWN, UP))])


def test_single_failure_is_not_an_outage():
    d = one()
    run(
        d,
        [
            (0, "a", UP, None),
            (30, "a", UP, (UNKNOWN, UP)),
            (60, "a", DOWN, None),
            (90, "a", UP, None),
            (120, "a", DOWN, None),
            (150, "a", UP, None),
        ],
    )
    assert d.state("api") is UP


def test_second_failure_confirms_down():
    d = one()
    run(
        d,
        [
            (0, "a", UP, None),
            (30, "a", UP, (UNKNOWN, UP)),
            (60, "a", DOWN, None),
            (90, "a", DOWN, (UP, DOWN)),
            (120, "a", DOWN, None),
        ],
    )
    assert d.state("api") is DOWN
    assert d.check_state("a") is DOWN


def test_failures_from_unknown_confirm_down():
    run(one(), [(0, "a", DOWN, None), (30, "a", DOWN, (UNKNOWN, DOWN))])


def test_recovery_needs_recover_after_successes():
    run(
        one(recover_after=3),
        [
            (0, "a", DOWN, None),
            (30, "a", DOWN, (UNKNOWN, DOWN)),
            (60, "a", UP, None),
            (90, "a", UP, None),
            (120, "a", DOWN, None),  # streak broken
            (150, "a", UP, None),
            (180, "a", UP, None),
            (210, "a", UP, (DOWN, UP)),
        ],
    )


def test_worst_check_wins():
    d = one(checks=("a", "b"))
    run(
        d,
        [
            (0, "a", UP, None),
            (1, "b", UP, None),
            (30, "a", UP, (UNKNOWN, UP)),
            (31, "b", UP, None),
            (60, "a", DOWN, None),
            (61, "b", UP, None),
            (90, "a", DOWN, (UP, DOWN)),
            (91, "b", UP, None),
        ],
    )
    assert d.check_state("b") is UP


def test_best_combine_is_down_only_when_every_check_is_down():
    d = one(checks=("a", "b"), combine="best")
    run(
        d,
        [
            (0, "a", UP, None),
            (0, "b", UP, None),
            (30, "a", UP, (UNKNOWN, UP)),
            (30, "b", UP, None),
            (60, "a", DOWN, None),
            (90, "a", DOWN, None),  # a is down, b still up: the component is up
            (95, "b", DOWN, None),
            (120, "b", DOWN, (UP, DOWN)),
            (150, "a", UP, None),
            (180, "a", UP, (DOWN, UP)),
        ],
    )


def test_unknown_checks_do_not_count_until_confirmed():
    run(one(checks=("a", "b")), [(0, "a", UP, None), (30, "a", UP, (UNKNOWN, UP))])


def test_degraded_then_down():
    d = one(flap_threshold=10)  # four changes in four minutes would count as flapping
    run(
        d,
        [
            (0, "a", UP, None),
            (30, "a", UP, (UNKNOWN, UP)),
            (60, "a", DEGRADED, None),
            (90, "a", DOWN, (UP, DEGRADED)),  # least severe of the streak
            (120, "a", DOWN, (DEGRADED, DOWN)),
            (150, "a", DEGRADED, None),
            (180, "a", DEGRADED, (DOWN, DEGRADED)),  # better: most severe of the streak
            (210, "a", UP, None),
            (240, "a", UP, (DEGRADED, UP)),
        ],
    )


def test_flapping_target_yields_one_down_and_holds():
    d = one(fail_after=1)
    script: list[Step] = [(0, "a", UP, None), (30, "a", UP, (UNKNOWN, UP))]
    script += [
        (60 + 30 * i, "a", DOWN if i % 2 == 0 else UP, (UP, DOWN) if i == 0 else None)
        for i in range(20)
    ]
    transitions = run(d, script)
    assert [(t.old, t.new) for t in transitions].count((UP, DOWN)) == 1
    assert d.state("api") is DOWN


def test_flapping_component_holds_worse_state_until_window_calms():
    d = one(fail_after=1, recover_after=1, flap_threshold=3, flap_window=timedelta(minutes=5))
    transitions = run(
        d,
        [
            (0, "a", UP, (UNKNOWN, UP)),  # becoming known is no flap
            (30, "a", DOWN, (UP, DOWN)),  # change 1
            (60, "a", UP, (DOWN, UP)),  # change 2
            (90, "a", DOWN, (UP, DOWN)),  # change 3: flapping, may get worse
            (120, "a", UP, None),  # ... but not better
            (150, "a", DOWN, None),
            (180, "a", UP, None),
            *[(t, "a", UP, None) for t in range(210, 420, 30)],
            (420, "a", UP, (DOWN, UP)),  # only 2 changes left within 5 minutes: calm again
        ],
    )
    assert [t.flapping for t in transitions] == [False, False, False, True, False]
    assert not d.flapping("api")


def test_flapping_flag_is_visible_while_held():
    d = one(fail_after=1, recover_after=1, flap_threshold=2)
    run(d, [(0, "a", UP, (UNKNOWN, UP)), (30, "a", DOWN, (UP, DOWN)), (60, "a", UP, None)])
    assert d.flapping("api")
    assert d.state("api") is DOWN


def test_restart_seed_keeps_down_until_checks_known():
    d = Detector({"api": ComponentPolicy(checks=("a", "b"))}, initial={"api": DOWN})
    assert d.state("api") is DOWN
    run(
        d,
        [
            (0, "a", UP, None),
            (30, "a", UP, None),  # a is up, but b is not known yet: keep the stored outage
            (31, "b", DOWN, None),
            (61, "b", DOWN, None),  # all known and still down: no second announcement
            (91, "b", UP, None),
            (121, "b", UP, (DOWN, UP)),
        ],
    )


def test_restart_seed_up_still_reports_a_confirmed_outage():
    d = Detector({"api": ComponentPolicy(checks=("a", "b"))}, initial={"api": UP})
    run(d, [(0, "a", DOWN, None), (30, "a", DOWN, (UP, DOWN))])


def test_restart_seed_with_best_combine_waits_for_every_check():
    d = Detector({"api": ComponentPolicy(checks=("a", "b"), combine="best")}, initial={"api": UP})
    run(
        d,
        [
            (0, "a", DOWN, None),
            (30, "a", DOWN, None),
            (31, "b", DOWN, None),
            (61, "b", DOWN, (UP, DOWN)),
        ],
    )


def test_results_of_unknown_checks_are_ignored():
    d = one()
    assert d.feed(result(0, "nope", DOWN)) is None
    assert d.check_state("nope") is UNKNOWN
    assert d.states() == {"api": UNKNOWN}


def test_transition_reason_is_latest_failure_of_worst_check():
    d = one(checks=("a", "b"))
    for t, check, state, reason in [
        (0, "a", UP, ""),
        (0, "b", UP, ""),
        (30, "a", UP, ""),
        (30, "b", UP, ""),
        (60, "a", DEGRADED, "slow 1"),
        (60, "b", DOWN, "refused 1"),
        (90, "a", DEGRADED, "slow 2"),
    ]:
        d.feed(result(t, check, state, reason))
    tr = d.feed(result(90, "b", DOWN, "refused 2"))
    assert tr is not None
    assert (tr.new, tr.reason) == (DOWN, "refused 2")


def test_reconfigure_keeps_counters():
    d = Detector(
        {
            "api": ComponentPolicy(checks=("a",)),
            "old": ComponentPolicy(checks=("x",)),
        }
    )
    run(d, [(0, "a", UP, None), (30, "a", UP, (UNKNOWN, UP)), (60, "a", DOWN, None)])
    dropped = d.reconfigure(
        {
            "api": ComponentPolicy(checks=("a", "b")),
            "db": ComponentPolicy(checks=("c",)),
        }
    )
    assert dropped == ["old"]
    assert d.check_state("a") is UP
    assert d.check_state("b") is UNKNOWN
    assert d.state("api") is UP
    assert d.states() == {"api": UP, "db": UNKNOWN}
    # the failure streak of "a" survived: one more failure confirms it
    run(d, [(90, "a", DOWN, (UP, DOWN)), (100, "x", DOWN, None)])


def test_check_in_two_components_is_rejected():
    with pytest.raises(ValueError, match="'a'"):
        Detector({"api": ComponentPolicy(checks=("a",)), "db": ComponentPolicy(checks=("a",))})


class _Recomputing(Detector):
    """The detector without its shortcut: every result recombines the component's checks."""

    def feed(self, result: CheckResult) -> Transition | None:
        for comp in self._components.values():
            comp.combined = None
        return super().feed(result)


LAYOUTS = (  # the checks a..d over components, before and after a reload
    {"api": ("a", "b"), "db": ("c",)},
    {"api": ("a",), "db": ("b", "c", "d")},
    {"api": ("a", "b", "c", "d")},
)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(
                st.sampled_from("abcd"), st.sampled_from((UP, UP, DEGRADED, DOWN)), st.booleans()
            ),
            st.tuples(st.just("reload"), st.integers(0, len(LAYOUTS) - 1), st.booleans()),
        ),
        max_size=80,
    ),
    combine=st.sampled_from(("worst", "best")),
    seed=st.sampled_from((None, UP, DOWN)),
)
def test_keeping_the_combined_state_changes_no_answer(
    steps: list[tuple[str, object, bool]], combine: str, seed: State | None
) -> None:
    """Steady results move nothing, so the detector keeps each component's combined state
    until a check's confirmed state moves or a reload changes the checks. Fed the same results
    and reloads, it answers exactly as one that recombines on every result."""

    def policies(layout: int) -> dict[str, ComponentPolicy]:
        return {
            cid: ComponentPolicy(checks=checks, combine=combine, flap_threshold=3)  # type: ignore[arg-type]
            for cid, checks in LAYOUTS[layout].items()
        }

    initial = {"api": seed, "db": seed} if seed else None
    fast, slow = Detector(policies(0), initial), _Recomputing(policies(0), initial)
    t = 0.0
    for check, what, later in steps:
        if check == "reload":
            assert fast.reconfigure(policies(int(what))) == slow.reconfigure(policies(int(what)))  # type: ignore[call-overload]
            continue
        t += 30 if later else 1
        r = result(t, check, what)  # type: ignore[arg-type]
        assert fast.feed(r) == slow.feed(r)
        assert fast.states() == slow.states()
