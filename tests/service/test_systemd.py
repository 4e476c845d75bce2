"""statusbot under systemd, with real things: datagram sockets, the daemon as a subprocess,
``systemd-analyze`` on the unit file. Nothing is mocked.

``systemd-analyze verify`` checks that ExecStart's binary exists and is executable, and the unit
names the installed path ``/usr/local/bin/statusbot``. The test therefore verifies a copy of
the unit whose ExecStart binary is an executable that exists here (``/bin/true``; every other
line unchanged) and must pass cleanly, and also verifies the unit as shipped, where the only
complaint allowed is "Command /usr/local/bin/statusbot is not executable".
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import statusbot.runtime
from statusbot import service
from statusbot.service import (
    Health,
    Notifier,
    result_gap,
    sd_notify,
    status_line,
    watchdog_interval,
)

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "statusbot.service"
INSTALLED = "/usr/local/bin/statusbot"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed on this machine"
)


# --- a real notification socket -------------------------------------------------------------


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's notification socket."""

    def __init__(self, address: str) -> None:
        self.address = address  # what goes into NOTIFY_SOCKET ("/path" or "@abstract")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bind = "\0" + address[1:] if address.startswith("@") else address
        self.sock.bind(bind)
        self.seen: list[str] = []

    def receive(self, timeout: float) -> str | None:
        """The next datagram, or None if none arrives within ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return None
        message = data.decode()
        self.seen.append(message)
        return message

    def wait_for(self, what: str, match: Callable[[list[str]], bool], timeout: float) -> str:
        """Read datagrams until one whose lines satisfy ``match``; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is not None and match(message.split("\n")):
                return message
        raise AssertionError(f"no {what} within {timeout}s; received: {self.seen}")

    def quiet(self, match: Callable[[list[str]], bool], within: float) -> None:
        """Assert that no datagram satisfying ``match`` arrives within ``within`` seconds."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            assert message is None or not match(message.split("\n")), message

    def close(self) -> None:
        self.sock.close()


def has(line: str) -> Callable[[list[str]], bool]:
    return lambda lines: line in lines


@pytest.fixture
def short_dir(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path``, or a shorter directory when a socket path there would exceed 107 bytes."""
    if len(str(tmp_path / "notify.sock")) < 100:
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="sb-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def notify_socket(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    sock = NotifySocket(str(short_dir / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", sock.address)
    yield sock
    sock.close()


# --- sd_notify ----------------------------------------------------------------------------


def test_sd_notify_sends_exactly_one_datagram_to_a_path_socket(
    notify_socket: NotifySocket,
) -> None:
    assert sd_notify("READY=1", "STATUS=1 check · all good") is True
    assert notify_socket.receive(2) == "READY=1\nSTATUS=1 check · all good"
    assert notify_socket.receive(0.05) is None


def test_sd_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    sock = NotifySocket(f"@statusbot-test-{uuid.uuid4().hex}")
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", sock.address)
        assert sd_notify("WATCHDOG=1") is True
        assert sock.receive(2) == "WATCHDOG=1"
    finally:
        sock.close()


def test_sd_notify_without_systemd_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert sd_notify("READY=1") is False


