"""What the fault tests share: a config, plain reads of the database, a Mastodon test server
that tells what it has in flight, the CLI, and a daemon that starts in a fraction of a second.

``statusbot run`` spends about 1.5 s importing before it does anything (2 cores). A test that
kills the daemon fifty times would spend most of its time there, so ``ForkServer`` imports
statusbot once in a helper process and forks a fresh ``statusbot run`` from it for every start:
each daemon is still its own process (own pid, event loop, SQLite connections, sockets) and
runs the real entry point (``statusbot.entry.main`` with ``run -c CONFIG``); a SIGKILL ends it
exactly as it ends one started with ``python -m statusbot``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.mastodon_server import MastodonServer

TOKEN = "masto-token-faults-0123456789"
ENV = {**os.environ, "MASTO_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}


def write_config(
    directory: Path, state: Path, port: int, mastodon_url: str, extra: str = ""
) -> Path:
    """Fast detection (0.25 s probes, 2 to go down or up), instant resolution, no reminders,
    one Mastodon channel; the database in ``state``, everything else in ``directory``."""
    path = directory / "config.yaml"
    path.write_text(
        f"""
defaults: {{interval: 250ms, timeout: 200ms, fail_after: 2, recover_after: 2}}
incidents: {{resolve_after: 0s, remind_after: 0s}}
components:
  - id: api
    name: Public API
    checks: [{{type: http, url: "http://127.0.0.1:{port}/health", expect: {{body_contains: ok}}}}]
channels:
  mastodon: {{api_base_url: "{mastodon_url}", access_token: "${{env:MASTO_TOKEN}}", timeout: 2s}}
storage: {{url: "sqlite:///{state}/statusbot.db"}}
{extra}
"""
    )
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``statusbot ARGS -c CONFIG`` as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "statusbot", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env=ENV,
        timeout=60,
    )


class TrackingMastodon(MastodonServer):
    """The Mastodon test server, numbering the status posts it receives (1, 2, …) and telling
    which are in flight and which were answered; ``after`` a number means "sent by a daemon
    started after that post arrived" (a killed daemon's request may still be in flight).

    ``kill_after_answer(after, fn)``: call ``fn`` once, right after the answer to the next post
    numbered above ``after`` has been written to the socket (answered, not yet recorded)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.received = 0
        self._inflight: set[int] = set()
        self._answered: list[int] = []
        self._hook: tuple[int, Callable[[], None]] | None = None

    def inflight(self, after: int = 0) -> int:
        return sum(1 for n in list(self._inflight) if n > after)

    def answered(self, after: int = 0) -> int:
        return sum(1 for n in list(self._answered) if n > after)

    def kill_after_answer(self, after: int, fn: Callable[[], None] | None) -> None:
        self._hook = None if fn is None else (after, fn)

    async def _post(self, request: web.Request) -> web.StreamResponse:
        self.received += 1
        number = self.received
        self._inflight.add(number)
        try:
            response = await super()._post(request)
            hook = self._hook
            if hook is not None and number > hook[0]:
                self._hook = None
                await response.prepare(request)
                await response.write_eof()
                hook[1]()
            return response
        finally:
            self._inflight.discard(number)
            self._answered.append(number)


class Db:
    """Plain SQL on the daemon's database from the test (autocommit reads; WAL lets the daemon
    write meanwhile). Connects only once the daemon has created the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """The rows; none while the file or the schema is not there yet (a daemon killed
        before its migrations finished leaves them to the next start)."""
        if self._conn is None:
            if not self.path.exists():
                return []
            self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if str(exc).startswith(("no such table", "no such column")):
                return []
            raise

    def value(self, sql: str, *args: object) -> Any:
        rows = self.rows(sql, *args)
        return rows[0][0] if rows else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_ZYGOTE = r"""
import ctypes, os, signal, sys
import statusbot.cli, statusbot.delivery, statusbot.entry, statusbot.page.site, statusbot.runtime

PR_SET_PDEATHSIG = 1
live = set()

def child(log, config):
    code = 1
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the server
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.argv = ["statusbot", "run", "-c", config]
        code = statusbot.entry.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

while line := sys.stdin.readline():
    command, _, argument = line.rstrip("\n").partition(" ")
    if command == "start":
        log, config = argument.split("\t")
        pid = os.fork()
        if pid == 0:
            child(log, config)
        live.add(pid)
        print(pid, flush=True)
    elif command == "wait":
        _, status = os.waitpid(int(argument), 0)
        live.discard(int(argument))
        print(os.waitstatus_to_exitcode(status), flush=True)
for pid in live:  # the test went away: so do its daemons
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""


class ForkServer:
    """A process that imported statusbot and forks ``statusbot run`` on demand."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
            cwd=Path(__file__).resolve().parents[2],
        )
        self.live: set[int] = set()

    def _ask(self, line: str) -> int:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()
        answer = self._proc.stdout.readline()
        if not answer:
            raise RuntimeError("the fork server died")
        return int(answer)

    def start(self, config: Path, log: Path) -> int:
        pid = self._ask(f"start {log}\t{config}")
        self.live.add(pid)
        return pid

    def wait(self, pid: int) -> int:
        """Reap ``pid`` (blocks until it ended); its exit code (-9 after SIGKILL)."""
        code = self._ask(f"wait {pid}")
        self.live.discard(pid)
        return code

    def close(self) -> None:
        for pid in list(self.live):
            os.kill(pid, signal.SIGKILL)
            self.wait(pid)
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


class QuickDaemon:
    """``statusbot run -c CONFIG`` forked from a ``ForkServer``; the log appended to
    ``daemon.log`` beside the config (the same interface as tests.e2e's ``Daemon``)."""

    def __init__(self, server: ForkServer, config: Path) -> None:
        self.server = server
        self.config = config
        self.log = config.parent / "daemon.log"
        self.pid: int | None = None
        self._offset = 0

    def start(self) -> None:
        assert self.pid is None, "already running"
        self.log.touch()
        self._offset = self.log.stat().st_size
        self.pid = self.server.start(self.config, self.log)

    def log_since_start(self) -> str:
        return self.log.read_bytes()[self._offset :].decode(errors="replace")

    def signal(self, sig: signal.Signals) -> int:
        """Send ``sig`` and wait for the end; returns the exit code."""
        assert self.pid is not None
        os.kill(self.pid, sig)
        code = self.server.wait(self.pid)
        self.pid = None
        return code

    def stop(self) -> None:
        if self.pid is not None:
            self.signal(signal.SIGKILL)
