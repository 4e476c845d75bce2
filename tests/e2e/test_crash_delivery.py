"""Killed at random moments while it posts, the daemon neither loses nor repeats a post.

An incident with five announcements waits in the outbox; the daemon is started and SIGKILLed
again and again — before a claim, between claim and send, while the server has created the
status but not answered, after the answer but before it is recorded. Every second kill waits
for a claim, so kills between a claim and its record do not depend on luck. In the end the Mastodon
test server holds exactly five statuses, one thread, in order (idempotency keys do the rest).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from statusbot.model import DeliveryStatus
from tests.e2e.conftest import read_store, wait_for
from tests.faults.support import Db
from tests.support.mastodon_server import MastodonServer

TOKEN = "masto-token-crash-0123456789"
KILLS = 25


@pytest.fixture
def mastodon() -> Iterator[tuple[MastodonServer, str]]:
    server = MastodonServer(token=TOKEN)
    server.answer_delay = 0.15
    url, stop = server.start_in_thread()
    yield server, url
    stop()


def _cli(config: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "statusbot", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MASTO_TOKEN": TOKEN},
    )
    assert done.returncode == 0, done.stderr


def test_sigkill_anywhere_in_delivery_loses_and_repeats_nothing(
    tmp_path: Path, mastodon, daemon_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTO_TOKEN", TOKEN)
    server, url = mastodon
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
incidents: {{remind_after: 0s}}
components: [{{id: api, name: Public API}}]
channels:
  mastodon: {{api_base_url: "{url}", access_token: "${{env:MASTO_TOKEN}}", timeout: 2s}}
storage: {{url: "sqlite:///{tmp_path}/statusbot.db"}}
"""
    )
    _cli(
        config,
        "incident",
        "open",
        "--title",
        "API errors",
        "--component",
        "api",
        "--message",
        "Requests fail.",
    )
    for n in range(3):
        _cli(config, "incident", "update", "1", "--message", f"Still on it, step {n + 1}.")
    _cli(config, "incident", "resolve", "1", "--message", "All good again.")

    def all_sent() -> bool:
        return read_store(
            tmp_path, lambda tx: all(d.status is DeliveryStatus.SENT for d in tx.deliveries())
        )

    db = Db(tmp_path / "statusbot.db")

    def attempts() -> dict[int, int]:
        return dict(db.rows("SELECT id, attempts FROM delivery"))

    def claimed_since(before: dict[int, int]) -> bool:
        """A delivery was claimed by this start (not left "sending" by the last kill)."""
        rows = db.rows("SELECT id, attempts FROM delivery WHERE status = 'sending'")
        return any(n > before.get(i, 0) for i, n in rows)

    rng = random.Random(20261122)
    daemon = daemon_factory(config)
    kills = 0
    while kills < KILLS and not all_sent():
        before = attempts()
        daemon.start()
        if kills % 2:  # aimed: between a claim and its record (the server answers in 0.15 s)
            deadline = time.monotonic() + 3
            while not claimed_since(before) and time.monotonic() < deadline:
                time.sleep(0.002)
        else:  # anywhere: the daemon itself decides when it posts
            time.sleep(rng.uniform(0.3, 1.5))
        daemon.signal(signal.SIGKILL)
        kills += 1
    db.close()
    daemon.start()
    wait_for("every delivery", all_sent, timeout=60)
    wait_for("the daemon to run", lambda: "statusbot running" in daemon.log_since_start())
    assert daemon.signal(signal.SIGTERM) == 0

    statuses = server.statuses
    assert len(statuses) == 5, [s.text[:40] for s in statuses]
    assert [s.in_reply_to_id for s in statuses] == [None] + [s.id for s in statuses[:-1]]
    remote = read_store(tmp_path, lambda tx: [d.remote_id for d in tx.deliveries()])
    assert remote == [s.id for s in statuses]
    assert kills >= 3, "the test must really have killed the daemon while it worked"
    interrupted = daemon.log.read_text().count("interrupted by the last stop")
    assert interrupted >= 1, "at least one kill must land between a claim and its record"
