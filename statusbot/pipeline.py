"""The single writer's logic: results → guard → detector → incident rules → store.

Everything that changes state goes through here, in one place and one thread, so that a
transition and the announcements it causes are committed together (DESIGN invariant 1) and the
incident rules always decide on what is really stored. Pure decisions live in detector, guard,
incidents and maintenance; this module only wires them to the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from statusbot import incidents, maintenance
from statusbot.config import Config
from statusbot.detector import ComponentPolicy, Detector
from statusbot.guard import Guard, GuardPolicy
from statusbot.model import (
    CheckResult,
    EndMaintenance,
    Incident,
    Maintenance,
    MaintenanceStatus,
    State,
    Transition,
)
from statusbot.store import Store, Tx

log = logging.getLogger("statusbot")

_LIVE = (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)


@dataclass
class Counters:
    """What the pipeline did, for `status`, logs and (later) metrics."""

    results: int = 0
    transitions: int = 0
    suppressed: int = 0  # failing results not fed because the probe network looked down
    store_errors: int = 0
    by_state: dict[str, int] = field(default_factory=dict)


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
    longest = max(
        (c.interval for c in config.checks()), default=config.defaults.interval.total_seconds()
    )
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
        storm_window=config.detection.storm_window,
        open_on=config.open_on(),
        resolve_after=config.detection.resolve_after,
    )


class Pipeline:
    """Owns detection state; applies results and schedule ticks to the store."""

    def __init__(self, config: Config, store: Store) -> None:
        self.store = store
        self.counters = Counters()
        self.config = config
        with store.write(durable=True) as tx:
            tx.sync_components(config.component_infos())
            seeded = {cid: state for cid, (state, _since) in tx.component_states().items()}
        self.detector = Detector(policies(config), initial=seeded)
        self.guard = Guard(guard_policy(config))
        self._apply_config(config)

    def _apply_config(self, config: Config) -> None:
        self.config = config
        self.channels = config.channels.names()
        self.incident_policy = incident_policy(config)
        self.windows = [w.spec() for w in config.maintenance]

    def reconfigure(self, config: Config) -> None:
        """Swap in a new (already validated) config, keeping detection state and counters."""
        with self.store.write(durable=True) as tx:
            tx.sync_components(config.component_infos())
        self.detector.reconfigure(policies(config))
        self.guard = Guard(guard_policy(config))
        self._apply_config(config)

    def handle(self, results: Sequence[CheckResult]) -> list[Transition]:
        """Feed results; persist results, transitions and the incidents they cause, atomically."""
        transitions: list[Transition] = []
        for result in results:
            self.counters.results += 1
            self.guard.observe(result)
            if result.check_id == "canary":
                continue
            if result.state is not State.UP:
                doubt = self.guard.suspect(result.at)
                if doubt:
                    self.counters.suppressed += 1
                    log.warning("probe network down? not counting %s: %s", result.check_id, doubt)
                    continue
            tr = self.detector.feed(result)
            if tr is not None:
                transitions.append(tr)
        stored = [r for r in results if r.check_id != "canary"]
        with self.store.write(durable=bool(transitions)) as tx:
            tx.record_results(stored)
            for tr in transitions:
                self._on_transition(tx, tr)
        self.counters.transitions += len(transitions)
        return transitions

    def _on_transition(self, tx: Tx, tr: Transition) -> None:
        tx.record_transition(tr)
        tx.set_component_state(tr.component_id, tr.new, tr.at)
        flap = " (flapping: held in the worse state)" if tr.flapping else ""
        log.info(
            "component %s: %s → %s%s%s",
            tr.component_id,
            tr.old,
            tr.new,
            f": {tr.reason}" if tr.reason else "",
            flap,
        )
        in_maintenance = maintenance.active_components(tx.maintenances(_LIVE), tr.at)
        changes = incidents.on_transition(
            tr, tx.open_incidents(), in_maintenance, self.incident_policy
        )
        for change in changes:
            _log_applied(tx.apply(change, self.channels))

    def tick(self, now: datetime) -> None:
        """Resolve calm incidents; start, end and schedule maintenance windows due at ``now``."""
        with self.store.write(durable=True) as tx:
            states = self.detector.states()
            for change in incidents.due_resolutions(
                tx.open_incidents(), states, now, self.incident_policy
            ):
                _log_applied(tx.apply(change, self.channels))
            known = tx.maintenances()
            for change in maintenance.plan(self.windows, known, now):
                applied = tx.apply(change, self.channels)
                _log_applied(applied)
                if isinstance(change, EndMaintenance) and isinstance(applied, Maintenance):
                    over = incidents.on_maintenance_over(
                        applied.components,
                        self.detector.states(),
                        tx.open_incidents(),
                        self.incident_policy,
                        now,
                    )
                    for follow in over:
                        _log_applied(tx.apply(follow, self.channels))

    def prune(self, now: datetime) -> None:
        """Roll up results and drop what retention no longer keeps."""
        r = self.config.storage.retention
        with self.store.write() as tx:
            stats = tx.roll_up_and_prune(now, r.raw.days, r.hourly.days, r.daily.days)
        log.info("retention: %s", stats)
        self.store.vacuum_step()


def _log_applied(applied: Incident | Maintenance) -> None:
    if isinstance(applied, Incident):
        components = ", ".join(applied.components)
        log.info(
            "incident #%d %s (%s; %s): %s",
            applied.id,
            applied.phase,
            applied.impact,
            components,
            applied.title,
        )
    else:
        log.info("maintenance #%d %s: %s", applied.id, applied.status, applied.title)
