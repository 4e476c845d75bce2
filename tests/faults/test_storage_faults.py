"""A full disk or a read-only state directory: one clear error, and nothing posted unrecorded.

The database lives on a small tmpfs of its own (root mounts it; without the permission the
tests skip and say why). The daemon is the real one, in a subprocess, watching a real loopback
target and posting to the Mastodon test server:

- started on a read-only state directory, it exits at once (code 3) with one line naming the
  database and the problem — no traceback — and posts nothing;
- when the disk fills while it runs and then the target goes down, it goes on probing, says
  what is wrong in one line naming the database (no traceback), counts the failed writes in
  /metrics, and posts nothing: the outage waits in memory. Once space is freed the incident is
  recorded and posted exactly once, and the thread goes on as usual;
- when the disk fills between a post and its record, the claim recorded before the post keeps
  it: after space is freed the post is recorded with the status the server created, not
  posted again;
- when the files under a running daemon turn read-only and then the target goes down: the same.
  ``mount -o remount,ro`` is refused (EBUSY) while the daemon holds the database open for
  writing — on Linux a file system under open writers turns read-only only through the
  kernel (``errors=remount-ro``) or a network file system — so this test makes every write to
  the database files fail with EROFS, as they then do, with strace's fault injection, and
  lifts it again ("remounted rw");
- with a canary, an outage held for the canary's answer is still announced when the disk was
  full as the answer came (the pipeline, on the same kind of tmpfs);
- an I/O error names a read-only or full file system when the file system tells.

Every time the end state is checked: each status on the server is a 'sent' delivery with the
status's id and text, exactly one incident, integrity check ok.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from statusbot.model import EventKind, State
from statusbot.store import StoreError
from statusbot.store.errors import describe
from tests.e2e.conftest import Daemon, Target, wait_for
from tests.faults.support import ENV, Db, TrackingMastodon, write_config
from tests.integration.test_pipeline import CANARY, make, r, up_all

pytestmark = pytest.mark.slow

TMPFS_SIZE = "8m"  # the WAL grows ~50 KB/s at 4 probe results a second: minutes of headroom
EXIT_STORE = 3


# --- a state directory on its own small file system -------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


def _unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A directory on a fresh tmpfs of ``TMPFS_SIZE``; unmounted afterwards, whatever happens.
    Request it before ``daemon_factory``: daemons stop first, then it is unmounted."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs for the state directory needs root and mount(8)")
    path = tmp_path / "state"
    path.mkdir()
    done = _mount("-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", str(path))
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (not permitted?): {done.stderr.strip()}")
    try:
        yield path
    finally:
        _unmount(path)


def remount(path: Path, mode: str) -> None:
    done = _mount("-o", f"remount,{mode}", str(path))
    assert done.returncode == 0, done.stderr


def fill(directory: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 512):  # then the last partial block
            assert _write_until_full(out, b"\0" * size) == errno.ENOSPC
    return filler


def _write_until_full(out: BinaryIO, chunk: bytes) -> int | None:
    try:
        while True:
            out.write(chunk)
    except OSError as exc:
        return exc.errno


class ReadOnlyFiles:
    """Every write to the database files of process ``pid`` fails with EROFS (strace's fault
    injection, restricted to those paths) until ``lift()``."""

    CALLS = "pwrite64,pwritev,pwritev2,write,writev,fsync,fdatasync,ftruncate,fallocate"

    def __init__(self, pid: int, database: Path) -> None:
        if shutil.which("strace") is None:
            pytest.skip("strace(1) is needed to make the open database files read-only")
        command = ["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(pid)]
        command += ["-e", f"trace={self.CALLS}", "-e", f"inject={self.CALLS}:error=EROFS"]
        for suffix in ("", "-wal", "-shm", "-journal"):
            command += ["-P", f"{database}{suffix}"]
        self.pid = pid
        self._proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        wait_for("strace to attach", self._attached, timeout=20)

    def _attached(self) -> bool:
        if self._proc.poll() is not None:
            assert self._proc.stderr is not None
            pytest.skip(f"strace cannot attach here: {self._proc.stderr.read().strip()}")
        status = Path(f"/proc/{self.pid}/status").read_text()
        return re.search(r"^TracerPid:\s+[1-9]", status, re.MULTILINE) is not None

    def lift(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)  # strace detaches and leaves it running
            self._proc.wait(timeout=30)


# --- helpers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(port: int, name: str) -> float:
    """The sum of a metric's samples on the daemon's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def start(
    directory: Path, state: Path, target: Target, server: TrackingMastodon, daemon_factory
) -> tuple[Daemon, Db, int]:
    """The daemon watching ``target`` with its database in ``state``, the component seen up;
    returns it, the database and the port of /metrics."""
    port = free_port()
    listen = f'http: {{listen: "127.0.0.1:{port}"}}'
    config = write_config(directory, state, target.port, server.base_url, extra=listen)
    daemon = daemon_factory(config)
    daemon.start()
    db = Db(state / "statusbot.db")
    wait_for("the component up", lambda: _state(db) == "up")
    return daemon, db, port


