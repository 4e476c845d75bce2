"""ConsolePublisher (captured output) and ApprisePublisher (json:// to a loopback receiver)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from statusbot.model import Event, EventKind
from statusbot.publishers.apprise_channel import AppriseChannel, ApprisePublisher
from statusbot.publishers.base import Failure, Message, PostRef, PublishError
from statusbot.publishers.console import ConsoleChannel, ConsolePublisher

PASSWORD = "pw-PLANTED-3d7e"


def message(delivery_id: int = 41, text: str = "API is down since 07:00 UTC.") -> Message:
    event = Event(
        id=7,
        kind=EventKind.INCIDENT_OPENED,
        at=datetime(2026, 11, 22, 7, 0, tzinfo=UTC),
        incident_id=12,
        maintenance_id=None,
    )
    return Message(delivery_id, text, f"statusbot:{delivery_id}", event)


# -- console ------------------------------------------------------------------------------------


async def test_console_prints_a_framed_post(capsys: pytest.CaptureFixture[str]) -> None:
    console = ConsolePublisher(ConsoleChannel())
    ref = await console.publish(message(), None)
    await console.publish(message(42, "Update 1"), ref)
    out, err = capsys.readouterr()
    assert ref == PostRef("console:41")
    assert out == (
        "── console · incident.opened · #12 ──\nAPI is down since 07:00 UTC.\n"
        "── console · incident.opened · #12 ──\nUpdate 1\n"
    )
    assert err == ""
    assert (await console.limit()).max == 100_000


async def test_console_can_print_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    console = ConsolePublisher(ConsoleChannel(stream="stderr"))
    await console.publish(message(), None)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("── console · incident.opened · #12 ──\n")


# -- apprise ------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """What Apprise's json:// plugin POSTs, per path; ``status`` per path (default 200)."""

    bodies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    auth: list[str] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    stall: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.setdefault(request.path, []).append(await request.json())
        self.auth.append(request.headers.get("Authorization", ""))
        if self.stall:
            await asyncio.sleep(self.stall)
        return web.Response(status=self.status.get(request.path, 200))


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/{name:.*}", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    yield state, server.port
    await server.close()


def apprise(*urls: str, **extra: Any) -> ApprisePublisher:
    return ApprisePublisher(AppriseChannel.model_validate({"urls": list(urls), **extra}))


async def test_apprise_json_body_arrives(receiver: tuple[Receiver, int]) -> None:
    state, port = receiver
    publisher = apprise(f"json://bot:{PASSWORD}@127.0.0.1:{port}/hook", title="Example Status")
    ref = await publisher.publish(message(), None)
    await publisher.close()

    assert ref == PostRef("apprise:41")
    [body] = state.bodies["/hook"]
    assert body["message"] == "API is down since 07:00 UTC."
    assert body["title"] == "Example Status"
    assert body["type"] == "info"
    assert state.auth == ["Basic " + base64.b64encode(f"bot:{PASSWORD}".encode()).decode()]


async def test_apprise_failure_is_transient_and_says_why(receiver: tuple[Receiver, int]) -> None:
    state, port = receiver
    state.status["/hook"] = 500
    publisher = apprise(f"json://bot:{PASSWORD}@127.0.0.1:{port}/hook")
    with pytest.raises(PublishError) as caught:
        await publisher.publish(message(), None)
    err = caught.value
    assert err.failure is Failure.TRANSIENT
    assert "only success or failure" in str(err)
    for shown in (str(err), repr(err), repr(publisher), repr(publisher.settings)):
        assert PASSWORD not in shown


async def test_apprise_retry_skips_the_services_that_took_it(
    receiver: tuple[Receiver, int],
) -> None:
    state, port = receiver
    state.status["/b"] = 503
    publisher = apprise(f"json://127.0.0.1:{port}/a", f"json://127.0.0.1:{port}/b")
    with pytest.raises(PublishError, match="1 of 2 services"):
        await publisher.publish(message(), None)
    del state.status["/b"]
    assert await publisher.publish(message(), None) == PostRef("apprise:41")
    assert {path: len(bodies) for path, bodies in state.bodies.items()} == {"/a": 1, "/b": 2}


async def test_apprise_slow_service_is_ambiguous(receiver: tuple[Receiver, int]) -> None:
    state, port = receiver
    state.stall = 0.8
    publisher = apprise(f"json://127.0.0.1:{port}/hook", timeout="200ms")
    with pytest.raises(PublishError) as caught:
        await publisher.publish(message(), None)
    assert caught.value.failure is Failure.AMBIGUOUS
    await asyncio.sleep(0.8)  # let the worker thread finish before the receiver goes away


async def test_apprise_limit_is_the_smallest_service() -> None:
    publisher = apprise("json://127.0.0.1:9/", title="Status")
    assert (await publisher.limit()).max == 32768  # json:// has a title field: no deduction


def test_apprise_rejects_unknown_urls_without_showing_them() -> None:
    with pytest.raises(ValidationError) as caught:
        AppriseChannel.model_validate({"urls": [f"nosuchservice://{PASSWORD}@host/"]})
    assert "urls[0]: not a URL Apprise can use (scheme nosuchservice://)" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    with pytest.raises(ValidationError):
        AppriseChannel.model_validate({"urls": []})


def test_an_unusable_apprise_url_never_reaches_the_log(caplog) -> None:
    """Apprise logs "Unsupported URL: <the whole URL>" at ERROR; the URL carries a token."""
    with caplog.at_level(logging.DEBUG), pytest.raises(ValidationError) as caught:
        AppriseChannel.model_validate({"urls": ["token-s3cr3t-0123456789"]})  # no scheme
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in str(caught.value)
    assert "not a URL Apprise can use (scheme none://)" in str(caught.value)
