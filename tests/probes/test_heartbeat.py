"""Heartbeat probe: judged by an injected clock, pings keyed by the token's sha256."""

from __future__ import annotations

import hashlib

import aiohttp
import pytest

from statusbot.model import State
from statusbot.probes import HeartbeatCheck, Heartbeats, ProbeContext, TlsContexts, ping_key
from statusbot.probes.heartbeat import probe
from tests.conftest import FakeClock

TOKEN = "cron-nightly-backup-7f3a"


@pytest.fixture
def hb_ctx(session: aiohttp.ClientSession, clock: FakeClock) -> ProbeContext:
    return ProbeContext(session, TlsContexts(), Heartbeats(started_at=clock()), clock=clock)


def spec() -> HeartbeatCheck:
    return HeartbeatCheck.model_validate(
        {"type": "heartbeat", "token": TOKEN, "period": "5m", "grace": "1m"}
    )


def test_pings_are_keyed_by_sha256_of_the_token_not_the_token() -> None:
    assert spec().ping_key() == ping_key(TOKEN) == hashlib.sha256(TOKEN.encode()).hexdigest()
    assert TOKEN not in repr(spec())


async def test_no_ping_yet_is_up_within_period_and_grace(
    hb_ctx: ProbeContext, clock: FakeClock
) -> None:
    clock.advance(6 * 60)
    outcome = await probe(spec(), hb_ctx)
    assert (outcome.state, outcome.reason) == (
        State.UP,
        "waiting for the first ping (started 6m ago)",
    )


async def test_no_ping_beyond_period_and_grace_is_down(
    hb_ctx: ProbeContext, clock: FakeClock
) -> None:
    clock.advance(7 * 60)
    outcome = await probe(spec(), hb_ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason == "no ping for 7m since start (expected every 5m + 1m grace)"
    assert outcome.latency is None


async def test_ping_brings_it_back_and_silence_takes_it_down(
    hb_ctx: ProbeContext, clock: FakeClock
) -> None:
    clock.advance(10 * 60)
    assert (await probe(spec(), hb_ctx)).state is State.DOWN
    hb_ctx.heartbeats.ping(ping_key(TOKEN), clock())
    clock.advance(2 * 60)
    outcome = await probe(spec(), hb_ctx)
    assert (outcome.state, outcome.reason) == (State.UP, "last ping 2m ago")
    clock.advance(5 * 60)
    outcome = await probe(spec(), hb_ctx)
    assert (outcome.state, outcome.reason) == (
        State.DOWN,
        "no ping for 7m (expected every 5m + 1m grace)",
    )


async def test_another_tokens_ping_does_not_count(hb_ctx: ProbeContext, clock: FakeClock) -> None:
    hb_ctx.heartbeats.ping(ping_key("some-other-token-0000"), clock())
    clock.advance(7 * 60)
    assert (await probe(spec(), hb_ctx)).state is State.DOWN
