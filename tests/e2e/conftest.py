"""A real loopback HTTP target that goes down and comes back, and the daemon as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import pytest

from statusbot.store import Store

T = TypeVar("T")


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


class Target:
    """An HTTP service on 127.0.0.1 whose port really closes on ``down()``."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.up()

    def up(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _Health)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    yield t
    t.down()


def write_config(directory: Path, port: int, extra: str = "") -> Path:
    path = directory / "config.yaml"
    path.write_text(
        f"""
defaults: {{interval: 1s, timeout: 500ms, fail_after: 2, recover_after: 2}}
incidents: {{resolve_after: 0s}}
components:
  - id: api
    name: Public API
    checks: [{{type: http, url: "http://127.0.0.1:{port}/health", expect: {{body_contains: ok}}}}]
storage: {{url: "sqlite:///{directory}/statusbot.db"}}
{extra}
"""
    )
    return path


class Daemon:
    """``statusbot run`` in a subprocess, its log captured to a file."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log = config.parent / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def log_since_start(self) -> str:
        """What the current (latest) run wrote to the log."""
        return self.log.read_bytes()[self._offset :].decode(errors="replace")

    def start(self) -> None:
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "statusbot", "run", "-c", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def signal(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def daemon_factory() -> Iterator[Callable[[Path], Daemon]]:
    made: list[Daemon] = []

    def make(config: Path) -> Daemon:
        d = Daemon(config)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 40) -> T:
    """Poll until ``probe`` returns something truthy (waiting on a real daemon, not timing it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def read_store(directory: Path, fn: Callable[..., T]) -> T:
    store = Store.open(f"sqlite:///{directory}/statusbot.db")
    try:
        with store.read() as tx:
            return fn(tx)
    finally:
        store.close()
