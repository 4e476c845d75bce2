"""TCP probe: can we open a connection to host:port?

Also home of the connection helpers the other socket probes share: ``connect_error`` turns an
``OSError`` from connecting into a reason a human understands, ``close_quietly`` closes a stream
without letting a rude peer stall the probe.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from contextlib import suppress
from typing import Literal

from pydantic import Field

from statusbot.model import Outcome
from statusbot.probes.base import CheckBase, ProbeContext

_CLOSE_GRACE = 1.0  # seconds a peer gets to acknowledge our close before we abort


class TcpCheck(CheckBase):
    """Up when a TCP connection to ``host:port`` opens; nothing is sent."""

    type: Literal["tcp"] = Field(description="Check type: open a TCP connection.")
    host: str = Field(min_length=1, description="Host name or IP address to connect to.")
    port: int = Field(ge=1, le=65535, description="TCP port (1-65535).")

    def target(self) -> str:
        return host_port(self.host, self.port)


def host_port(host: str, port: int | None) -> str:
    """``host:port``, with IPv6 literals in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}" if port is not None else host


def connect_error(exc: OSError, host: str, port: int | None) -> str:
    """Why connecting to ``host:port`` failed, in words ("connection refused 127.0.0.1:5432")."""
    where = host_port(host, port)
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed for {host}: {exc.strerror or exc}"
    # With several addresses (localhost → ::1 and 127.0.0.1) asyncio raises one plain OSError
    # ("Multiple exceptions: [Errno 111] …"); all refused still means refused.
    if isinstance(exc, ConnectionRefusedError) or (
        exc.errno is None and f"[Errno {errno.ECONNREFUSED}]" in str(exc)
    ):
        return f"connection refused {where}"
    if isinstance(exc, ConnectionResetError):
        return f"connection reset by {where}"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return f"no route to {where}"
    return f"cannot connect to {where}: {exc.strerror or exc}"


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``; abort if the peer does not finish the close within a second."""
    writer.close()
    try:
        async with asyncio.timeout(_CLOSE_GRACE):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        # OSError includes ssl.SSLError (a peer that drops without close_notify).
        with suppress(Exception):
            writer.transport.abort()


async def probe(spec: TcpCheck, ctx: ProbeContext) -> Outcome:
    """Open and close a connection; latency is the time to connect."""
    started = time.perf_counter()
    try:
        _reader, writer = await asyncio.open_connection(spec.host, spec.port)
    except TimeoutError:
        raise  # the runner's deadline, not ours to describe
    except OSError as exc:
        return Outcome.down(connect_error(exc, spec.host, spec.port))
    latency = time.perf_counter() - started
    await close_quietly(writer)
    return Outcome.up(f"connected to {spec.target()}", latency)