def _state(db: Db) -> str | None:
    return db.value("SELECT state FROM component_state WHERE component_id = 'api'")


def sent(db: Db) -> int:
    return db.value("SELECT count(*) FROM delivery WHERE status = 'sent'") or 0


def outage_seen(port: int, failures: float) -> Callable[[], bool]:
    """The daemon has counted 4 more failed probes (fail_after is 2: the outage is due)."""
    return lambda: metric(port, "statusbot_check_failures_total") >= failures + 4


def check_consistent(db: Db, server: TrackingMastodon, posts: int) -> None:
    """Exactly ``posts`` statuses, each a 'sent' delivery with its id and text; one incident,
    resolved; the database intact."""
    statuses = server.statuses
    assert len(server.posted) == len(statuses) == posts, [s.text[:40] for s in server.posted]
    rows = db.rows("SELECT status, remote_id, text FROM delivery ORDER BY id")
    assert rows == [("sent", s.id, s.text) for s in statuses]
    assert [s.in_reply_to_id for s in statuses] == [None] + [s.id for s in statuses[:-1]]
    incidents = db.rows("SELECT resolved_at IS NOT NULL FROM incident")
    assert incidents == [(1,)], "exactly one incident, resolved"
    assert db.rows("PRAGMA integrity_check") == [("ok",)]


def recover_and_stop(target: Target, daemon: Daemon, db: Db) -> None:
    target.up()
    wait_for("the resolution posted", lambda: sent(db) == 2)
    assert daemon.signal(signal.SIGTERM) == 0


def assert_clear_log(log: str, db_path: Path, problem: str) -> None:
    """The problem in one line naming the database, no traceback, the recovery said; and the
    incident logged once, when it was recorded (not at each write that failed)."""
    assert "Traceback" not in log, log[-3000:]
    assert f"cannot write {db_path}: {problem}" in log, log[-3000:]
    assert "store writable again" in log, log[-3000:]
    assert log.count("incident #1 investigating") == 1, log[-3000:]
    assert log.count("component api: up → down") == 1, log[-3000:]


# --- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True], ids=["new-database", "existing-database"])
def test_a_read_only_state_directory_stops_the_start_with_one_clear_line(
    tmp_path: Path,
    state: Path,
    target: Target,
    mastodon: TrackingMastodon,
    daemon_factory,
    existing: bool,
) -> None:
    if existing:
        daemon, db, _port = start(tmp_path, state, target, mastodon, daemon_factory)
        db.close()
        assert daemon.signal(signal.SIGTERM) == 0
    else:
        write_config(tmp_path, state, target.port, mastodon.base_url)
    remount(state, "ro")
    target.down()  # an outage it would announce, were it running

    done = subprocess.run(
        [sys.executable, "-m", "statusbot", "run", "-c", str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        check=False,
        env=ENV,
        timeout=60,
    )

    database = state / "statusbot.db"
    assert done.returncode == EXIT_STORE, done
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"statusbot: cannot open {database}: directory {state} is read-only"
    ]
    assert ("POST", "/api/v1/statuses") not in mastodon.requests
    assert mastodon.statuses == []


def test_a_full_disk_holds_the_incident_back_until_it_can_be_recorded(
    tmp_path: Path, state: Path, target: Target, mastodon: TrackingMastodon, daemon_factory
) -> None:
    daemon, db, port = start(tmp_path, state, target, mastodon, daemon_factory)
    filler = fill(state)
    database = state / "statusbot.db"
    wait_for("the write error", lambda: "database or disk is full" in daemon.log_since_start())
    failures = metric(port, "statusbot_check_failures_total")

    target.down()
    wait_for("the outage to be seen", outage_seen(port, failures))
    assert mastodon.statuses == [], "posted while the incident could not be recorded"
    assert db.value("SELECT count(*) FROM incident") == 0
    assert daemon.proc is not None
    assert daemon.proc.poll() is None, "the daemon goes on while the disk is full"
    assert metric(port, "statusbot_store_errors_total") > 0

    filler.unlink()
    wait_for("the incident posted", lambda: sent(db) == 1)
    assert len(mastodon.statuses) == 1
    recover_and_stop(target, daemon, db)

    check_consistent(db, mastodon, posts=2)
    db.close()
    assert_clear_log(daemon.log.read_text(), database, "database or disk is full")


