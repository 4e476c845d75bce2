"""Probe fixtures: a real aiohttp session, a ProbeContext around it, a test CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from statusbot.model import utcnow
from statusbot.probes.base import Heartbeats, ProbeContext, TlsContexts
from statusbot.probes.http import make_session
from tests.probes.certs import Authority


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The daemon's own session: a fresh connection per check, cookies per run."""
    async with make_session() as client:
        yield client


@pytest.fixture
def ctx(session: aiohttp.ClientSession) -> ProbeContext:
    """Real clock: TLS verification compares certificates with the real time anyway."""
    return ProbeContext(session, TlsContexts(), Heartbeats(started_at=utcnow()))


@pytest.fixture(scope="session")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(Path(tmp_path_factory.mktemp("ca")))
