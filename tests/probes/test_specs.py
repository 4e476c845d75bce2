"""Spec validation, the registry, and run_check's own contract (deadline, bugs, cancellation)."""

from __future__ import annotations

import asyncio
import logging
import typing
from typing import Any, Literal

import pytest
from pydantic import ConfigDict, TypeAdapter, ValidationError

from statusbot.model import Outcome, State
from statusbot.probes import (
    PROBES,
    AnyCheck,
    CheckBase,
    CheckSpec,
    CommandCheck,
    HeartbeatCheck,
    HttpCheck,
    ProbeContext,
    ProbeFn,
    run_check,
)

# As the config root must: inputs may hold secrets, and the outermost config decides.
SPEC: TypeAdapter[AnyCheck] = TypeAdapter(CheckSpec, config=ConfigDict(hide_input_in_errors=True))


def errors(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        SPEC.validate_python(data)
    return str(caught.value)


def test_every_spec_has_a_probe_and_every_probe_a_spec() -> None:
    assert set(PROBES) == set(typing.get_args(AnyCheck))


def test_the_type_field_picks_the_spec() -> None:
    spec = SPEC.validate_python({"type": "tcp", "host": "db.internal", "port": 5432})
    assert spec.target() == "db.internal:5432"
    assert "does not match any of the expected tags" in errors({"type": "smtp", "host": "x"})


def test_url_without_scheme_gets_a_hint() -> None:
    message = errors({"type": "http", "url": "api.example.com/health"})
    assert "hint: include https://" in message
    assert "use http or https" in errors({"type": "http", "url": "ftp://example.com/"})


def test_bad_regex_fails_at_load_time() -> None:
    message = errors({"type": "http", "url": "https://x.test/", "expect": {"body_regex": "(ok"}})
    assert "bad regular expression: missing ), unterminated subpattern" in message


def test_bad_json_path_fails_at_load_time() -> None:
    message = errors(
        {
            "type": "http",
            "url": "https://x.test/",
            "expect": {"json": {"path": "a..b", "equals": 1}},
        }
    )
    assert "bad JSON path 'a..b'" in message


@pytest.mark.parametrize(
    "data",
    [
        {"type": "http", "url": "https://x.test/", "verify": False},
        {"type": "http", "url": "https://x.test/", "expect": {"code": 200}},
        {
            "type": "http",
            "url": "https://x.test/",
            "expect": {"json": {"path": "a", "equals": 1, "x": 2}},
        },
        {"type": "tcp", "host": "x", "port": 1, "tls": True},
        {"type": "dns", "query_name": "x", "name_server": "1.1.1.1"},
    ],
)
def test_unknown_keys_are_rejected(data: dict[str, Any]) -> None:
    assert "Extra inputs are not permitted" in errors(data)


def test_heartbeat_token_too_short_is_rejected_without_showing_it() -> None:
    message = errors({"type": "heartbeat", "token": "short-tok", "period": "5m"})
    assert "heartbeat token too short: 9 characters (need at least 16)" in message
    assert "short-tok" not in message


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (HeartbeatCheck, {"type": "heartbeat", "token": "short-tok", "period": "5m"}),
        (HttpCheck, {"type": "http", "url": "nope", "headers": {"Authorization": "short-tok"}}),
        (CommandCheck, {"type": "command", "argv": [], "env": {"TOKEN": "short-tok"}}),
    ],
)
def test_specs_with_secrets_hide_inputs_in_their_errors(
    model: type[CheckBase], data: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    assert "short-tok" not in str(caught.value)


def test_ranges_and_shapes_are_checked() -> None:
    assert "less than or equal to 65535" in errors({"type": "tcp", "host": "x", "port": 70000})
    assert "at least 1 item" in errors({"type": "command", "argv": []})
    assert "not an IP address" in errors(
        {"type": "dns", "query_name": "x", "resolver": ["dns.test"]}
    )
    assert "port must be 1-65535" in errors(
        {"type": "dns", "query_name": "x", "resolver": ["127.0.0.1:0"]}
    )


def test_http_defaults() -> None:
    spec = SPEC.validate_python({"type": "http", "url": "https://x.test/"})
    assert isinstance(spec, HttpCheck)
    assert (spec.method, spec.expect.status, spec.max_body) == ("GET", None, 1024 * 1024)
    assert spec.expect.status_ok(204)
    assert not spec.expect.status_ok(301)


class BuggyCheck(CheckBase):
    type: Literal["buggy"]

    def target(self) -> str:
        return "the bug"


def register(monkeypatch: pytest.MonkeyPatch, fn: ProbeFn) -> None:
    """Test-only registration (undone after the test): the registry is a plain dict."""
    key: type[CheckBase] = BuggyCheck
    monkeypatch.setitem(PROBES, key, fn)


async def buggy_probe(spec: BuggyCheck, ctx: ProbeContext) -> Outcome:
    raise ZeroDivisionError("division by zero")


async def test_a_probe_bug_is_logged_and_reported_down(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    register(monkeypatch, buggy_probe)
    with caplog.at_level(logging.ERROR, logger="statusbot.probes"):
        outcome = await run_check(BuggyCheck(type="buggy"), ctx, timeout=1)
    assert (outcome.state, outcome.reason) == (
        State.DOWN,
        "probe error: ZeroDivisionError: division by zero",
    )
    assert caplog.records[0].exc_info is not None


async def test_cancellation_propagates(ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    started = asyncio.Event()

    async def forever(spec: BuggyCheck, ctx: ProbeContext) -> Outcome:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    register(monkeypatch, forever)
    task = asyncio.create_task(run_check(BuggyCheck(type="buggy"), ctx, timeout=10))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_deadline_reason_formats_seconds(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def forever(spec: BuggyCheck, ctx: ProbeContext) -> Outcome:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    register(monkeypatch, forever)
    outcome = await run_check(BuggyCheck(type="buggy"), ctx, timeout=0.05)
    assert (outcome.state, outcome.reason, outcome.latency) == (
        State.DOWN,
        "no answer within 0.05s",
        None,
    )
