"""When the daemon rebuilds the page: a change that lands while a build runs (it runs beside
the writer) asks for the next build. (That a stop ends the rest between builds is checked by
tests/e2e/test_daemon.py, through the warning a stop used to give.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

from statusbot import config as configmod
from statusbot.runtime import Daemon
from statusbot.store import Store

CONFIG = """
components:
  - {id: api, name: API, checks: [{type: tcp, host: 127.0.0.1, port: 1}]}
"""


async def test_a_change_during_a_build_asks_for_the_next_one(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    builds: list[int] = []

    def build(*_: object) -> None:
        builds.append(len(builds))
        if len(builds) == 1:  # an incident is written while this build reads the store
            loop.call_soon_threadsafe(daemon._wake_couriers)
        else:
            loop.call_soon_threadsafe(stop.set)

    daemon = Daemon(configmod.from_text(CONFIG, "test.yaml", env={}), build_site=build)
    daemon.store = Store.open(f"sqlite:///{tmp_path}/statusbot.db")
    try:
        # the second build comes after the shortest rest, not after the quiet-time rebuild
        await asyncio.wait_for(daemon._pages(stop), timeout=30)
    finally:
        daemon.store.close()
    assert builds == [0, 1]
