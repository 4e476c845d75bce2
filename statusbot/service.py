"""Running under systemd: ``sd_notify``, the watchdog and the health it vouches for.

``Type=notify`` services tell systemd how they are doing over the datagram socket named in
``$NOTIFY_SOCKET`` (sd_notify(3)): ``READY=1`` once the store, config and schedule are up,
``STATUS=`` lines for ``systemctl status``, ``RELOADING=1``/``READY=1`` around a reload,
``STOPPING=1`` on the way out, and ``WATCHDOG=1`` pings. A ping says "this daemon works", so it is
sent only while ``Health`` finds the event loop ticking, check results arriving and the store
writable: a blind timer would keep a wedged daemon alive forever.

Outside systemd (no ``$NOTIFY_SOCKET``) every call here is a cheap no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

log = logging.getLogger("statusbot.service")

#: Shortest staleness ``Health`` tolerates by default, whatever the watchdog interval: the
#: daemon's housekeeping tick (which feeds ``tick`` and ``store_ok``) runs every 5 s.
MIN_GAP = 20.0


class _Once:
    """Whether a failing notification socket was already logged (once per process)."""

    logged = False


def sd_notify(*lines: str) -> bool:
    """Send ``lines`` (``"READY=1"``, ``"STATUS=…"``) as one datagram to ``$NOTIFY_SOCKET``.

    Returns True when sent; False when not under systemd (no ``$NOTIFY_SOCKET``: a no-op) or the
    socket could not be reached. Never raises: the first ``OSError`` is logged, later ones only
    at debug level, so a vanished socket cannot take the daemon down or flood the log.
    """
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr[0] == "@":
        addr = "\0" + addr[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(addr)
            sock.sendall("\n".join(lines).encode())
    except OSError as exc:
        if not _Once.logged:
            _Once.logged = True
            log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), exc)
        else:
            log.debug("cannot notify systemd: %s", exc)
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC`` (sd_watchdog_enabled(3)).

    None when the watchdog is off: ``WATCHDOG_USEC`` unset, not a positive integer, or
    ``WATCHDOG_PID`` set to another process (the variables were inherited, not meant for us).
    ``env`` defaults to ``os.environ`` and ``pid`` to ``os.getpid()``, both read at call time.
    """
    env = os.environ if env is None else env
    pid = os.getpid() if pid is None else pid
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner:
        try:
            if int(owner) != pid:
                return None
        except ValueError:
            return None
    return usec / 2 / 1_000_000


class _Timed(Protocol):
    """What ``result_gap`` reads from a check (``config.ResolvedCheck`` fits)."""

    @property
    def interval(self) -> float: ...

    @property
    def timeout(self) -> float: ...


def result_gap(checks: Iterable[_Timed]) -> float | None:
    """How long the daemon may go without storing any check result before that is a fault.

    Every check runs each ``interval`` and finishes within ``timeout``, so the busiest check
    yields a result at least every ``interval + timeout`` seconds; twice that leaves room for
    the start-up stagger and some lateness. None for a daemon with no checks.
    """
    gaps = [c.interval + c.timeout for c in checks]
    return 2 * min(gaps) if gaps else None


class Health:
    """Whether the daemon really works, from what it reports; pure, the clock is passed in.

    Times are seconds on a monotonic clock (``time.monotonic()``). The daemon calls ``tick``
    from a job on its event loop, ``result`` when check results were stored, ``store_ok`` after
    every successful write (``store_failed`` with the error when one fails), and
    ``expect_results`` with ``result_gap(checks)`` at start and after a reload.
    """

    def __init__(self, now: float, *, results_every: float | None = None) -> None:
        self._ticked = now
        self._result = now
        self._store_ok = now
        self._store_error: str | None = None
        self._results_every = results_every

    def tick(self, now: float) -> None:
        """The event loop ran a scheduled job: it is not blocked."""
        self._ticked = max(self._ticked, now)

    def result(self, now: float) -> None:
        """A check result was stored: checks run and their results get through."""
        self._result = max(self._result, now)

    def store_ok(self, now: float) -> None:
        """A write transaction committed: the database is writable."""
        self._store_ok = max(self._store_ok, now)
        self._store_error = None

    def store_failed(self, now: float, error: str) -> None:
        """A write failed. One failure is not fatal; ``healthy`` reports it only once no write
        has succeeded for ``max_gap``. ``now`` is accepted for symmetry and ignored."""
        del now
        self._store_error = error

    def expect_results(self, every: float | None, now: float) -> None:
        """Results should be stored at least every ``every`` seconds (None: no checks, none
        expected). Going from no checks to some starts the wait at ``now``."""
        if self._results_every is None and every is not None:
            self._result = max(self._result, now)
        self._results_every = every

    def healthy(self, now: float, *, max_gap: float) -> str | None:
        """None when healthy, else why not (every failing condition, ``; ``-separated).

        Healthy means: the loop ticked within ``max_gap``; a check result was stored within
        ``max(max_gap, results_every)`` or no check is configured (so none is due); and a
        write succeeded within ``max_gap``.
        """
        reasons: list[str] = []
        if (idle := now - self._ticked) > max_gap:
            reasons.append(f"event loop has not ticked for {idle:.0f}s")
        if self._results_every is not None:
            limit = max(max_gap, self._results_every)
            if (silent := now - self._result) > limit:
                reasons.append(
                    f"no check result stored for {silent:.0f}s (expected every "
                    f"{self._results_every:.0f}s at most)"
                )
        if (dry := now - self._store_ok) > max_gap:
            why = f": {self._store_error}" if self._store_error else ""
            reasons.append(f"store not written successfully for {dry:.0f}s{why}")
        return "; ".join(reasons) or None


