"""The operator's commands, run in-process against a real SQLite file and loopback targets."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from statusbot.cli import main


@pytest.fixture
def listening() -> int:
    """A TCP port that accepts connections (the kernel completes the handshake)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def config(tmp_path: Path, listening: int, closed_port: int) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
components:
  - {{id: api, name: Public API, checks: [{{type: tcp, host: 127.0.0.1, port: {listening}}}]}}
  - {{id: db, name: Database, checks: [{{type: tcp, host: 127.0.0.1, port: {closed_port}}}]}}
storage: {{url: "sqlite:///{tmp_path}/statusbot.db"}}
"""
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def open_incident(
    config: Path, capsys, component: str = "api", title: str = "t", message: str = "m"
) -> None:
    """``statusbot incident open`` with a title and a message; asserts it worked."""
    code, _out, err = run(
        capsys,
        "incident",
        "open",
        "-c",
        str(config),
        "--title",
        title,
        "--component",
        component,
        "--message",
        message,
    )
    assert code == 0, err


def test_check_prints_a_table_and_exits_1_when_something_is_down(config, capsys) -> None:
    code, out, _ = run(capsys, "check", "-c", str(config))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["COMPONENT", "CHECK", "STATE", "LATENCY", "REASON"]
    assert lines[1].split()[:3] == ["api", "api.tcp", "up"]
    assert lines[2].split()[:3] == ["db", "db.tcp", "down"]
    assert "connection refused" in lines[2]


def test_check_json_and_exit_0_when_all_up(tmp_path, listening, capsys) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "components: [{id: api, name: API, checks: "
        f"[{{type: tcp, host: 127.0.0.1, port: {listening}}}]}}]\n"
    )
    code, out, _ = run(capsys, "check", "--json", "-c", str(path))
    assert code == 0
    (row,) = json.loads(out)
    assert (row["component"], row["state"]) == ("api", "up")
    assert row["latency_ms"] >= 0


def test_incident_lifecycle_by_hand(config, capsys) -> None:
    code, out, _ = run(
        capsys,
        "incident",
        "open",
        "-c",
        str(config),
        "--title",
        "Slow logins",
        "--component",
        "api",
        "--message",
        "Logins take long.",
        "--impact",
        "minor",
    )
    assert (code, out.strip()) == (0, "opened incident #1: Slow logins")
    assert (
        run(
            capsys,
            "incident",
            "update",
            "1",
            "-c",
            str(config),
            "--phase",
            "identified",
            "--message",
            "A bad deploy; rolling back.",
        )[0]
        == 0
    )
    assert run(capsys, "incident", "resolve", "1", "-c", str(config))[0] == 0

    code, out, _ = run(capsys, "incident", "show", "1", "--json", "-c", str(config))
    shown = json.loads(out)
    assert shown["phase"] == "resolved"
    assert shown["impact"] == "minor"
    assert shown["auto"] is False
    assert [(u["kind"], u["phase"]) for u in shown["updates"]] == [
        ("incident.opened", "investigating"),
        ("incident.updated", "identified"),
        ("incident.resolved", "resolved"),
    ]
    code, out, _ = run(capsys, "incident", "list", "-c", str(config))
    assert "Slow logins" in out
    assert "#1" in out
    code, out, _ = run(capsys, "incident", "show", "1", "-c", str(config))
    assert "A bad deploy; rolling back." in out
    assert "resolved after" in out


def test_operator_mistakes_get_one_clear_line_and_exit_2(config, capsys) -> None:
    code, _, err = run(
        capsys,
        "incident",
        "open",
        "-c",
        str(config),
        "--title",
        "x",
        "--component",
        "nope",
        "--message",
        "m",
    )
    assert code == 2
    assert err.strip() == "statusbot: no component 'nope' in the config (known: api, db)"
    code, _, err = run(capsys, "incident", "show", "99", "-c", str(config))
    assert (code, err.strip()) == (2, "statusbot: no incident #99")
    code, _, err = run(
        capsys,
        "maintenance",
        "add",
        "-c",
        str(config),
        "--title",
        "t",
        "--component",
        "db",
        "--start",
        "tomorrow",
        "--duration",
        "1h",
    )
    assert code == 2
    assert "bad time 'tomorrow'" in err


def test_updating_a_resolved_incident_is_refused_and_keeps_the_store(config, capsys) -> None:
    open_incident(config, capsys)
    run(capsys, "incident", "resolve", "1", "-c", str(config))
    code, _, err = run(capsys, "incident", "update", "1", "-c", str(config), "--message", "late")
    assert code == 2
    assert "resolved" in err
    assert len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, "incident", "show", "1", "--json", "-c", str(config))
    assert len(json.loads(out)["updates"]) == 2


def test_maintenance_add_list_cancel(config, capsys) -> None:
    code, out, _ = run(
        capsys,
        "maintenance",
        "add",
        "-c",
        str(config),
        "--title",
        "DB upgrade",
        "--component",
        "db",
        "--start",
        "+1h",
        "--duration",
        "30m",
        "--message",
        "Short pauses possible.",
    )
    assert code == 0
    assert out.startswith("scheduled maintenance #1: DB upgrade")
    code, out, _ = run(capsys, "maintenance", "list", "--json", "-c", str(config))
    (m,) = json.loads(out)
    assert (m["status"], m["components"], m["title"]) == ("scheduled", ["db"], "DB upgrade")
    assert run(capsys, "maintenance", "cancel", "1", "-c", str(config))[0] == 0
    code, out, _ = run(capsys, "maintenance", "list", "-c", str(config))
    assert out.strip() == "No maintenance windows."
    code, out, _ = run(capsys, "maintenance", "list", "--all", "--json", "-c", str(config))
    assert json.loads(out)[0]["status"] == "cancelled"


def test_status_shows_components_incidents_and_pending_announcements(config, capsys) -> None:
    open_incident(config, capsys, "db", "DB trouble", "Looking into it.")
    code, out, _ = run(capsys, "status", "--json", "-c", str(config))
    assert code == 0
    status = json.loads(out)
    assert [c["id"] for c in status["components"]] == ["api", "db"]
    assert [i["title"] for i in status["open_incidents"]] == ["DB trouble"]
    assert status["outbox"]["console"]["counts"]["pending"] == 1
    code, out, _ = run(capsys, "status", "-c", str(config))
    assert "DB trouble" in out
    assert "Outbox console: 1 pending" in out


def test_status_shows_maintenance_while_a_window_lasts(config, capsys) -> None:
    run(
        capsys,
        "maintenance",
        "add",
        "-c",
        str(config),
        "--title",
        "Upgrade",
        "--component",
        "db",
        "--start",
        "now",
        "--duration",
        "1h",
    )
    _, out, _ = run(capsys, "status", "--json", "-c", str(config))
    states = {c["id"]: c["state"] for c in json.loads(out)["components"]}
    assert states == {"api": "unknown", "db": "maintenance"}


def test_every_command_has_help(capsys) -> None:
    for argv in (
        ["--help"],
        ["run", "--help"],
        ["incident", "open", "--help"],
        ["maintenance", "add", "--help"],
        ["check", "--help"],
        ["status", "--help"],
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0
        assert "usage: statusbot" in capsys.readouterr().out


def test_validate_prints_a_summary(config, capsys) -> None:
    code, out, _ = run(capsys, "validate", "-c", str(config))
    assert code == 0
    assert out.splitlines()[0] == f"{config}: OK"
    assert "components  2 · checks 2" in out


def test_store_trouble_is_one_line_exit_3(tmp_path, capsys) -> None:
    (tmp_path / "not.db").write_text("this is not a database, just text" * 100)
    path = tmp_path / "c.yaml"
    path.write_text(
        f"components: [{{id: a, name: A}}]\nstorage: {{url: 'sqlite:///{tmp_path}/not.db'}}\n"
    )
    code, _, err = run(capsys, "status", "-c", str(path))
    assert code == 3
    assert err.count("\n") == 1
    assert str(tmp_path / "not.db") in err


def test_outbox_list_retry_and_drop(config, capsys) -> None:
    open_incident(config, capsys, "db", "DB trouble", "Looking into it.")
    code, out, _ = run(capsys, "outbox", "list", "--json", "-c", str(config))
    (row,) = json.loads(out)
    assert (row["channel"], row["status"], row["event"]) == (
        "console",
        "pending",
        "incident.opened",
    )
    assert run(capsys, "outbox", "drop", str(row["id"]), "-c", str(config))[0] == 0
    _, out, _ = run(capsys, "outbox", "list", "-c", str(config))
    assert "dropped by an operator" in out
    code, out, _ = run(capsys, "outbox", "retry", str(row["id"]), "-c", str(config))
    assert (code, out.strip()) == (0, "1 delivery will be sent again now")
    _, out, _ = run(capsys, "outbox", "list", "--json", "-c", str(config))
    assert json.loads(out)[0]["status"] == "pending"
    code, _, err = run(capsys, "outbox", "retry", "99", "-c", str(config))
    assert (code, err.strip()) == (2, "statusbot: no delivery 99")


def test_incident_ack(config, capsys) -> None:
    open_incident(config, capsys)
    code, out, _ = run(capsys, "incident", "ack", "1", "-c", str(config))
    assert code == 0
    assert out.startswith("acknowledged incident #1")


def test_preview_shows_every_template_with_its_length_and_limit(config, capsys) -> None:
    code, out, _ = run(capsys, "preview", "-c", str(config))
    assert code == 0
    headings = [line for line in out.splitlines() if line.startswith("── ")]
    assert len(headings) == 5 * 8  # every channel kind × every event kind
    assert any(h.startswith("── x · incident.opened · ") and h.endswith("/280") for h in headings)
    assert any(
        h.startswith("── mastodon · incident.resolved · ") and h.endswith("/500") for h in headings
    )


def test_validate_reports_a_broken_template_override(tmp_path, config, capsys) -> None:
    folder = tmp_path / "templates" / "mastodon"
    folder.mkdir(parents=True)
    (folder / "incident.opened.txt.j2").write_text("{{ icon }} {{ components_text }}\n{{ nope }}\n")
    config.write_text(config.read_text() + f"templates_dir: {tmp_path / 'templates'}\n")
    code, _, err = run(capsys, "validate", "-c", str(config))
    assert code == 2
    assert "mastodon/incident.opened.txt.j2:2: 'nope' is undefined" in err
