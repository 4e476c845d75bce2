"""TLS expiry probe against a loopback TLS server with certificates made in the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import timedelta

import pytest

from statusbot.model import State
from statusbot.probes import ProbeContext, TlsCheck
from statusbot.probes.tls import probe
from tests.conftest import FakeClock
from tests.probes.certs import Authority, Issued

Serve = Callable[[Issued], AbstractAsyncContextManager[int]]


@pytest.fixture
def serve() -> Serve:
    @asynccontextmanager
    async def serving(leaf: Issued) -> AsyncIterator[int]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with suppress(OSError):
                await reader.read(1)
            writer.close()

        server = await asyncio.start_server(
            handle, "127.0.0.1", 0, ssl=leaf.server_context(), ssl_handshake_timeout=2
        )
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            await server.wait_closed()

    return serving


def spec(port: int, authority: Authority | None, **fields: object) -> TlsCheck:
    ca = {"ca_file": str(authority.ca_file)} if authority else {}
    return TlsCheck.model_validate(
        {
            "type": "tls",
            "host": "127.0.0.1",
            "port": port,
            "server_name": "localhost",
            **ca,
            **fields,
        }
    )


async def test_expiring_in_3_days_is_degraded(
    authority: Authority, serve: Serve, ctx: ProbeContext
) -> None:
    leaf = authority.issue("soon", valid_for=timedelta(days=3))
    async with serve(leaf) as port:
        outcome = await probe(spec(port, authority, warn_days=14), ctx)
    assert outcome.state is State.DEGRADED
    assert outcome.reason == f"certificate expires in 3 days ({leaf.not_after.date()})"
    assert outcome.latency is not None


async def test_valid_90_days_is_up(authority: Authority, serve: Serve, ctx: ProbeContext) -> None:
    leaf = authority.issue("fine", valid_for=timedelta(days=90))
    async with serve(leaf) as port:
        outcome = await probe(spec(port, authority), ctx)
    assert outcome.state is State.UP
    assert outcome.reason == f"certificate expires in 90 days ({leaf.not_after.date()})"


async def test_expired_is_down_with_date(
    authority: Authority, serve: Serve, ctx: ProbeContext
) -> None:
    leaf = authority.issue("old", valid_for=-timedelta(days=2), age=timedelta(days=30))
    async with serve(leaf) as port:
        outcome = await probe(spec(port, authority), ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason == (
        "certificate verify failed: certificate has expired; "
        f"it expired 2 days ago ({leaf.not_after.date()})"
    )


async def test_expiry_judged_by_the_injected_clock(
    authority: Authority, serve: Serve, ctx: ProbeContext
) -> None:
    leaf = authority.issue("later", valid_for=timedelta(days=90))
    ctx.clock = FakeClock(leaf.not_after + timedelta(days=10))
    async with serve(leaf) as port:
        outcome = await probe(spec(port, authority), ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason == f"certificate expired 10 days ago ({leaf.not_after.date()})"


async def test_untrusted_self_signed_is_down_and_still_tells_expiry(
    authority: Authority, serve: Serve, ctx: ProbeContext
) -> None:
    leaf = authority.issue("selfie", valid_for=timedelta(days=30), self_signed=True)
    async with serve(leaf) as port:
        outcome = await probe(spec(port, None), ctx)
    assert outcome.state is State.DOWN
    assert "verify failed" in outcome.reason
    assert outcome.reason.startswith("certificate verify failed: self")  # self-signed / self signed
    assert outcome.reason.endswith(f"; it expires in 30 days ({leaf.not_after.date()})")


async def test_name_mismatch_is_a_verify_failure(
    authority: Authority, serve: Serve, ctx: ProbeContext
) -> None:
    leaf = authority.issue("named", valid_for=timedelta(days=90))
    async with serve(leaf) as port:
        outcome = await probe(spec(port, authority, server_name="api.example.com"), ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason.startswith("certificate verify failed: Hostname mismatch")


async def test_nothing_listening_is_refused(ctx: ProbeContext, authority: Authority) -> None:
    leaf = authority.issue("gone", valid_for=timedelta(days=90))
    server = await asyncio.start_server(
        lambda r, w: None, "127.0.0.1", 0, ssl=leaf.server_context()
    )
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    outcome = await probe(spec(port, authority), ctx)
    assert (outcome.state, outcome.reason) == (State.DOWN, f"connection refused 127.0.0.1:{port}")
