"""The daemon as a service: heartbeat pings over HTTP, SIGHUP reload, packaged files."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from statusbot.model import State
from tests.e2e.conftest import read_store, wait_for

TOKEN = "cron-job-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # loopback only
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return 0  # not listening (yet)


def _heartbeat_config(directory: Path, port: int, extra: str = "") -> Path:
    path = directory / "config.yaml"
    path.write_text(
        f"""
defaults: {{interval: 1s, timeout: 500ms, fail_after: 2, recover_after: 2}}
incidents: {{resolve_after: 0s}}
components:
  - id: nightly
    name: Nightly export
    checks: [{{type: heartbeat, token: "${{env:HB_TOKEN}}", period: 2s, grace: 1s}}]
http: {{listen: "127.0.0.1:{port}"}}
storage: {{url: "sqlite:///{directory}/statusbot.db"}}
{extra}
"""
    )
    return path


def _state(directory: Path) -> State | None:
    return read_store(directory, lambda tx: tx.component_states().get("nightly", (None,))[0])


def test_heartbeat_pings_keep_it_up_and_silence_opens_an_incident(
    tmp_path: Path, daemon_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HB_TOKEN", TOKEN)
    port = _free_port()
    daemon = daemon_factory(_heartbeat_config(tmp_path, port))
    daemon.start()
    base = f"http://127.0.0.1:{port}"
    wait_for("the listener", lambda: _get(f"{base}/healthz") == 200)
    assert _get(f"{base}/ping/not-the-token") == 404
    wait_for("a ping to be accepted", lambda: _get(f"{base}/ping/{TOKEN}") == 200)
    wait_for("the heartbeat to be up", lambda: _state(tmp_path) is State.UP)

    # The cron job stops calling: period 2s + grace 1s later it is down, and an incident opens.
    wait_for("an incident", lambda: read_store(tmp_path, lambda tx: tx.open_incidents()))
    assert _state(tmp_path) is State.DOWN
    assert daemon.signal(signal.SIGINT) == 0, "Ctrl-C stops cleanly too"
    log = daemon.log.read_text()
    assert TOKEN not in log, "the token is a secret and must never be logged"
    assert TOKEN not in (tmp_path / "statusbot.db").read_bytes().decode("latin-1")


def test_sighup_swaps_in_a_good_config_and_keeps_the_old_one_when_bad(
    tmp_path: Path, daemon_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HB_TOKEN", TOKEN)
    port = _free_port()
    config = _heartbeat_config(tmp_path, port)
    daemon = daemon_factory(config)
    daemon.start()
    wait_for("the listener", lambda: _get(f"http://127.0.0.1:{port}/healthz") == 200)
    assert daemon.proc is not None

    config.write_text(config.read_text().replace("Nightly export", "Nightly data export"))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for("the reload", lambda: "config reloaded" in daemon.log.read_text())
    names = read_store(tmp_path, lambda tx: [c.name for c in tx.components()])
    assert names == ["Nightly data export"]

    config.write_text(config.read_text().replace("interval: 1s", "interval: soon"))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for("the refusal", lambda: "reload refused" in daemon.log.read_text())
    assert "defaults.interval: not a duration: 'soon'" in daemon.log.read_text()
    assert daemon.proc.poll() is None, "a bad config must not take the daemon down"
    assert _get(f"http://127.0.0.1:{port}/ping/{TOKEN}") == 200, "still serving"
    before = _result_count(tmp_path)
    wait_for("checks to go on under the old config", lambda: _result_count(tmp_path) > before + 2)
    assert daemon.signal(signal.SIGTERM) == 0


def _result_count(directory: Path) -> int:
    since = datetime.now(UTC) - timedelta(hours=1)
    until = datetime.now(UTC) + timedelta(hours=1)
    return len(read_store(directory, lambda tx: tx.results("nightly.heartbeat", since, until)))


def test_the_demo_shows_the_whole_loop() -> None:
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "statusbot",
            "demo",
            "--down-after",
            "4",
            "--down-for",
            "6",
            "--settle",
            "22",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    out = demo.stdout
    for seen in (
        "taking the sample service DOWN",
        "── console · incident.opened",
        "bringing the sample service back UP",
        "── console · incident.resolved",
    ):
        assert seen in out, f"{seen!r} missing from the demo's output:\n{out}"
    assert "resolved" in out.split("statusbot incident list")[-1]
    assert "the status page: http://127.0.0.1:" in out


def test_the_wheel_carries_migrations_and_example_configs(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(root),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("statusbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "statusbot/migrations/0001_init.sql",
        "statusbot/data/config/example.yaml",
        "statusbot/data/config/demo.yaml",
        "statusbot/probes/http.py",
        "statusbot/cli/__init__.py",
    ):
        assert needed in names, f"{needed} missing from the wheel"


def test_sigterm_while_still_starting_exits_0(tmp_path: Path, daemon_factory) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"components: [{{id: api, name: API}}]\nstorage: {{url: 'sqlite:///{tmp_path}/s.db'}}\n"
    )
    daemon = daemon_factory(config)
    daemon.start()
    assert daemon.proc is not None
    status = Path(f"/proc/{daemon.proc.pid}/status")

    def catches_sigterm() -> bool:  # the entry point's handler is in place (bit 15 of SigCgt)
        caught = next(x for x in status.read_text().splitlines() if x.startswith("SigCgt:"))
        return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))

    wait_for("the SIGTERM handler", catches_sigterm)
    assert daemon.signal(signal.SIGTERM) == 0


def _body(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # loopback only
            return str(answer.read().decode())
    except (urllib.error.URLError, OSError):
        return ""


def test_the_daemon_serves_the_page_and_its_api_from_the_store(
    tmp_path: Path, daemon_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HB_TOKEN", TOKEN)
    port = _free_port()
    daemon = daemon_factory(_heartbeat_config(tmp_path, port))
    daemon.start()
    base = f"http://127.0.0.1:{port}"
    wait_for("the page", lambda: "Nightly export" in _body(f"{base}/"))
    wait_for("an incident", lambda: read_store(tmp_path, lambda tx: tx.open_incidents()))
    wait_for("the incident on the page", lambda: "incidents/1.html" in _body(f"{base}/"))
    summary = json.loads(_body(f"{base}/api/v2/summary.json"))
    assert [i["name"] for i in summary["incidents"]] == ["Nightly export outage"]
    assert summary["status"]["indicator"] == "critical"
    assert _get(f"{base}/ping/{TOKEN}") == 200, "heartbeats still answered beside the page"

    def metric(name: str) -> float | None:
        for family in text_string_to_metric_families(_body(f"{base}/metrics")):
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
        return None

    wait_for("open incidents in /metrics", lambda: metric("statusbot_open_incidents") == 1)
    assert (metric("statusbot_checks_total") or 0) >= 3
    assert daemon.signal(signal.SIGTERM) == 0
