"""Store fixtures: a real SQLite file per test, and a fixed starting time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from statusbot.model import ComponentInfo
from statusbot.store import Store

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CHANNELS = ("mastodon", "x")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "statusbot.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{db_path}")
    with s.write() as tx:
        tx.sync_components(
            [
                ComponentInfo("api", "Public API", "Core", position=0),
                ComponentInfo("db", "Database", "Core", position=1),
                ComponentInfo("web", "Website", None, position=2),
            ]
        )
    yield s
    s.close()