class Notifier:
    """The daemon's side of ``Type=notify``: lifecycle messages and the guarded watchdog.

    Each method returns what ``sd_notify`` returned (False outside systemd).
    """

    def __init__(self, send: Callable[..., bool] = sd_notify) -> None:
        self._send = send
        self._status: str | None = None  # the last STATUS= sent (re-sent after a sick spell)

    def ready(self, status: str) -> bool:
        """Start-up or reload finished: ``READY=1`` with the summary for ``systemctl status``."""
        self._status = _one_line(status)
        return self._send("READY=1", f"STATUS={self._status}")

    def status(self, text: str) -> bool:
        """Update ``STATUS=``; an unchanged text is not sent again (returns False)."""
        line = _one_line(text)
        if line == self._status:
            return False
        self._status = line
        return self._send(f"STATUS={line}")

    def reloading(self) -> bool:
        """A reload begins; ``ready`` must follow, whatever the outcome. ``MONOTONIC_USEC`` is
        what systemd ≥ 253 requires with ``RELOADING=1``; 252 ignores it."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self._send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading configuration")

    def stopping(self) -> bool:
        """Shutdown begins (systemd stops expecting watchdog pings)."""
        return self._send("STOPPING=1", "STATUS=stopping: finishing checks and deliveries")

    def watchdog(self) -> bool:
        """One watchdog ping. Call through ``watchdog_loop``, which checks health first."""
        return self._send("WATCHDOG=1")

    async def watchdog_loop(
        self,
        health: Health,
        clock: Callable[[], float],
        stop: asyncio.Event,
        interval: float,
        *,
        max_gap: float | None = None,
    ) -> None:
        """Every ``interval`` s until ``stop`` is set: ping ``WATCHDOG=1`` if ``health`` is good.

        While unhealthy no ping goes out (systemd then aborts and restarts the service once the
        watchdog timeout passes); the reason is logged and shown as ``STATUS=`` once per
        episode, and the recovery is logged too. ``max_gap`` defaults to
        ``max(2 * interval, MIN_GAP)``: the whole watchdog timeout, but never shorter than a
        few housekeeping ticks.
        """
        gap = max(2 * interval, MIN_GAP) if max_gap is None else max_gap
        sick = False
        while not stop.is_set():
            reason = health.healthy(clock(), max_gap=gap)
            if reason is None:
                if sick:
                    sick = False
                    log.warning("healthy again; watchdog pings resume")
                    if self._status is not None:
                        self._send(f"STATUS={self._status}")
                self.watchdog()
            elif not sick:
                sick = True
                log.error("unhealthy, withholding the watchdog ping: %s", reason)
                self._send(f"STATUS=unhealthy: {_one_line(reason)}")
            try:
                async with asyncio.timeout(interval):
                    await stop.wait()
            except TimeoutError:
                pass


def status_line(
    checks: int, components: int, open_incidents: int, pending: int, *, degraded: int = 0
) -> str:
    """The one-line summary for ``STATUS=``, e.g.
    "12 checks on 5 components · 1 incident open · 3 announcements waiting".

    ``degraded``: runs missed or skipped by the scheduler (monitoring degraded, not a target).
    """
    parts = [
        f"{_count(checks, 'check')} on {_count(components, 'component')}",
        f"{_count(open_incidents, 'incident')} open",
        f"{_count(pending, 'announcement')} waiting",
    ]
    if degraded:
        parts.append(f"monitoring degraded: {_count(degraded, 'run')} missed")
    return " · ".join(parts)


def _count(n: int, noun: str) -> str:
    if n == 0:
        return f"no {noun}s"
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _one_line(text: str) -> str:
    """A STATUS= value must not contain a newline (it would start a new assignment)."""
    return " ".join(text.split())
