"""The whole loop with a real daemon process: outage noticed, incident opened and resolved."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from statusbot import config as configmod
from statusbot.model import DeliveryStatus, EventKind, Phase, State
from statusbot.runtime import Daemon as InProcessDaemon
from statusbot.store import Store
from tests.e2e.conftest import Daemon, Target, read_store, wait_for, write_config


def _statusbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statusbot", *args], capture_output=True, text=True, check=False
    )


def start_watching(directory: Path, config: Path, daemon_factory) -> Daemon:
    """Start the daemon and wait until it has seen the target up."""
    daemon = daemon_factory(config)
    daemon.start()
    wait_for(
        "the component to be up",
        lambda: read_store(
            directory, lambda tx: tx.component_states().get("api", (None,))[0] is State.UP
        ),
    )
    return daemon


def test_outage_opens_incident_after_fail_after_failures_and_recovery_resolves_it(
    tmp_path: Path, target: Target, daemon_factory
) -> None:
    config = write_config(tmp_path, target.port)
    daemon = start_watching(tmp_path, config, daemon_factory)

    target.down()
    incident = wait_for(
        "an incident", lambda: read_store(tmp_path, lambda tx: tx.open_incidents())
    )[0]
    assert incident.components == ("api",)
    assert incident.auto
    assert incident.phase is Phase.INVESTIGATING

    # Detection window: the incident opened on exactly the fail_after-th failed result.
    until = incident.opened_at + timedelta(milliseconds=1)  # results() excludes `until`
    results = read_store(
        tmp_path, lambda tx: tx.results("api.http", until - timedelta(days=1), until)
    )
    trailing_failures = 0
    for r in reversed(results):
        if r.state is State.UP:
            break
        trailing_failures += 1
    assert trailing_failures == 2, [(r.at, r.state) for r in results[-5:]]
    assert "connection refused" in results[-1].reason

    target.up()
    resolved = wait_for(
        "the resolution",
        lambda: read_store(tmp_path, lambda tx: [i for i in tx.incidents() if not i.is_open]),
    )[0]
    assert resolved.id == incident.id
    assert resolved.phase is Phase.RESOLVED

    assert daemon.signal(signal.SIGTERM) == 0
    listed = _statusbot("incident", "list", "--json", "-c", str(config))
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["phase"] == "resolved"
    assert entry["components"] == ["api"]
    assert [u["kind"] for u in entry["updates"]] == ["incident.opened", "incident.resolved"]
    assert entry["duration_seconds"] > 0
    log = daemon.log.read_text()
    assert "component api: up → down" in log
    assert "component api: down → up" in log


def test_sigkill_right_after_the_transition_loses_nothing_and_repeats_nothing(
    tmp_path: Path, target: Target, daemon_factory
) -> None:
    config = write_config(tmp_path, target.port)
    daemon = start_watching(tmp_path, config, daemon_factory)
    target.down()
    wait_for("an incident", lambda: read_store(tmp_path, lambda tx: tx.open_incidents()))
    assert daemon.signal(signal.SIGKILL) == -signal.SIGKILL

    def snapshot(tx):  # what the kill must not have lost
        return tx.open_incidents(), tx.events(), tx.deliveries()

    incidents, events, deliveries = read_store(tmp_path, snapshot)
    assert len(incidents) == 1
    assert [e.kind for e in events] == [EventKind.INCIDENT_OPENED]
    assert [d.channel for d in deliveries] == ["console"]  # pending, sending or already sent
    assert deliveries[0].status in (
        DeliveryStatus.PENDING,
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
    )

    # Restarted while the target is still down: the same incident stays, none is added.
    daemon.start()
    wait_for(
        "the restarted daemon to see the outage again",
        lambda: read_store(
            tmp_path,
            lambda tx: (
                len(
                    tx.results(
                        "api.http",
                        incidents[0].opened_at,
                        incidents[0].opened_at + timedelta(days=1),
                    )
                )
                >= 6
            ),
        ),
    )
    assert len(read_store(tmp_path, lambda tx: tx.incidents())) == 1

    target.up()
    wait_for("the resolution", lambda: read_store(tmp_path, lambda tx: not tx.open_incidents()))
    assert daemon.signal(signal.SIGTERM) == 0
    kinds = read_store(tmp_path, lambda tx: [e.kind for e in tx.events()])
    assert kinds == [EventKind.INCIDENT_OPENED, EventKind.INCIDENT_RESOLVED]
    statuses = read_store(tmp_path, lambda tx: [d.status for d in tx.deliveries()])
    assert statuses == [DeliveryStatus.SENT, DeliveryStatus.SENT], "nothing lost across SIGKILL"
    log = daemon.log.read_text()
    assert "── console · incident.opened" in log
    assert "── console · incident.resolved" in log


async def test_a_page_build_that_takes_long_holds_up_no_incident(
    tmp_path: Path, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """The page is built on its own thread: while a build hangs, results are still written
    and the outage still opens its incident (on the writer thread it had to wait), and the page
    is built again to show it. After a build the page rests a while; a stop does not wait for
    that rest."""
    building, release, built = threading.Event(), threading.Event(), threading.Event()
    builds: list[bool] = []  # per build: did the store hold an incident when it began?

    def slow_build(store: Store, *_: object) -> None:
        with store.read() as tx:
            builds.append(bool(tx.incidents()))
        if len(builds) == 1:
            building.set()
            release.wait(timeout=60)  # a busy page of 1,000 components takes 1.6 s; this, longer
            built.set()

    config = configmod.load(write_config(tmp_path, target.port))
    daemon = InProcessDaemon(config, build_site=slow_build)
    running = asyncio.create_task(daemon.run())

    async def until(what: str, probe: Callable[[], object]) -> None:
        await asyncio.to_thread(wait_for, what, probe)

    def state() -> State | None:
        return read_store(tmp_path, lambda tx: tx.component_states().get("api", (None,))[0])

    try:
        await until("a page build to start", building.is_set)
        await until("the component to be up", lambda: state() is State.UP)
        target.down()
        await until("the incident", lambda: read_store(tmp_path, lambda tx: tx.incidents()))
        assert not built.is_set()  # all the while, the first build hung
        release.set()
        # the incident came during that build: the page is built again, soon, to show it
        await until("a build that shows the incident", lambda: True in builds)
        assert builds[0] is False
    finally:
        release.set()
        daemon.stop()
        assert await asyncio.wait_for(running, 60) == 0
    assert "still sending" not in caplog.text  # the resting page was taken for a channel


async def test_a_sighup_during_a_reload_reads_the_config_again(
    tmp_path: Path, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator edits and reloads, then edits and reloads again while the first reload is
    still running (it has read the file): the second edit takes effect too."""
    caplog.set_level(logging.INFO, logger="statusbot")
    path = write_config(tmp_path, target.port)
    daemon = InProcessDaemon(configmod.load(path), path)

    class EditAgain(logging.Handler):
        """Inside the first reload, right after it has read and applied the file."""

        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("config reloaded") and "v3" not in path.read_text():
                path.write_text(path.read_text().replace("Public API v2", "Public API v3"))
                daemon._on_sighup()

    again = EditAgain()
    logging.getLogger("statusbot").addHandler(again)
    running = asyncio.create_task(daemon.run())
    try:
        await asyncio.to_thread(wait_for, "the daemon", lambda: "statusbot running" in caplog.text)
        path.write_text(path.read_text().replace("Public API", "Public API v2"))
        daemon._on_sighup()
        assert daemon._reloading is not None
        await asyncio.wait_for(daemon._reloading, 60)
        assert caplog.text.count("config reloaded") == 2
        assert [c.name for c in daemon.config.components] == ["Public API v3"]
    finally:
        logging.getLogger("statusbot").removeHandler(again)
        daemon.stop()
        assert await asyncio.wait_for(running, 60) == 0
