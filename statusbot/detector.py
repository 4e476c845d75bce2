"""Turns raw check results into confirmed component transitions. Pure: no I/O, no clock reads.

Three layers, each with its own hysteresis:

1. **Check**: a check's *confirmed* state (UNKNOWN at first) moves only when its last few raw
   results agree. Worse needs ``fail_after`` results all worse than the confirmed state (the new
   state is the least severe of them: degraded, down → degraded); better needs ``recover_after``
   results all better (the new state is the most severe of them).
2. **Component (raw)**: the confirmed states of its checks combined with ``worst`` or ``best``,
   ignoring UNKNOWN checks (UNKNOWN while none is known).
3. **Component (published)**: what :meth:`Detector.feed` reports. It follows the raw state, except

   - after a restart, a state seeded from the store is kept until every check of the component
     has a confirmed state, so an ongoing outage is neither re-announced nor forgotten. (With
     ``combine="worst"`` a confirmed worse check proves the component worse, so the seed may get
     worse meanwhile, never better.)
   - while the raw state changed ``flap_threshold`` times within ``flap_window`` (measured by
     result timestamps) the component is *flapping*: the published state may get worse, not
     better, until the window calms down.

Time comes only from ``CheckResult.at``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from statusbot.model import CheckResult, State, Transition, best, worst

__all__ = ["ComponentPolicy", "Detector"]


@dataclass(frozen=True)
class ComponentPolicy:
    """How one component's checks are judged and combined."""

    checks: tuple[str, ...]
    """Check ids belonging to the component."""
    fail_after: int = 2
    """Consecutive bad results that confirm a worse state."""
    recover_after: int = 2
    """Consecutive good results that confirm a better state."""
    combine: Literal["worst", "best"] = "worst"
    """How check states combine into the component state."""
    flap_window: timedelta = timedelta(minutes=10)
    flap_threshold: int = 4
    """Raw component changes within ``flap_window`` that mean "flapping"."""

    def __post_init__(self) -> None:
        if self.fail_after < 1 or self.recover_after < 1:
            raise ValueError("fail_after and recover_after must be at least 1")
        if self.flap_threshold < 1:
            raise ValueError("flap_threshold must be at least 1")


@dataclass
class _Check:
    """A check's confirmed state and its most recent raw results."""

    recent: deque[State]
    confirmed: State = State.UNKNOWN
    bad_reason: str = ""  # reason of the latest non-UP result
    bad_at: datetime | None = None

    def push(self, result: CheckResult, fail_after: int, recover_after: int) -> None:
        """Record one raw result and move the confirmed state if the streak allows it."""
        self.recent.append(result.state)
        if result.state is State.UP and self.confirmed is State.UP:
            return  # the steady state: nothing can move (an UP result ends any bad streak)
        if result.state is not State.UP:
            self.bad_reason, self.bad_at = result.reason, result.at
        recent = list(self.recent)
        failing, recovering = recent[-fail_after:], recent[-recover_after:]
        if self.confirmed is State.UNKNOWN:
            if len(recovering) == recover_after and all(s is State.UP for s in recovering):
                self.confirmed = State.UP
            elif len(failing) == fail_after and all(s.severity > 0 for s in failing):
                self.confirmed = best(failing)
            return
        level = self.confirmed.severity
        if len(failing) == fail_after and all(s.severity > level for s in failing):
            self.confirmed = best(failing)
        elif len(recovering) == recover_after and all(s.severity < level for s in recovering):
            self.confirmed = worst(recovering)


@dataclass
class _Component:
    """Published state, restart seed and flap history of one component."""

    published: State = State.UNKNOWN
    seeded: bool = False  # holding a state seeded from the store until all checks are known
    raw: State = State.UNKNOWN
    changes: deque[datetime] = field(default_factory=deque)  # times of raw changes
    flapping: bool = False
    # (combined state of the checks, whether some are still unknown), kept until a check's
    # confirmed state moves or the checks change: most results move nothing
    combined: tuple[State, bool] | None = None


def _history(policy: ComponentPolicy) -> deque[State]:
    return deque(maxlen=max(policy.fail_after, policy.recover_after))


