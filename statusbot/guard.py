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

import heapq
import itertools
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

    heap_slack = 64  # expiry entries beyond two per check before observe() ages them itself

    def __init__(self, policy: GuardPolicy) -> None:
        self.policy = policy
        self.suspected_count = 0
        """How many times :meth:`suspect` returned a reason (for metrics)."""
        self._latest: dict[str, CheckResult] = {}
        # The mass rule in O(log n) a result, not O(checks): running counts of the latest
        # results still fresh, and a heap of (time, seq, check id) to age them out in order.
        self._fresh: set[str] = set()
        self._failing = 0
        self._expiry: list[tuple[datetime, int, str]] = []
        self._seq = itertools.count()
        self._now: datetime | None = None

    def observe(self, result: CheckResult) -> None:
        """Remember ``result`` as its check's latest, unless a newer one is already known."""
        check_id = result.check_id
        known = self._latest.get(check_id)
        if known is not None and result.at < known.at:
            return
        self._latest[check_id] = result
        if check_id == self.policy.canary:
            return
        if check_id in self._fresh:
            self._failing -= known is not None and known.state is not State.UP
        elif self._now is None or not self._stale(result, self._now):
            self._fresh.add(check_id)
        else:
            return
        self._failing += result.state is not State.UP
        heapq.heappush(self._expiry, (result.at, next(self._seq), check_id))
        if len(self._expiry) > 2 * len(self._latest) + self.heap_slack and (
            self._now is None or result.at >= self._now
        ):  # all up, so nobody asks suspect(): age the heap here so it cannot grow for ever
            self._age(result.at)

    def suspect(self, now: datetime) -> str | None:
        """A human reason to doubt our own network as of ``now``, or None when all seems well."""
        reason = self._canary(now) or self._mass(now)
        if reason:
            self.suspected_count += 1
        return reason

    def _stale(self, result: CheckResult, now: datetime) -> bool:
        return now - result.at > self.policy.freshness

    def _canary(self, now: datetime) -> str | None:
        canary = self.policy.canary
        result = self._latest.get(canary) if canary else None
        if result is None or self._stale(result, now) or result.state is State.UP:
            return None
        label = self.policy.canary_label or result.check_id
        detail = result.reason or result.state.value
        return f"canary {label} is failing: {detail}"

    def _age(self, now: datetime) -> None:
        """Bring the running counts to ``now``: drop results that went stale since."""
        if self._now is not None and now < self._now:  # time went back (tests): count afresh
            self._fresh = {c for c, r in self._latest.items() if c != self.policy.canary}
            self._failing = sum(self._latest[c].state is not State.UP for c in self._fresh)
            self._expiry = [(self._latest[c].at, next(self._seq), c) for c in self._fresh]
            heapq.heapify(self._expiry)
        self._now = now
        cutoff = now - self.policy.freshness
        while self._expiry and self._expiry[0][0] < cutoff:
            at, _, check_id = heapq.heappop(self._expiry)
            latest = self._latest[check_id]
            if check_id in self._fresh and latest.at == at:  # not replaced by a newer one
                self._fresh.discard(check_id)
                self._failing -= latest.state is not State.UP

    def _mass(self, now: datetime) -> str | None:
        self._age(now)
        fresh, failing = len(self._fresh), self._failing
        if not fresh or fresh < self.policy.mass_min_checks:
            return None
        if failing / fresh < self.policy.mass_fraction:
            return None
        return f"probe network down: {failing} of {fresh} checks failing at once"
