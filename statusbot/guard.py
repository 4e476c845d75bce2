"""The monitor doubts itself before the world (DESIGN invariant 6). Pure: no I/O, no clock reads.

Two signs that the problem is our own probe network rather than the services:

- the **canary** (a check of something outside every service, e.g. a public resolver) has a fresh
  result that is not UP;
- a **mass failure**: among the other checks with a fresh latest result, at least
  ``mass_min_checks`` reported and at least ``mass_fraction`` of them are failing (not UP).

How the runtime uses it: it calls :meth:`Guard.observe` for *every* result (also the canary's),
then :meth:`Guard.suspect` with the current time. While ``suspect()`` returns a reason, the runtime
logs it once, reports "probe network down" (status/metrics), and does **not** feed failing (non-UP)
results to the detector, so nothing is confirmed and nothing is announced. UP results may still
be fed: recovery is never a false alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from statusbot.model import CheckResult, State

__all__ = ["Guard", "GuardPolicy"]


@dataclass(frozen=True)
class GuardPolicy:
    """When to doubt the probe's own network."""

    canary: str | None = None
    """Check id of the canary; None disables the canary rule."""
    mass_fraction: float = 0.9
    mass_min_checks: int = 4
    freshness: timedelta = timedelta(seconds=60)
    """Results older than this do not count."""
    canary_label: str = ""
    """How reasons name the canary, e.g. "tcp 192.0.2.1:53" (defaults to its check id)."""


class Guard:
    """Remembers each check's latest result and says when the failures look like our own fault."""

    def __init__(self, policy: GuardPolicy) -> None:
        self.policy = policy
        self.suspected_count = 0
        """How many times :meth:`suspect` returned a reason (for metrics)."""
        self._latest: dict[str, CheckResult] = {}

    def observe(self, result: CheckResult) -> None:
        """Remember ``result`` as its check's latest, unless a newer one is already known."""
        known = self._latest.get(result.check_id)
        if known is None or result.at >= known.at:
            self._latest[result.check_id] = result

    def suspect(self, now: datetime) -> str | None:
        """A human reason to doubt our own network as of ``now``, or None when all seems well."""
        reason = self._canary(now) or self._mass(now)
        if reason:
            self.suspected_count += 1
        return reason

    def _fresh(self, result: CheckResult, now: datetime) -> bool:
        return now - result.at <= self.policy.freshness

    def _canary(self, now: datetime) -> str | None:
        canary = self.policy.canary
        result = self._latest.get(canary) if canary else None
        if result is None or not self._fresh(result, now) or result.state is State.UP:
            return None
        label = self.policy.canary_label or result.check_id
        detail = result.reason or result.state.value
        return f"canary {label} is failing: {detail}"

    def _mass(self, now: datetime) -> str | None:
        fresh = [
            r
            for check_id, r in self._latest.items()
            if check_id != self.policy.canary and self._fresh(r, now)
        ]
        failing = sum(1 for r in fresh if r.state is not State.UP)
        if not fresh or len(fresh) < self.policy.mass_min_checks:
            return None
        if failing / len(fresh) < self.policy.mass_fraction:
            return None
        return f"probe network down: {failing} of {len(fresh)} checks failing at once"
