"""TCP probe against a real listener on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

from statusbot.model import State
from statusbot.probes import ProbeContext, TcpCheck
from statusbot.probes.tcp import probe


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_listener_up_then_closed_is_refused(ctx: ProbeContext) -> None:
    accepted = asyncio.Event()

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    spec = TcpCheck(type="tcp", host="127.0.0.1", port=port)
    outcome = await probe(spec, ctx)
    assert (outcome.state, outcome.reason) == (State.UP, f"connected to 127.0.0.1:{port}")
    assert outcome.latency is not None
    await accepted.wait()

    server.close()
    await server.wait_closed()
    outcome = await probe(spec, ctx)
    assert (outcome.state, outcome.reason) == (State.DOWN, f"connection refused 127.0.0.1:{port}")
    assert outcome.latency is None


async def test_refused_on_every_address_of_a_name_is_still_refused(ctx: ProbeContext) -> None:
    port = free_port()
    outcome = await probe(TcpCheck(type="tcp", host="localhost", port=port), ctx)
    assert (outcome.state, outcome.reason) == (State.DOWN, f"connection refused localhost:{port}")


def test_target_brackets_ipv6() -> None:
    assert TcpCheck(type="tcp", host="::1", port=5432).target() == "[::1]:5432"