def test_sd_notify_never_raises_and_logs_a_dead_socket_once(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(service._Once, "logged", False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(short_dir / "nobody-listens.sock"))
    with caplog.at_level(logging.DEBUG, logger="statusbot.service"):
        assert sd_notify("READY=1") is False
        assert sd_notify("WATCHDOG=1") is False
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "cannot notify systemd" in warnings[0].getMessage()


# --- watchdog_interval and status_line ----------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "4242"}, 1.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "x"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env, 4242) == expected


def test_watchdog_interval_reads_this_process_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 1.5


def test_status_line() -> None:
    assert (
        status_line(12, 5, 1, 3)
        == "12 checks on 5 components · 1 incident open · 3 announcements waiting"
    )
    assert (
        status_line(1, 1, 0, 0) == "1 check on 1 component · no incidents open · "
        "no announcements waiting"
    )
    assert status_line(2, 1, 2, 1, degraded=4).endswith(
        "2 incidents open · 1 announcement waiting · monitoring degraded: 4 runs missed"
    )


# --- Health ---------------------------------------------------------------------------------


class _Check:
    def __init__(self, interval: float, timeout: float) -> None:
        self.interval = interval
        self.timeout = timeout


def test_health_follows_loop_results_and_store() -> None:
    gap = 20.0
    every = result_gap([_Check(30, 10), _Check(5, 1)])
    assert every == 12.0  # the busiest check sets the pace
    h = Health(0.0, results_every=every)
    assert h.healthy(0.0, max_gap=gap) is None

    # Everything reported every 5 s: healthy.
    for now in range(5, 65, 5):
        h.tick(now)
        h.result(now)
        h.store_ok(now)
        assert h.healthy(now + 4.9, max_gap=gap) is None

    # The loop stalls (no ticks, nothing else either): unhealthy once the gap passes.
    assert h.healthy(80.0, max_gap=gap) is None
    reason = h.healthy(86.0, max_gap=gap)
    assert reason is not None
    assert "event loop has not ticked for 26s" in reason
    assert "store not written successfully" in reason

    # The loop runs and results are produced, but every write fails.
    for now in range(90, 125, 5):
        h.tick(now)
        h.store_failed(now, "database is locked")
    reason = h.healthy(125.0, max_gap=gap)
    assert reason is not None
    assert "event loop" not in reason
    assert "store not written successfully for 65s: database is locked" in reason
    assert "no check result stored for 65s" in reason

    # The store recovers: results get stored again, healthy again.
    h.tick(126.0)
    h.result(126.0)
    h.store_ok(126.0)
    assert h.healthy(127.0, max_gap=gap) is None

    # Only the checks stop producing: tolerated up to max(max_gap, results_every).
    h.tick(150.0)
    h.store_ok(150.0)
    assert h.healthy(145.0, max_gap=gap) is None
    reason = h.healthy(150.0, max_gap=gap)
    assert reason == "no check result stored for 24s (expected every 12s at most)"


def test_health_without_checks_expects_no_results() -> None:
    h = Health(0.0)
    for now in range(5, 305, 5):
        h.tick(now)
        h.store_ok(now)
        assert h.healthy(now, max_gap=20) is None
    # A reload adds checks: the wait for their first result starts now, not at start-up.
    h.expect_results(result_gap([_Check(1, 0.5)]), 300.0)
    assert h.healthy(300.0, max_gap=20) is None
    h.tick(321.0)
    h.store_ok(321.0)
    assert (
        h.healthy(321.0, max_gap=20) == "no check result stored for 21s (expected every 3s at most)"
    )


# --- Notifier ---------------------------------------------------------------------------------


def test_notifier_lifecycle_messages(notify_socket: NotifySocket) -> None:
    n = Notifier()
    assert n.ready("1 check on 1 component\n· no incidents open")
    assert notify_socket.receive(2) == "READY=1\nSTATUS=1 check on 1 component · no incidents open"
    assert n.status("something else")
    assert notify_socket.receive(2) == "STATUS=something else"
    assert n.status("something else") is False  # unchanged: not sent again
    assert n.reloading()
    lines = (notify_socket.receive(2) or "").split("\n")
    assert lines[0] == "RELOADING=1"
    usec = int(lines[1].removeprefix("MONOTONIC_USEC="))
    assert abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 5
    assert n.stopping()
    assert (notify_socket.receive(2) or "").startswith("STOPPING=1\n")
    assert n.watchdog()
    assert notify_socket.receive(2) == "WATCHDOG=1"
    assert notify_socket.receive(0.05) is None


async def test_watchdog_loop_pings_only_while_healthy(notify_socket: NotifySocket) -> None:
    now = [0.0]
    health = Health(0.0, results_every=3.0)
    notifier = Notifier()
    notifier.ready("ready for tests")
    assert notify_socket.receive(2) is not None
    stop = asyncio.Event()
    loop = asyncio.create_task(
        notifier.watchdog_loop(health, lambda: now[0], stop, 0.02, max_gap=10.0)
    )

    def wait(what: str, match: Callable[[list[str]], bool]) -> str:
        return notify_socket.wait_for(what, match, 5)

    try:
        await asyncio.to_thread(wait, "a first ping", has("WATCHDOG=1"))
        await asyncio.to_thread(wait, "a second ping", has("WATCHDOG=1"))

        now[0] = 30.0  # nothing reported for 30 s: a wedged daemon
        sick = await asyncio.to_thread(
            wait, "the unhealthy status", lambda lines: lines[0].startswith("STATUS=unhealthy")
        )
        assert "event loop has not ticked for 30s" in sick
        await asyncio.to_thread(notify_socket.quiet, has("WATCHDOG=1"), 0.3)

        health.tick(30.0)
        health.result(30.0)
        health.store_ok(30.0)
        await asyncio.to_thread(wait, "the status restored", has("STATUS=ready for tests"))
        await asyncio.to_thread(wait, "pings again", has("WATCHDOG=1"))
    finally:
        stop.set()
        async with asyncio.timeout(2):
            await loop
    assert sum(1 for m in notify_socket.seen if m.startswith("STATUS=unhealthy")) == 1


# --- the real daemon, supervised over the notification socket ---------------------------------


def _integrated() -> bool:
    """Whether runtime.py talks to systemd yet (the Daemon has a notifier, or the runtime
    module imported something from statusbot.service)."""
    if hasattr(statusbot.runtime.Daemon, "notifier"):
        return True
    return any(
        value is service or getattr(value, "__module__", None) == "statusbot.service"
        for value in vars(statusbot.runtime).values()
    )


@pytest.fixture
def tcp_target() -> Iterator[int]:
    """A loopback TCP listener that accepts and closes connections; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    done.set()
    thread.join(2)
    server.close()


@pytest.mark.slow
@pytest.mark.skipif(not _integrated(), reason="not integrated yet")
def test_daemon_under_a_notification_socket(
    tmp_path: Path, notify_socket: NotifySocket, tcp_target: int
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
defaults: {{interval: 1s, timeout: 500ms}}
components:
  - id: db
    name: Database
    checks: [{{type: tcp, host: 127.0.0.1, port: {tcp_target}}}]
storage: {{url: "sqlite:///{tmp_path}/statusbot.db"}}
site: {{output_dir: "{tmp_path}/site"}}
"""
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WATCHDOG_USEC": "2000000"}
    env.pop("WATCHDOG_PID", None)
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "statusbot", "run", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        try:
            ready = notify_socket.wait_for("READY=1", has("READY=1"), 20)
            assert re.search(r"^STATUS=1 check on 1 component", ready, re.M), ready
            notify_socket.wait_for("a watchdog ping", has("WATCHDOG=1"), 5)

            proc.send_signal(signal.SIGHUP)
            reloading = notify_socket.wait_for("RELOADING=1", has("RELOADING=1"), 10)
            assert "MONOTONIC_USEC=" in reloading
            notify_socket.wait_for("READY=1 after the reload", has("READY=1"), 10)
            notify_socket.wait_for("pings after the reload", has("WATCHDOG=1"), 5)

            proc.send_signal(signal.SIGTERM)
            notify_socket.wait_for("STOPPING=1", has("STOPPING=1"), 10)
            assert proc.wait(timeout=25) == 0
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- daemon log ---\n{log.read_text()}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- the unit file --------------------------------------------------------------------------


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_unit_comments_only_at_line_start_and_no_secrets_in_environment() -> None:
    for line in UNIT.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        # systemd has no trailing comments: "Restart=on-failure  # why" sets a bogus value.
        assert not re.search(r"\s#", line), f"a trailing '#' is part of the value: {line}"
        if line.startswith("Environment="):
            assert not re.search(r"token|secret|key|password", line, re.I), line
    directives = UNIT.read_text()
    for name in (
        "mastodon_token",
        "x_consumer_key",
        "x_consumer_secret",
        "x_access_token",
        "x_access_token_secret",
    ):
        assert f"\nLoadCredential={name}:/etc/statusbot/secrets/{name}\n" in directives


@needs_systemd_analyze
def test_unit_verifies(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert f"\nExecStart={INSTALLED} run --config %E/statusbot/config.yaml\n" in text
    copy = tmp_path / "statusbot.service"
    copy.write_text(text.replace(f"ExecStart={INSTALLED} ", "ExecStart=/bin/true "))
    result = _analyze("verify", str(copy))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "statusbot.service" not in output, output

    # The unit as shipped: the only complaint allowed is the binary not being installed here.
    result = _analyze("verify", str(UNIT))
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and f"Command {INSTALLED} is not executable" not in line
    ]
    assert complaints == []
    if Path(INSTALLED).exists():
        assert result.returncode == 0


@needs_systemd_analyze
def test_unit_exposure_is_low() -> None:
    result = _analyze("security", "--offline=true", "--threshold=20", str(UNIT))
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout
    score = float(found.group(1))
    assert score <= 2.0, result.stdout
    # --threshold is on a ×10 scale: the gate really bites just below the score.
    below = _analyze(
        "security", "--offline=true", f"--threshold={round(score * 10) - 1}", str(UNIT)
    )
    assert below.returncode != 0
