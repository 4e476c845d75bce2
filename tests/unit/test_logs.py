"""Log lines: under journald a <N> priority and no timestamp; JSON on request; one line each."""

from __future__ import annotations

import json
import logging

import pytest

from statusbot.logs import setup_logging


def _emit(capsys: pytest.CaptureFixture[str]) -> list[str]:
    log = logging.getLogger("statusbot")
    log.info("component api: up → down")
    log.warning("probe network down?")
    log.error("could not build the page")
    return capsys.readouterr().err.splitlines()


def test_under_journald_lines_carry_priorities_and_no_time(monkeypatch, capsys) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    setup_logging("info", "auto")
    assert _emit(capsys) == [
        "<6>component api: up → down",
        "<4>probe network down?",
        "<3>could not build the page",
    ]


def test_outside_journald_lines_have_utc_timestamps(monkeypatch, capsys) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    setup_logging("info", "auto")
    first = _emit(capsys)[0]
    assert first.endswith("INFO    component api: up → down")
    assert first[:20].endswith("Z")


def test_json_lines(capsys) -> None:
    setup_logging("info", "json")
    entries = [json.loads(line) for line in _emit(capsys)]
    assert [(e["level"], e["message"]) for e in entries] == [
        ("info", "component api: up → down"),
        ("warning", "probe network down?"),
        ("error", "could not build the page"),
    ]
    assert all(e["time"].endswith("Z") for e in entries)
