"""WebhookPublisher against a loopback aiohttp receiver that verifies the signature itself."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from statusbot.model import Event, EventKind
from statusbot.publishers.base import Failure, Message, PostRef, PublishError
from statusbot.publishers.webhook import WebhookChannel, WebhookPublisher, sign, verify
from tests.conftest import FakeClock

SHARED = "whsec-PLANTED-41c9"
BEARER = "Bearer tok-PLANTED-88aa"


@dataclass
class Receiver:
    """Checks each request like a careful receiver would; answers what the test queued."""

    secret: str | None = SHARED
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    answers: list[web.Response] = field(default_factory=list)
    stall: float = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if self.secret is not None:
            stamp = request.headers.get("X-Statusbot-Timestamp", "")
            expected = hmac.new(self.secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256)
            given = request.headers.get("X-Statusbot-Signature", "")
            if not hmac.compare_digest(f"sha256={expected.hexdigest()}", given):
                return web.json_response({"error": "bad signature"}, status=401)
        self.received.append(json.loads(raw))
        self.headers.append(dict(request.headers))
        if self.stall:
            await asyncio.sleep(self.stall)
        return self.answers.pop(0) if self.answers else web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/hook/{token}", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield state, str(server.make_url("/hook/path-PLANTED-token"))
    await server.close()


def publisher(url: str, clock: FakeClock | None = None, **extra: Any) -> WebhookPublisher:
    settings = WebhookChannel.model_validate(
        {"url": url, "secret": SHARED, "headers": {"Authorization": BEARER}, "timeout": "1s"}
        | extra
    )
    return WebhookPublisher(settings, clock=clock or FakeClock(datetime.now(UTC)))


def message(delivery_id: int = 41, text: str = "API is down since 07:00 UTC.") -> Message:
    event = Event(
        id=7,
        kind=EventKind.INCIDENT_OPENED,
        at=datetime(2026, 11, 22, 7, 0, tzinfo=UTC),
        incident_id=12,
        maintenance_id=None,
        payload={"title": "API down", "components": [{"id": "api", "name": "Public API"}]},
    )
    link = "https://status.example.com/incidents/12"
    return Message(delivery_id, text, f"statusbot:{delivery_id}", event, link=link)


async def test_signed_json_arrives_and_verifies(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    hook = publisher(url)
    ref = await hook.publish(message(), None)
    await hook.close()

    assert ref == PostRef("webhook:41")
    assert state.received == [
        {
            "id": 41,
            "idempotency_key": "statusbot:41",
            "event": "incident.opened",
            "event_id": 7,
            "at": "2026-11-22T07:00:00+00:00",
            "incident_id": 12,
            "maintenance_id": None,
            "text": "API is down since 07:00 UTC.",
            "link": "https://status.example.com/incidents/12",
            "payload": {"title": "API down", "components": [{"id": "api", "name": "Public API"}]},
            "reply_to": None,
        }
    ]
    headers = state.headers[0]
    assert headers["Idempotency-Key"] == "statusbot:41"
    assert headers["Authorization"] == BEARER
    assert headers["Content-Type"] == "application/json; charset=utf-8"


async def test_wrong_secret_is_refused_as_auth(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    hook = publisher(url, secret="not-the-shared-one")
    with pytest.raises(PublishError) as caught:
        await hook.publish(message(), None)
    await hook.close()
    assert caught.value.failure is Failure.AUTH
    assert state.received == []


async def test_receiver_id_threads_the_replies(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.answers = [web.json_response({"id": "m-1", "url": "https://chat.example/m-1"})]
    hook = publisher(url)
    first = await hook.publish(message(41), None)
    second = await hook.publish(message(42, "Update 1"), first)
    await hook.close()
    assert first == PostRef("m-1", "https://chat.example/m-1")
    assert second == PostRef("webhook:42")
    assert [r["reply_to"] for r in state.received] == [None, "m-1"]


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (500, Failure.TRANSIENT),
        (503, Failure.TRANSIENT),
        (401, Failure.AUTH),
        (403, Failure.AUTH),
        (404, Failure.REJECTED),
        (410, Failure.REJECTED),
        (400, Failure.REJECTED),
        (302, Failure.REJECTED),
    ],
)
async def test_refusals(receiver: tuple[Receiver, str], status: int, failure: Failure) -> None:
    state, url = receiver
    state.answers = [web.Response(status=status, headers={"Location": "https://elsewhere/"})]
    hook = publisher(url)
    with pytest.raises(PublishError) as caught:
        await hook.publish(message(), None)
    await hook.close()
    assert caught.value.failure is failure
    assert str(status) in str(caught.value)


async def test_429_retries_after_the_given_time(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    clock = FakeClock()
    state.answers = [
        web.Response(status=429, headers={"Retry-After": "120"}),
        web.Response(status=429, headers={"Retry-After": "Sun, 22 Nov 2026 08:00:00 GMT"}),
    ]
    hook = publisher(url, clock)
    errors = []
    for _ in range(2):
        with pytest.raises(PublishError) as caught:
            await hook.publish(message(), None)
        errors.append(caught.value)
    await hook.close()
    assert [e.failure for e in errors] == [Failure.RATE_LIMITED] * 2
    assert errors[0].retry_at == clock() + timedelta(seconds=120)
    assert errors[1].retry_at == datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


async def test_no_secret_no_signature(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.secret = None
    hook = publisher(url, secret=None)
    await hook.publish(message(), None)
    await hook.close()
    assert "X-Statusbot-Signature" not in state.headers[0]


async def test_slow_receiver_is_ambiguous(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.stall = 2.0
    hook = publisher(url, timeout="300ms")
    with pytest.raises(PublishError) as caught:
        await hook.publish(message(), None)
    await hook.close()
    assert caught.value.failure is Failure.AMBIGUOUS
    assert len(state.received) == 1  # it arrived; only the answer was lost


async def test_nobody_listening_is_transient(unused_tcp_port: int) -> None:
    hook = publisher(f"http://127.0.0.1:{unused_tcp_port}/hook")
    with pytest.raises(PublishError) as caught:
        await hook.publish(message(), None)
    await hook.close()
    assert caught.value.failure is Failure.TRANSIENT


async def test_secrets_never_show(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.answers = [web.Response(status=500)]
    hook = publisher(url)
    with pytest.raises(PublishError) as caught:
        await hook.publish(message(), None)
    await hook.close()
    shown = f"{caught.value} {caught.value!r} {hook!r} {hook.settings!r} {hook.settings}"
    shown += hook.settings.model_dump_json()
    for secret in (SHARED, BEARER, "path-PLANTED-token"):
        assert secret not in shown
    assert "\n" not in str(caught.value)


async def test_limit_and_helpers() -> None:
    hook = publisher("https://hooks.example.com/x")
    limit = await hook.limit()
    assert limit.max == 100_000
    assert limit.count("héllo") == 5
    body = b'{"a":1}'
    signature = sign("k", "1700000000", body)
    now = datetime.fromtimestamp(1_700_000_100, UTC)
    assert verify("k", "1700000000", body, signature, now=now)
    assert not verify("k", "1700000000", body + b" ", signature, now=now)
    assert not verify("k", "1699000000", body, sign("k", "1699000000", body), now=now)
    for bad in ("ftp://hooks.example.com/x", "hooks.example.com/x", "https://"):
        with pytest.raises(ValueError, match="webhook url"):
            publisher(bad)
