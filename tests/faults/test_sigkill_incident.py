"""SIGKILL at random points of scripted incidents: no post lost, none repeated, the store intact.

Each round scripts one incident against the real daemon, a real loopback target and the
Mastodon test server: the daemon watches a healthy target; the target goes down (the incident
opens: post 1); an operator posts an update with ``statusbot incident update`` (post 2); the
target comes back (the incident resolves: post 3). All along, the daemon is SIGKILLed at a
random moment and started again at once (forked from a process that imported statusbot once:
``tests/faults/support.py``) — before detection, during detection, between a claim and its
request, while the server is answering (``answer_delay``), after the answer but before it is
recorded, and idle between posts. Each phase spends its first kills on its windows, at a random
instant inside each (a delay from the start, from the claim, into the answer delay; right after
the answer, the server itself sends the SIGKILL). Every kill is labelled by what was going on
when it landed (the store after the kill, the server at the kill); every label must occur, and
at least ``MIN_KILLS`` kills must land in all.

After the last kill of a round, one clean ``python -m statusbot run`` drains what is left and
stops on SIGTERM. Then the Mastodon server must hold exactly the three statuses, one thread, in
order, none twice; and the store must be consistent: integrity check ok, one resolved incident
with its three updates in order, every delivery sent with the id of its status on the server.

Seeds are fixed (``SEED``); the timing of a real process is not, so a failure names the round
and its seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from statusbot.model import DeliveryStatus, EventKind, Phase
from tests.e2e.conftest import Daemon, Target, read_store, wait_for
from tests.faults.support import ENV, Db, ForkServer, QuickDaemon, TrackingMastodon, write_config

pytestmark = pytest.mark.slow

SEED = 20261122
ROUNDS = 3  # at least; more while fewer than MIN_KILLS kills landed
MIN_KILLS = 50
ANSWER_DELAY = 0.25  # seconds the server holds a created status before answering
WINDOW = 2.0  # seconds a targeted kill waits for its moment before killing anyway
DELIVERY_AIMS = ("claim", "answering", "answered")
OPERATOR = "We found a bad deploy and are rolling it back."
LABELS = (
    "before detection",
    "during detection",
    "claimed, not sent",
    "server answering",
    "answered, not recorded",
)


@dataclass(frozen=True)
class Kill:
    round: int
    phase: str
    mode: str
    label: str
    running: bool  # the daemon had logged "statusbot running" (else: killed while starting)


@dataclass(frozen=True)
class Snapshot:
    """The outbox as stored, read while no daemon runs: id → (status, attempts)."""

    deliveries: dict[int, tuple[str, int]]
    incidents: int
    resolved: int

    def sent(self) -> int:
        return sum(1 for status, _ in self.deliveries.values() if status == "sent")

    def outstanding(self) -> bool:
        return any(status != "sent" for status, _ in self.deliveries.values())


@pytest.fixture
def forks() -> Iterator[ForkServer]:
    server = ForkServer()
    yield server
    server.close()


class Round:
    """One scripted incident with its own directory, target, Mastodon server and database."""

    def __init__(self, number: int, directory: Path, forks: ForkServer) -> None:
        self.number = number
        self.directory = directory
        self.rng = random.Random(SEED + number)
        self.server = TrackingMastodon(token=ENV["MASTO_TOKEN"])
        self.server.answer_delay = ANSWER_DELAY
        self.url, self._stop_server = self.server.start_in_thread()
        self.target = Target()
        self.target_down = False
        self.config = write_config(directory, directory, self.target.port, self.url)
        self.daemon = QuickDaemon(forks, self.config)
        self.db = Db(directory / "statusbot.db")
        self.kills: list[Kill] = []
        self.operator: subprocess.Popen[str] | None = None

    def close(self) -> None:
        self.daemon.stop()
        if self.operator is not None and self.operator.poll() is None:
            self.operator.kill()
            self.operator.wait()
        self.db.close()
        self.target.down()
        self._stop_server()

    # --- what is stored -------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        rows = self.db.rows("SELECT id, status, attempts FROM delivery")
        return Snapshot(
            {i: (status, attempts) for i, status, attempts in rows},
            self.db.value("SELECT count(*) FROM incident") or 0,
            self.db.value("SELECT count(*) FROM incident WHERE resolved_at IS NOT NULL") or 0,
        )

    def claimed_since(self, before: Snapshot) -> bool:
        """A delivery was claimed by the running daemon (not left over from a kill)."""
        for i, status, attempts in self.db.rows("SELECT id, status, attempts FROM delivery"):
            if status == "sending" and attempts > before.deliveries.get(i, ("", 0))[1]:
                return True
        return False

    def component_up(self) -> bool:
        return self.db.value("SELECT state FROM component_state WHERE component_id = 'api'") == "up"

    # --- one start and one kill -----------------------------------------------------------

    def cycle(self, phase: str, mode: str, action: Callable[[], None] | None = None) -> None:
        """Start the daemon; optionally act at a random moment; wait for the moment ``mode``
        picks; SIGKILL; label what the kill interrupted."""
        before = self.snapshot()
        received = self.server.received  # posts numbered above: sent by this run's daemon
        self.daemon.start()
        if action is not None:
            time.sleep(self.rng.uniform(0.1, 1.0))
            action()
        self._await_moment(mode, before, received)
        inflight = self.server.inflight(received)  # at the kill: the server is in this process
        running = "statusbot running" in self.daemon.log_since_start()
        assert self.daemon.signal(signal.SIGKILL) == -signal.SIGKILL
        after = self.snapshot()
        label = self._label(before, after, inflight, received)
        self.kills.append(Kill(self.number, phase, mode, label, running))

    def _await_moment(self, mode: str, before: Snapshot, received: int) -> None:
        rng, server = self.rng, self.server
        if mode in ("random", "soon"):
            time.sleep(rng.uniform(0.05, 1.0) if mode == "random" else rng.uniform(0, 0.6))
            return
        if mode == "answered":  # the server kills the daemon as soon as its answer is written
            pid, fired = self.daemon.pid, threading.Event()
            assert pid is not None

            def kill() -> None:
                os.kill(pid, signal.SIGKILL)
                fired.set()

            server.kill_after_answer(received, kill)
            fired.wait(WINDOW)
            server.kill_after_answer(received, None)
            time.sleep(0.05)  # the server finishes its handler: nothing in flight any more
            return
        moment = {
            "claim": lambda: self.claimed_since(before),  # the claim, before its request
            "answering": lambda: server.inflight(received) > 0,  # the status exists, unanswered
        }[mode]
        delay = rng.uniform(0, 0.03) if mode == "claim" else rng.uniform(0, 0.8 * ANSWER_DELAY)
        deadline = time.monotonic() + WINDOW
        while not moment() and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)

    def _label(self, before: Snapshot, after: Snapshot, inflight: int, received: int) -> str:
        if not after.incidents:
            return "during detection" if self.target_down else "before detection"
        if inflight:
            return "server answering"
        claimed = any(
            status == "sending" and attempts > before.deliveries.get(i, ("", 0))[1]
            for i, (status, attempts) in after.deliveries.items()
        )
        if not claimed:
            return "resolved, idle" if after.resolved else "incident open, idle"
        answers = self.server.answered(received)
        if answers > after.sent() - before.sent():
            return "answered, not recorded"
        if self.server.received - received == answers:
            return "claimed, not sent"
        return "other"

    # --- the script -------------------------------------------------------------------------

    def phase(self, name: str, done: Callable[[Snapshot], bool], aims: list[str]) -> None:
        """Kill until ``done`` holds and the aims are used up: one kill per aim, then random
        ones. The delivery aims come in the order a post passes them — claimed, then server
        answering (its first request), then answered (a replay) — and are dropped once the
        post is recorded: there is nothing left to aim at."""
        aims = list(aims)
        for _ in range(40):
            finished = done(self.snapshot())
            if finished:
                aims = [a for a in aims if a not in DELIVERY_AIMS]
                if not aims:
                    return
            self.cycle(name, aims.pop(0) if aims else "random")
        raise AssertionError(f"round {self.number}: phase {name!r} never finished: {self.kills}")

    def go_down(self) -> None:
        self.target.down()
        self.target_down = True

    def come_back(self) -> None:
        self.target.up()
        self.target_down = False

    def run_operator_update(self) -> None:
        update = ["incident", "update", "1", "--message", OPERATOR, "-c", str(self.config)]
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "statusbot", *update],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ENV,
        )

    def script(self) -> None:
        def sent(n: int) -> Callable[[Snapshot], bool]:
            return lambda s: len(s.deliveries) >= n and s.sent() >= n

        post = list(DELIVERY_AIMS)
        self.phase("up", lambda _s: self.component_up(), ["random"] * 4)
        self.cycle("down", "soon", action=self.go_down)
        self.phase("open", sent(1), ["soon", *post])
        self.cycle("update", "soon", action=self.run_operator_update)
        assert self.operator is not None
        out, _ = self.operator.communicate(timeout=60)
        assert self.operator.returncode == 0, out
        self.phase("post update", sent(2), post)
        self.cycle("recover", "soon", action=self.come_back)
        self.phase("resolve", lambda s: s.resolved == 1 and sent(3)(s), ["soon", *post])

    def drain(self) -> None:
        """One clean run of the real command: it sends whatever is left, and must send no more."""
        daemon = Daemon(self.config)
        daemon.start()
        try:
            wait_for("the daemon to run", lambda: "statusbot running" in daemon.log_since_start())
            wait_for("every delivery", lambda: not self.snapshot().outstanding(), timeout=60)
            seen = self.db.value("SELECT count(*) FROM result")
            wait_for(  # a second of probing: the courier has looked at the outbox again
                "the daemon to go on",
                lambda: self.db.value("SELECT count(*) FROM result") >= seen + 4,
            )
            assert daemon.signal(signal.SIGTERM) == 0
        finally:
            daemon.stop()


def check_round(r: Round) -> None:
    where = f"round {r.number} (seed {SEED + r.number})"
    statuses = r.server.statuses
    assert len(r.server.posted) == len(statuses), f"{where}: a status was deleted"
    texts = [s.text for s in statuses]
    assert len(statuses) == 3, f"{where}: {[t[:50] for t in texts]}"
    assert len({s.id for s in statuses}) == 3, f"{where}: duplicate ids"
    assert len(set(texts)) == 3, f"{where}: duplicate texts"
    assert "Public API outage" in texts[0], where
    assert "Resolved" not in texts[0], where
    assert OPERATOR in texts[1], where
    assert "Resolved" in texts[2], where
    assert [s.in_reply_to_id for s in statuses] == [None, statuses[0].id, statuses[1].id], where

    assert r.db.rows("PRAGMA integrity_check") == [("ok",)], where
    assert r.db.rows("PRAGMA foreign_key_check") == [], where

    def stored(tx):
        return tx.deliveries(), tx.incidents(), tx.events()

    deliveries, incidents, events = read_store(r.directory, stored)
    assert [d.status for d in deliveries] == [DeliveryStatus.SENT] * 3, f"{where}: {deliveries}"
    assert [d.remote_id for d in deliveries] == [s.id for s in statuses], where
    assert [d.text for d in deliveries] == texts, f"{where}: the store sent other texts"
    keys = [d.idempotency_key for d in deliveries]  # each kept from its first attempt
    assert [s.idempotency_key for s in statuses] == keys, where
    assert len(set(keys)) == 3, where
    (incident,) = incidents
    assert incident.auto, where
    assert incident.phase is Phase.RESOLVED, where
    assert not incident.is_open, where
    kinds = [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_UPDATED, EventKind.INCIDENT_RESOLVED]
    assert [e.kind for e in events] == kinds, where
    assert [d.event_id for d in deliveries] == [e.id for e in events], where
    assert [u.kind for u in incident.updates] == kinds, where
    assert incident.updates[1].message == OPERATOR, where
    times = [u.at for u in incident.updates]
    assert times == sorted(times), f"{where}: updates out of order"


def test_sigkill_at_random_points_of_an_incident_loses_and_repeats_nothing(
    tmp_path: Path, forks: ForkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTO_TOKEN", ENV["MASTO_TOKEN"])  # for the clean runs
    kills: list[Kill] = []
    number = 0
    while number < ROUNDS or len(kills) < MIN_KILLS:
        number += 1
        assert number <= 2 * ROUNDS, f"too few kills: {kills}"
        directory = tmp_path / f"round{number}"
        directory.mkdir()
        r = Round(number, directory, forks)
        try:
            r.script()
            r.drain()
            check_round(r)
            kills += r.kills
        finally:
            r.close()

    labels = Counter(k.label for k in kills)
    phases = Counter(k.phase for k in kills)
    starting = sum(1 for k in kills if not k.running)
    summary = f"{len(kills)} kills ({starting} while starting): {dict(labels)}; {dict(phases)}"
    print(summary)
    assert len(kills) >= MIN_KILLS, summary
    missing = [label for label in LABELS if not labels[label]]
    assert not missing, f"no kill landed {missing}: {summary}\n{kills}"