def test_a_disk_full_between_a_post_and_its_record_does_not_post_it_twice(
    tmp_path: Path, state: Path, target: Target, mastodon: TrackingMastodon, daemon_factory
) -> None:
    daemon, db, _port = start(tmp_path, state, target, mastodon, daemon_factory)
    mastodon.answer_delay = 1.0  # the status exists; its answer is a second away

    target.down()
    wait_for("the post to arrive", lambda: mastodon.inflight() > 0, timeout=30)
    filler = fill(state)  # before the answer: recording it must fail
    wait_for("the record to fail", lambda: "delivery 1 failed" in daemon.log_since_start())
    assert len(mastodon.statuses) == 1
    (claim,) = db.rows("SELECT status, remote_id FROM delivery")
    assert claim == ("sending", None), "the claim, recorded before the post, stays"

    mastodon.answer_delay = 0.0
    filler.unlink()
    wait_for("the post recorded", lambda: sent(db) == 1)
    assert len(mastodon.statuses) == 1, "the retry got the original status back"
    recover_and_stop(target, daemon, db)

    check_consistent(db, mastodon, posts=2)
    db.close()
    assert_clear_log(daemon.log.read_text(), state / "statusbot.db", "database or disk is full")


def test_read_only_database_files_hold_the_incident_back_until_writable_again(
    tmp_path: Path, state: Path, target: Target, mastodon: TrackingMastodon, daemon_factory
) -> None:
    daemon, db, port = start(tmp_path, state, target, mastodon, daemon_factory)
    assert daemon.proc is not None
    database = state / "statusbot.db"
    # Linux refuses this while the database is open for writing (EBUSY); if a kernel ever
    # allows it, the test uses it. Otherwise each write fails with EROFS, injected.
    remounted = _mount("-o", "remount,ro", str(state)).returncode == 0
    read_only = None if remounted else ReadOnlyFiles(daemon.proc.pid, database)
    try:
        wait_for("the write error", lambda: f"cannot write {database}" in daemon.log_since_start())
        failures = metric(port, "statusbot_check_failures_total")

        target.down()
        wait_for("the outage to be seen", outage_seen(port, failures))
        assert mastodon.statuses == [], "posted while the incident could not be recorded"
        assert db.value("SELECT count(*) FROM incident") == 0
        assert daemon.proc.poll() is None, "the daemon goes on while it cannot write"
    finally:
        if read_only is not None:
            read_only.lift()
        else:
            remount(state, "rw")

    wait_for("the incident posted", lambda: sent(db) == 1)
    assert len(mastodon.statuses) == 1
    recover_and_stop(target, daemon, db)

    check_consistent(db, mastodon, posts=2)
    db.close()
    problem = f"directory {state} is read-only" if remounted else "disk I/O error"
    assert_clear_log(daemon.log.read_text(), database, problem)


def test_an_io_error_says_when_the_file_system_is_read_only_or_full(state: Path) -> None:
    """SQLite reports a write the file system refused as "disk I/O error"; the message says
    why when the file system tells (a file system turned read-only by the kernel, or full)."""
    database = state / "statusbot.db"
    io_error = sqlite3.OperationalError("disk I/O error")
    filler = fill(state)
    assert describe(database, "write", io_error) == (
        f"cannot write {database}: disk I/O error (no space left on the file system of {state})"
    )
    filler.unlink()
    assert describe(database, "write", io_error) == f"cannot write {database}: disk I/O error"
    remount(state, "ro")
    assert describe(database, "write", io_error) == (
        f"cannot write {database}: disk I/O error (the file system of {state} is read-only)"
    )


def test_an_outage_held_for_the_canary_survives_a_full_disk(state: Path) -> None:
    """With a canary, an outage waits for the canary's answer; when the disk is full as that
    answer comes, the outage must still be announced once space is freed."""
    pipeline, store = make(state, CANARY)
    try:
        up_all(pipeline, 0)
        pipeline.handle([r("canary", 0, State.UP)])
        pipeline.handle([r("api.tcp", 30)])
        pipeline.handle([r("api.tcp", 40)])  # confirmed; held until the canary answers
        filler = fill(state)
        with pytest.raises(StoreError, match="database or disk is full"):
            pipeline.handle([r("canary", 42, State.UP)])  # the answer: written with the release
        filler.unlink()
        pipeline.flush()
        with store.read() as tx:
            (incident,) = tx.open_incidents()
            assert [e.kind for e in tx.events()] == [EventKind.INCIDENT_OPENED]
        assert incident.components == ("api",)
    finally:
        store.close()
