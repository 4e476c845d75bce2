"""The single writer's logic: results → guard → detector → incident rules → store.

Everything that changes state goes through here, in one place and one thread, so that a
transition and the announcements it causes are committed together (DESIGN invariant 1) and the
incident rules always decide on what is really stored. Pure decisions live in detector, guard,
incidents and maintenance; this module wires them to the store and adds three safeguards:

- results and transitions that could not be written (database locked, disk full) are kept and
  written with the next round, so a store hiccup never loses an outage;
- a worsening transition waits, when a canary is configured, until the canary has answered
  after the failures began: only then do we know it is the target and not our own network
  (invariant 6), whichever of the two checks happened to run first;
- when a maintenance window stops covering a component (ended, or cancelled from the CLI), a
  component still down then gets its incident.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from statusbot import incidents, maintenance
from statusbot.config import Config
from statusbot.detector import ComponentPolicy, Detector
from statusbot.guard import Guard, GuardPolicy
from statusbot.model import (
    Change,
    CheckResult,
    Clock,
    Incident,
    Maintenance,
    MaintenanceStatus,
    State,
    Transition,
    utcnow,
)
from statusbot.store import Store, Tx

log = logging.getLogger("statusbot")

_LIVE = (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)
MAX_UNSAVED_RESULTS = 100_000  # past this, the oldest unsaved results go (transitions never do)


@dataclass
class Counters:
    """What the pipeline did, for `status`, logs and metrics."""

    results: int = 0
    transitions: int = 0
    suppressed: int = 0  # failing results not counted because the probe network looked down
    held: int = 0  # worsening transitions that waited for the canary
    store_errors: int = 0
    revision: int = 0  # bumped by every write that changed states, incidents or the outbox


def policies(config: Config) -> dict[str, ComponentPolicy]:
    """Detector policies for every configured component."""
    checks: dict[str, list[str]] = {c.id: [] for c in config.components}
    for check in config.checks():
        checks[check.component_id].append(check.id)
    d = config.defaults
    return {
        c.id: ComponentPolicy(
            checks=tuple(checks[c.id]),
            fail_after=c.fail_after or d.fail_after,
            recover_after=c.recover_after or d.recover_after,
            combine=c.combine,
            flap_window=config.detection.flap_window,
            flap_threshold=config.detection.flap_threshold,
        )
        for c in config.components
    }


def guard_policy(config: Config) -> GuardPolicy:
    intervals = [c.interval for c in config.checks()]
    longest = max(intervals, default=config.defaults.interval.total_seconds())
    canary = config.canary_check()
    return GuardPolicy(
        canary=canary.id if canary else None,
        canary_label=f"{canary.spec.type} {canary.spec.target()}" if canary else "",  # type: ignore[attr-defined]
        mass_fraction=config.detection.mass_failure_fraction,
        mass_min_checks=config.detection.mass_failure_min_checks,
        freshness=timedelta(seconds=2 * longest),
    )


def incident_policy(config: Config) -> incidents.IncidentPolicy:
    return incidents.IncidentPolicy(
        names={c.id: c.name for c in config.components},
        storm_window=config.incidents.storm_window,
        open_on=config.open_on(),
        resolve_after=config.incidents.resolve_after,
    )


class Pipeline:
    """Owns detection state; applies results and schedule ticks to the store."""

    def __init__(self, config: Config, store: Store, clock: Clock = utcnow) -> None:
        self.store = store
        self.counters = Counters()
        with store.write(durable=True) as tx:
            tx.sync_components(config.component_infos())
            seeded = {cid: state for cid, (state, _since) in tx.component_states().items()}
            self._in_maintenance = maintenance.active_components(tx.maintenances(_LIVE), clock())
        self.detector = Detector(policies(config), initial=seeded)
        self.guard = Guard(guard_policy(config))
        self._unsaved_results: list[CheckResult] = []
        self._unsaved_transitions: list[Transition] = []
        self._failing_since: dict[str, datetime] = {}  # check id → first failure of its streak
        self._held: dict[str, tuple[Transition, datetime]] = {}  # component → (tr, streak start)
        self._canary_seen: CheckResult | None = None
        self._doubt: str | None = None
        self._said: list[tuple[Any, ...]] = []  # log lines of the write under way
        self._last_event: int | None = None  # the newest event id the last tick saw
        self._apply_config(config)

    def _apply_config(self, config: Config) -> None:
        self.config = config
        self.channels = config.channels.route  # each event to the channels that want it
        self.incident_policy = incident_policy(config)
        self.windows = [w.spec() for w in config.maintenance]
        self._canary_id = "canary" if config.canary else None
        self._checks_of = {cid: p.checks for cid, p in policies(config).items()}

    def reconfigure(self, config: Config) -> None:
        """Swap in a new (already validated) config, keeping detection and guard history."""
        with self.store.write(durable=True) as tx:
            tx.sync_components(config.component_infos())
        self.detector.reconfigure(policies(config))
        self.guard.policy = guard_policy(config)
        self._apply_config(config)
        if not self._canary_id:
            self._release_all("no canary configured any more")

    # --- results --------------------------------------------------------------------------

    def handle(self, results: Sequence[CheckResult]) -> list[Transition]:
        """Feed results; persist results, transitions and the incidents they cause, atomically.

        Raises when the store cannot be written; what was not written is kept and goes out with
        the next call (or ``flush``).
        """
        transitions: list[Transition] = []
        for result in results:
            self.counters.results += 1
            self.guard.observe(result)
            if result.check_id == self._canary_id:
                self._canary_seen = result
                continue
            self._unsaved_results.append(result)
            if result.state is State.UP:
                self._failing_since.pop(result.check_id, None)
            else:
                self._failing_since.setdefault(result.check_id, result.at)
                if self._doubting(result.at):
                    self.counters.suppressed += 1
                    continue
            tr = self.detector.feed(result)
            if tr is not None:
                transitions.append(tr)
        self._unsaved_transitions += transitions
        self.flush()
        return transitions

    def flush(self) -> None:
        """Write what is not written yet: results, transitions and the changes they cause."""
        if len(self._unsaved_results) > MAX_UNSAVED_RESULTS:
            del self._unsaved_results[: len(self._unsaved_results) - MAX_UNSAVED_RESULTS]
        transitions = self._unsaved_transitions
        releasable = self._releasable()
        if not (self._unsaved_results or transitions or releasable):
            return
        released = {c: self._held[c] for c in releasable}  # let go only once written
        try:
            with self._writing(durable=bool(transitions or releasable)) as tx:
                tx.record_results(self._unsaved_results)
                for tr in transitions:
                    self._on_transition(tx, tr)
                for component in releasable:
                    self._release(tx, component)
        except Exception:
            self.counters.store_errors += 1
            raise
        for component, held in released.items():
            if self._held.get(component) is held:
                del self._held[component]
        self._unsaved_results = []
        self._unsaved_transitions = []
        self.counters.transitions += len(transitions)
        if transitions or releasable:
            self.counters.revision += 1

    def _doubting(self, at: datetime) -> bool:
        """Whether failures at ``at`` look like our own network; logs once per episode."""
        doubt = self.guard.suspect(at)
        if doubt and not self._doubt:
            log.warning("probe network down? failures are not counted while: %s", doubt)
        elif self._doubt and not doubt:
            log.info("probe network looks fine again; counting failures")
        self._doubt = doubt
        return doubt is not None

    def _on_transition(self, tx: Tx, tr: Transition) -> None:
        tx.record_transition(tr)
        tx.set_component_state(tr.component_id, tr.new, tr.at)
        flap = " (flapping: held in the worse state)" if tr.flapping else ""
        reason = f": {tr.reason}" if tr.reason else ""
        self._say("component %s: %s → %s%s%s", tr.component_id, tr.old, tr.new, reason, flap)
        if self.incident_policy.is_bad(tr.new) and self._canary_id:
            start = self._streak_start(tr)
            if not self._canary_answered_since(start):
                self._held[tr.component_id] = (tr, start)
                self.counters.held += 1
                self._say("component %s: waiting for the canary before announcing", tr.component_id)
                return
        else:
            self._held.pop(tr.component_id, None)  # recovered before it was ever announced
        self._apply_rules(tx, tr)

    def _apply_rules(self, tx: Tx, tr: Transition) -> None:
        in_maintenance = maintenance.active_components(tx.maintenances(_LIVE), tr.at)
        changes = incidents.on_transition(
            tr, tx.open_incidents(), in_maintenance, self.incident_policy
        )
        for change in changes:
            self._say(*_applied(tx.apply(change, self.channels)))

    # --- the canary hold --------------------------------------------------------------------

    def _streak_start(self, tr: Transition) -> datetime:
        checks = self._checks_of.get(tr.component_id, ())
        starts = [self._failing_since[c] for c in checks if c in self._failing_since]
        return min(starts, default=tr.at)

    def _canary_answered_since(self, start: datetime) -> bool:
        seen = self._canary_seen
        return seen is not None and seen.at >= start and seen.state is State.UP

    def _releasable(self) -> list[str]:
        return [c for c, (_tr, start) in self._held.items() if self._canary_answered_since(start)]

    def _release(self, tx: Tx, component: str) -> None:
        """Announce a held outage (``flush`` lets go of it once that is written)."""
        held = self._held.get(component)
        if held is None or self.detector.state(component) is not held[0].new:
            return  # it changed again meanwhile; that transition was handled on its own
        self._say("component %s: the canary is fine, so the outage is real", component)
        self._apply_rules(tx, held[0])

    def _release_all(self, why: str) -> None:
        if not self._held:
            return
        log.info("announcing held outages: %s", why)
        with self._writing(durable=True) as tx:
            for tr, _start in self._held.values():
                self._apply_rules(tx, tr)
        self._held.clear()

    # --- time-driven rules ---------------------------------------------------------------------

    def tick(self, now: datetime) -> bool:
        """Write what is pending; resolve calm incidents; move maintenance windows along.

        Returns whether anything that is announced or shown changed: a change made here, or an
        event another process (the CLI) added since the last tick. Nothing else needs the
        page rebuilt or the couriers woken."""
        revision = self.counters.revision
        self.flush()
        with self._writing(durable=True) as tx:
            states = self.detector.states()
            applied = self._apply_all(
                tx,
                incidents.due_resolutions(tx.open_incidents(), states, now, self.incident_policy),
            )
            applied += self._apply_all(
                tx,
                incidents.due_reminders(
                    tx.open_incidents(), now, self.config.incidents.remind_after
                ),
            )
            applied += self._apply_all(tx, maintenance.plan(self.windows, tx.maintenances(), now))
            active = maintenance.active_components(tx.maintenances(_LIVE), now)
            over = self._in_maintenance - active  # ended, or cancelled from the CLI
            if over:
                follows = incidents.on_maintenance_over(
                    sorted(over), states, tx.open_incidents(), self.incident_policy, now
                )
                applied += self._apply_all(tx, follows)
            last_event = tx.last_event_id()
        self._in_maintenance = active
        if applied:
            self.counters.revision += 1
        seen, self._last_event = self._last_event, last_event
        return self.counters.revision != revision or last_event != seen

    def _apply_all(self, tx: Tx, changes: Iterable[Change]) -> int:
        """Apply ``changes`` in order (each is logged once committed); returns how many."""
        n = 0
        for change in changes:
            self._say(*_applied(tx.apply(change, self.channels)))
            n += 1
        return n

    @contextlib.contextmanager
    def _writing(self, *, durable: bool) -> Iterator[Tx]:
        """A write transaction whose log lines (``_say``) appear only once it is committed: a
        write that fails, and is retried with the next batch, claims nothing in the log."""
        self._said = []
        try:
            with self.store.write(durable=durable) as tx:
                yield tx
        except BaseException:
            self._said = []
            raise
        said, self._said = self._said, []
        for line in said:
            log.info(*line)

    def _say(self, *line: Any) -> None:
        self._said.append(line)

    def prune(self, now: datetime) -> None:
        """Roll up results and drop what retention no longer keeps."""
        r = self.config.storage.retention
        with self.store.write() as tx:
            stats = tx.roll_up_and_prune(now, r.raw.days, r.hourly.days, r.daily.days)
        log.info("retention: %s", stats)
        self.store.vacuum_step()


def _applied(applied: Incident | Maintenance) -> tuple[Any, ...]:
    """The log line (format and arguments) of an applied change."""
    if isinstance(applied, Incident):
        components = ", ".join(applied.components)
        return (
            "incident #%d %s (%s; %s): %s",
            applied.id,
            applied.phase,
            applied.impact,
            components,
            applied.title,
        )
    return ("maintenance #%d %s: %s", applied.id, applied.status, applied.title)
