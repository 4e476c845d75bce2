"""Probes: one spec class and one ``probe`` coroutine per check type, and the runner for them.

``PROBES`` is the one list of check types (blackbox_exporter style): ``AnyCheck`` must name the
same classes, and a test holds the two together. ``run_check`` owns what every probe shares:
the hard deadline and turning a stray exception (a bug) into a DOWN outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import Field

from statusbot.model import Outcome
from statusbot.probes import command, dns, heartbeat, http, tcp, tls
from statusbot.probes.base import CheckBase, Heartbeats, ProbeContext, TlsContexts
from statusbot.probes.command import CommandCheck
from statusbot.probes.dns import DnsCheck
from statusbot.probes.heartbeat import HeartbeatCheck, ping_key
from statusbot.probes.http import HttpCheck
from statusbot.probes.tcp import TcpCheck
from statusbot.probes.tls import TlsCheck

log = logging.getLogger(__name__)

AnyCheck = HttpCheck | TcpCheck | DnsCheck | TlsCheck | HeartbeatCheck | CommandCheck
CheckSpec = Annotated[AnyCheck, Field(discriminator="type")]

ProbeFn = Callable[[Any, ProbeContext], Awaitable[Outcome]]
"""``async def probe(spec: XCheck, ctx) -> Outcome`` (Any: each takes its own spec class)."""

PROBES: dict[type[CheckBase], ProbeFn] = {
    HttpCheck: http.probe,
    TcpCheck: tcp.probe,
    DnsCheck: dns.probe,
    TlsCheck: tls.probe,
    HeartbeatCheck: heartbeat.probe,
    CommandCheck: command.probe,
}

_REASON_CHARS = 300


async def run_check(
    spec: CheckBase,
    ctx: ProbeContext,
    timeout: float,  # noqa: ASYNC109 (enforcing the deadline is this function's job)
) -> Outcome:
    """Run the probe for ``spec`` with a hard deadline of ``timeout`` seconds; never raises.

    Past the deadline: DOWN "no answer within 10s". Any exception other than cancellation is a
    bug in a probe: logged with its traceback and reported as DOWN "probe error: …". A
    ``CancelledError`` from outside (shutdown) propagates. A spec type without a probe is a
    wiring error and raises ``KeyError`` before anything runs.
    """
    probe = PROBES[type(spec)]
    try:
        async with asyncio.timeout(timeout):
            return await probe(spec, ctx)
    except TimeoutError:
        return Outcome.down(f"no answer within {_secs(timeout)}")
    except Exception as exc:
        log.exception("probe error in %s check of %s", type(spec).__name__, spec.target())
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        return Outcome.down(f"probe error: {message}"[:_REASON_CHARS])


def _secs(seconds: float) -> str:
    """10 → "10s", 1.5 → "1.5s", 0.25 → "0.25s"."""
    return f"{round(seconds, 3):g}s"


__all__ = [
    "PROBES",
    "AnyCheck",
    "CheckBase",
    "CheckSpec",
    "CommandCheck",
    "DnsCheck",
    "HeartbeatCheck",
    "Heartbeats",
    "HttpCheck",
    "ProbeContext",
    "ProbeFn",
    "TcpCheck",
    "TlsCheck",
    "TlsContexts",
    "ping_key",
    "run_check",
]
