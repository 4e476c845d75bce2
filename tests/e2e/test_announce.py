"""Issue 3's bar: one incident — opened, updated twice by an operator, reminded once, resolved —
is exactly one thread of five posts, in order, on the Mastodon and on the X test server, every
text within its limit. The daemon is the real one, in a subprocess; the servers run on loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from statusbot.fitting import mastodon_counter, x_counter
from statusbot.model import DeliveryStatus, EventKind
from tests.e2e.conftest import Target, read_store, wait_for
from tests.support.mastodon_server import MastodonServer
from tests.support.x_server import XServer

MASTODON_TOKEN = "masto-token-e2e-0123456789"
X_SECRETS = {f"X_{n}": f"x-secret-{n.lower()}-0123456789" for n in ("CK", "CS", "AT", "AS")}


@pytest.fixture
def mastodon() -> Iterator[tuple[MastodonServer, str]]:
    server = MastodonServer(token=MASTODON_TOKEN)
    url, stop = server.start_in_thread()
    yield server, url
    stop()


@pytest.fixture
def x_server() -> Iterator[XServer]:
    with XServer(consumer_key=X_SECRETS["X_CK"]) as server:
        yield server


def _config(directory: Path, target: int, mastodon_url: str, x_url: str) -> Path:
    path = directory / "config.yaml"
    path.write_text(
        f"""
site: {{title: Example Status, url: "https://status.example.com"}}
defaults: {{interval: 1s, timeout: 500ms, fail_after: 2, recover_after: 2}}
incidents: {{resolve_after: 0s, remind_after: 6s}}
components:
  - id: api
    name: Public API
    checks: [{{type: http, url: "http://127.0.0.1:{target}/health"}}]
channels:
  mastodon: {{api_base_url: "{mastodon_url}", access_token: "${{env:MASTO_TOKEN}}", timeout: 2s}}
  x:
    consumer_key: "${{env:X_CK}}"
    consumer_secret: "${{env:X_CS}}"
    access_token: "${{env:X_AT}}"
    access_token_secret: "${{env:X_AS}}"
    api_base: "{x_url}"
    timeout: 2s
storage: {{url: "sqlite:///{directory}/statusbot.db"}}
"""
    )
    return path


def _statusbot(config: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "statusbot", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_env()},
    )
    assert done.returncode == 0, done.stderr


def _env() -> dict[str, str]:
    return {"MASTO_TOKEN": MASTODON_TOKEN, **X_SECRETS}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _env().items():
        monkeypatch.setenv(name, value)


def _start(directory: Path, target: Target, mastodon_url: str, x_url: str, daemon_factory):
    """Config, daemon started, first results seen; returns (config path, daemon)."""
    config = _config(directory, target.port, mastodon_url, x_url)
    daemon = daemon_factory(config)
    daemon.start()
    wait_for("the first results", lambda: read_store(directory, lambda tx: tx.latest_results()))
    return config, daemon


def _events(directory: Path) -> list[EventKind]:
    return read_store(directory, lambda tx: [e.kind for e in tx.events()])


def test_one_incident_is_one_thread_of_five_posts_on_mastodon_and_on_x(
    tmp_path: Path,
    target: Target,
    mastodon,
    x_server: XServer,
    daemon_factory,
) -> None:
    server, url = mastodon
    config, daemon = _start(tmp_path, target, url, x_server.base_url, daemon_factory)

    target.down()
    wait_for("the incident", lambda: read_store(tmp_path, lambda tx: tx.open_incidents()))
    _statusbot(
        config,
        "incident",
        "update",
        "1",
        "--phase",
        "identified",
        "--message",
        "A bad deploy broke the API; we are rolling it back.",
    )
    _statusbot(
        config,
        "incident",
        "update",
        "1",
        "--phase",
        "monitoring",
        "--message",
        "The rollback is done; we are watching error rates.",
    )
    wait_for("a reminder", lambda: EventKind.INCIDENT_REMINDER in _events(tmp_path), timeout=30)
    target.up()
    wait_for("the resolution", lambda: EventKind.INCIDENT_RESOLVED in _events(tmp_path))
    wait_for(
        "every delivery",
        lambda: read_store(
            tmp_path, lambda tx: all(d.status is DeliveryStatus.SENT for d in tx.deliveries())
        ),
    )
    assert daemon.signal(signal.SIGTERM) == 0

    assert _events(tmp_path) == [
        EventKind.INCIDENT_OPENED,
        EventKind.INCIDENT_UPDATED,
        EventKind.INCIDENT_UPDATED,
        EventKind.INCIDENT_REMINDER,
        EventKind.INCIDENT_RESOLVED,
    ]
    toots = server.statuses
    assert len(toots) == 5
    assert [t.in_reply_to_id for t in toots] == [None] + [t.id for t in toots[:-1]]
    tweets = x_server.live()
    assert len(tweets) == 5
    assert [t.reply_to for t in tweets] == [None] + [t.id for t in tweets[:-1]]
    for posts in ([t.text for t in toots], [t.text for t in tweets]):
        assert "rolling it back" in posts[1]
        assert "watching error rates" in posts[2]
        assert "still" in posts[3].lower()
        assert "https://status.example.com/incidents/1.html" in posts[4]
    count_m, count_x = mastodon_counter(), x_counter()
    assert all(count_m(t.text) <= 500 for t in toots)
    assert all(count_x(t.text) <= 280 for t in tweets)
    assert len({t.text for t in tweets}) == 5, "X texts are unique"
    log = daemon.log.read_text()
    for secret in (MASTODON_TOKEN, *X_SECRETS.values()):
        assert secret not in log


def test_a_hanging_channel_delays_neither_the_other_channel_nor_the_probes(
    tmp_path: Path,
    target: Target,
    mastodon,
    x_server: XServer,
    daemon_factory,
) -> None:
    server, url = mastodon
    server.stall_before_next(1000)  # Mastodon accepts connections and never answers
    _config_path, daemon = _start(tmp_path, target, url, x_server.base_url, daemon_factory)
    target.down()
    wait_for("the post on X", lambda: len(x_server.live()) == 1)
    assert server.statuses == []

    def results() -> int:
        return len(
            read_store(
                tmp_path,
                lambda tx: tx.results(
                    "api.http", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
                ),
            )
        )

    seen = results()
    wait_for("the probes to go on", lambda: results() >= seen + 3)
    wait_for(
        "Mastodon's failure recorded",
        lambda: read_store(
            tmp_path,
            lambda tx: any(
                d.channel == "mastodon" and d.status is DeliveryStatus.FAILED
                for d in tx.deliveries()
            ),
        ),
    )
    assert daemon.signal(signal.SIGTERM) == 0, "stops within its bound despite the hang"
