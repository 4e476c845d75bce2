"""Fixtures of the fault tests: the e2e target and daemon, the Mastodon test server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import daemon_factory, target  # noqa: F401 - fixtures used here too
from tests.faults.support import TOKEN, TrackingMastodon


@pytest.fixture
def mastodon(monkeypatch: pytest.MonkeyPatch) -> Iterator[TrackingMastodon]:
    """The Mastodon test server on loopback (``.base_url``); the daemon finds its token in
    MASTO_TOKEN."""
    monkeypatch.setenv("MASTO_TOKEN", TOKEN)
    server = TrackingMastodon(token=TOKEN)
    _url, stop = server.start_in_thread()
    yield server
    stop()