class Detector:
    """Per-component state machine fed one :class:`CheckResult` at a time.

    With the default ``fail_after=2``, the first DOWN result of a healthy check returns None
    and the second returns ``Transition(old=UP, new=DOWN)``.
    """

    def __init__(
        self, policies: Mapping[str, ComponentPolicy], initial: Mapping[str, State] | None = None
    ) -> None:
        self._policies: dict[str, ComponentPolicy] = {}
        self._owner: dict[str, str] = {}
        self._checks: dict[str, _Check] = {}
        self._components: dict[str, _Component] = {}
        self.reconfigure(policies)
        for component_id, state in (initial or {}).items():
            comp = self._components.get(component_id)
            if comp is not None and state is not State.UNKNOWN:
                comp.published, comp.seeded = state, True

    # --- queries ---------------------------------------------------------------------------

    def state(self, component_id: str) -> State:
        """The published state of a component (UNKNOWN for an unknown id)."""
        comp = self._components.get(component_id)
        return comp.published if comp else State.UNKNOWN

    def states(self) -> dict[str, State]:
        """Published state of every configured component."""
        return {cid: comp.published for cid, comp in self._components.items()}

    def check_state(self, check_id: str) -> State:
        """The confirmed state of a check (UNKNOWN until confirmed or for an unknown id)."""
        check = self._checks.get(check_id)
        return check.confirmed if check else State.UNKNOWN

    def flapping(self, component_id: str) -> bool:
        """Whether the component was flapping as of the latest result fed to it."""
        comp = self._components.get(component_id)
        return comp.flapping if comp else False

    # --- changes ---------------------------------------------------------------------------

    def reconfigure(self, policies: Mapping[str, ComponentPolicy]) -> list[str]:
        """Adopt new policies; return the ids of components that were dropped (sorted).

        Checks whose ids remain keep their confirmed state and recent results; new checks start
        UNKNOWN. Remaining components keep their published state, seed and flap history.

        Raises:
            ValueError: when one check id belongs to two components.
        """
        owner: dict[str, str] = {}
        for component_id, policy in policies.items():
            for check_id in policy.checks:
                first = owner.setdefault(check_id, component_id)
                if first != component_id:
                    raise ValueError(f"check {check_id!r} is in {first!r} and {component_id!r}")
        checks: dict[str, _Check] = {}
        for check_id, component_id in owner.items():
            old = self._checks.get(check_id)
            history = _history(policies[component_id])
            if old is None:
                checks[check_id] = _Check(history)
            else:
                history.extend(old.recent)
                checks[check_id] = _Check(history, old.confirmed, old.bad_reason, old.bad_at)
        dropped = sorted(set(self._components) - set(policies))
        self._components = {cid: self._components.get(cid) or _Component() for cid in policies}
        for comp in self._components.values():
            comp.combined = None  # its checks may have changed
        self._policies, self._owner, self._checks = dict(policies), owner, checks
        return dropped

    def _combine(self, policy: ComponentPolicy) -> tuple[State, bool]:
        """The component's raw state from its checks' confirmed ones, and whether any of those
        is still unknown."""
        confirmed = [self._checks[c].confirmed for c in policy.checks]
        known = [s for s in confirmed if s is not State.UNKNOWN]
        raw = State.UNKNOWN if not known else (worst if policy.combine == "worst" else best)(known)
        return raw, len(known) < len(confirmed)

    def feed(self, result: CheckResult) -> Transition | None:
        """Take one result; return a Transition when the published component state changes.

        Results for check ids that belong to no component are ignored.
        """
        component_id = self._owner.get(result.check_id)
        if component_id is None:
            return None
        policy, comp = self._policies[component_id], self._components[component_id]
        check = self._checks[result.check_id]
        before = check.confirmed
        check.push(result, policy.fail_after, policy.recover_after)
        if comp.combined is None or check.confirmed is not before:
            comp.combined = self._combine(policy)
        raw, partly_known = comp.combined
        if raw != comp.raw:
            if comp.raw is not State.UNKNOWN:  # becoming known for the first time is no flap
                comp.changes.append(result.at)
            comp.raw = raw
        while comp.changes and comp.changes[0] <= result.at - policy.flap_window:
            comp.changes.popleft()
        comp.flapping = len(comp.changes) >= policy.flap_threshold

        old = comp.published
        target = raw
        if comp.seeded and partly_known:
            proven_worse = policy.combine == "worst" and raw.severity > old.severity
            target = raw if proven_worse else old
        else:
            comp.seeded = False
        if target is State.UNKNOWN:
            return None  # nothing known yet: keep whatever we had
        if comp.flapping and old is not State.UNKNOWN and target.severity < old.severity:
            target = old
        if target == old:
            return None
        comp.published = target
        return Transition(
            component_id=component_id,
            old=old,
            new=target,
            at=result.at,
            reason=self._reason(policy, result, target),
            flapping=comp.flapping,
        )

    def _reason(self, policy: ComponentPolicy, result: CheckResult, new: State) -> str:
        """The latest non-UP reason of the worst check; the fresh result's reason on recovery."""
        if new.severity == 0:
            return result.reason
        checks = [self._checks[c] for c in policy.checks]
        worst_check = max(
            checks,
            key=lambda c: (c.confirmed.severity, c.bad_at is not None, c.bad_at or result.at),
        )
        return worst_check.bad_reason
