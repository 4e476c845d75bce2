"""XPublisher: real tweepy through XAdapter against the loopback X server; create_tweet unmocked."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from statusbot.model import Event, EventKind
from statusbot.publishers.base import Failure, Message, PostRef, PublishError
from statusbot.publishers.x import TWEEPY_HOST, XAdapter, XChannel, XPublisher
from tests.support.x_server import DUPLICATE, XServer

# Planted secrets: distinct, so a leak of any one of them is caught.
CK, CS, AT, ATS = "ck-PLANTED-7f1a", "cs-PLANTED-93be", "at-PLANTED-c4d2", "ats-PLANTED-5e60"
SECRETS = (CK, CS, AT, ATS)


def channel(base: str, **extra: Any) -> XChannel:
    return XChannel.model_validate(
        {
            "consumer_key": CK,
            "consumer_secret": CS,
            "access_token": AT,
            "access_token_secret": ATS,
            "api_base": base,
            "timeout": "1s",
            "connect_timeout": "1s",
            **extra,
        }
    )


def message(text: str, delivery_id: int = 1) -> Message:
    event = Event(
        id=delivery_id,
        kind=EventKind.INCIDENT_UPDATED,
        at=datetime(2026, 11, 22, 7, 0, tzinfo=UTC),
        incident_id=12,
        maintenance_id=None,
    )
    return Message(delivery_id, text, f"statusbot:{delivery_id}", event)


@pytest.fixture
def server() -> Iterator[XServer]:
    with XServer(consumer_key=CK) as x:
        yield x


@pytest.fixture
async def x(server: XServer) -> Any:
    publisher = XPublisher(channel(server.base_url))
    yield publisher
    await publisher.close()


async def fails(publisher: XPublisher, text: str, reply_to: PostRef | None = None) -> PublishError:
    with pytest.raises(PublishError) as caught:
        await publisher.publish(message(text), reply_to)
    return caught.value


async def test_three_posts_form_one_thread_in_order(x: XPublisher, server: XServer) -> None:
    first = await x.publish(message("API down · 07:00 UTC", 1), None)
    second = await x.publish(message("Update 1 · 07:10 UTC", 2), first)
    third = await x.publish(message("Resolved · 07:20 UTC", 3), second)

    posts = server.live()
    assert [p.id for p in posts] == [first.id, second.id, third.id]
    assert [p.reply_to for p in posts] == [None, first.id, second.id]
    assert int(first.id) < int(second.id) < int(third.id)
    assert first.id == "1456012973835788293"
    assert third.url == f"https://x.com/i/web/status/{third.id}"


async def test_accepts_answers_with_edit_history() -> None:
    with XServer(edit_history=True) as server:
        publisher = XPublisher(channel(server.base_url))
        ref = await publisher.publish(message("hello"), None)
        await publisher.close()
    assert ref.id == server.live()[0].id


async def test_a_refused_repeat_is_read_back_as_the_post_it_repeats(
    x: XPublisher, server: XServer
) -> None:
    """X refuses a text it already has and does not say which post that is: one page of the
    account's latest posts tells, read back as X gives it (links on t.co, & escaped)."""
    link = "https://status.example.com/incidents/12?from=x&lang=en"
    first = await x.publish(message(f"API down & slow · 07:00 UTC {link}"), None)
    update = await x.publish(message("Still investigating · 07:10 UTC", 2), first)
    assert await x.publish(message(f"API down & slow · 07:00 UTC {link}"), None) == first
    assert server.reads == 2  # who am I, then the latest posts
    assert await x.publish(message("Still investigating · 07:10 UTC", 2), first) == update
    assert server.reads == 3  # the account's id is kept
    assert len(server.live()) == 2


async def test_a_refused_repeat_stays_unknown_when_x_will_not_say(
    x: XPublisher, server: XServer
) -> None:
    first = await x.publish(message("Still investigating"), None)
    other = await x.publish(message("Another thread"), None)
    # the same text under another parent is not the post: nothing is taken for it
    server.fail_next(1, 403, DUPLICATE)
    assert (await fails(x, "Still investigating", other)).failure is Failure.DUPLICATE
    server.reads_forbidden = True  # a plan without reads: the refusal stands
    err = await fails(x, "Still investigating")
    assert err.failure is Failure.DUPLICATE
    assert not err.permanent
    assert [p.id for p in server.live()] == [first.id, other.id]


async def test_legacy_code_187_is_duplicate(x: XPublisher, server: XServer) -> None:
    server.fail_next(1, 403, {"errors": [{"code": 187, "message": "Status is a duplicate."}]})
    assert (await fails(x, "anything")).failure is Failure.DUPLICATE


async def test_reply_to_deleted_post_is_parent_gone(x: XPublisher, server: XServer) -> None:
    root = await x.publish(message("API down"), None)
    server.delete(root.id)
    assert (await fails(x, "Update 1", root)).failure is Failure.PARENT_GONE
    unknown = PostRef("1999999999999999999")
    assert (await fails(x, "Update 2", unknown)).failure is Failure.PARENT_GONE


async def test_parent_gone_as_problem_json(x: XPublisher, server: XServer) -> None:
    detail = "You attempted to reply to a Tweet that is deleted or not visible to you."
    server.fail_next(1, 403, {"detail": detail, "title": "Forbidden", "status": 403})
    assert (await fails(x, "Update 1", PostRef("1"))).failure is Failure.PARENT_GONE


async def test_281_weighted_chars_is_too_long(x: XPublisher, server: XServer) -> None:
    limit = await x.limit()
    assert limit.max == 280
    assert limit.count("a" * 281) == 281
    assert limit.count("日" * 140) == 280
    assert limit.count("status.example.com is down") == 31  # a bare domain counts 23

    err = await fails(x, "a" * 281)
    assert err.failure is Failure.TOO_LONG
    assert err.limit == 280
    assert server.live() == []
    await x.publish(message("日" * 140), None)  # 280 weighted: accepted


async def test_rate_limited_until_reset(x: XPublisher, server: XServer) -> None:
    reset = int(time.time()) + 600
    server.ratelimit_next(1, reset)
    err = await fails(x, "Update 1")
    assert err.failure is Failure.RATE_LIMITED
    assert err.retry_at == datetime.fromtimestamp(reset, UTC)
    assert x.remaining()["window"] == 0
    await x.publish(message("Update 1"), None)  # the next one goes through


async def test_rate_limited_as_problem_json(x: XPublisher, server: XServer) -> None:
    reset = int(time.time()) + 60
    body = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"}
    server.fail_next(1, 429, body, {"x-rate-limit-reset": str(reset)})
    err = await fails(x, "Update 1")
    assert err.failure is Failure.RATE_LIMITED
    assert err.retry_at == datetime.fromtimestamp(reset, UTC)


async def test_exhausted_24_hour_cap_waits_for_its_own_reset(
    x: XPublisher, server: XServer
) -> None:
    window, day = int(time.time()) + 900, int(time.time()) + 80_000
    headers = {
        "x-rate-limit-remaining": "57",
        "x-rate-limit-reset": str(window),
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(day),
    }
    server.fail_next(1, 429, {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}, headers)
    err = await fails(x, "Update 1")
    assert err.retry_at == datetime.fromtimestamp(day, UTC)
    assert x.remaining()["user_24h"] == 0


async def test_server_gone_is_ambiguous(x: XPublisher, server: XServer) -> None:
    server.stop()
    assert (await fails(x, "Update 1")).failure is Failure.AMBIGUOUS


async def test_answer_lost_after_create_is_ambiguous_then_read_back(
    x: XPublisher, server: XServer
) -> None:
    server.stall_after_create_next(1)
    started = time.monotonic()
    err = await fails(x, "API down · 07:00 UTC")
    assert err.failure is Failure.AMBIGUOUS
    assert time.monotonic() - started < 3
    assert [p.text for p in server.live()] == ["API down · 07:00 UTC"]  # it was posted
    again = await x.publish(message("API down · 07:00 UTC"), None)  # refused, then read back
    assert again.id == server.live()[0].id
    update = await x.publish(message("Update 1 · 07:10 UTC", 2), again)
    assert [p.reply_to for p in server.live()] == [None, again.id]  # the thread goes on
    assert update.id == server.live()[1].id


async def test_wrong_keys_are_auth(server: XServer) -> None:
    publisher = XPublisher(channel(server.base_url, consumer_key="ck-other"))
    err = await fails(publisher, "hello")
    await publisher.close()
    assert err.failure is Failure.AUTH
    assert err.permanent
    assert server.live() == []


@pytest.mark.parametrize(
    ("status", "body", "failure"),
    [
        (503, {"title": "Service Unavailable", "detail": "Service Unavailable"}, Failure.TRANSIENT),
        (500, {}, Failure.TRANSIENT),
        (504, {}, Failure.AMBIGUOUS),
        (
            400,
            {
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
            },
            Failure.REJECTED,
        ),
        (
            403,
            {"title": "Forbidden", "detail": "You are not permitted to perform this action."},
            Failure.REJECTED,
        ),
        (404, {"title": "Not Found Error"}, Failure.REJECTED),
        (409, {}, Failure.REJECTED),
    ],
)
async def test_other_answers(
    x: XPublisher, server: XServer, status: int, body: dict[str, Any], failure: Failure
) -> None:
    server.fail_next(1, status, body)
    assert (await fails(x, "Update 1")).failure is failure


async def test_rate_limit_headers_are_recorded(x: XPublisher) -> None:
    assert x.remaining() == {}
    await x.publish(message("Update 1"), None)
    assert x.remaining() == {"window": 199, "user_24h": 99, "app_24h": 9999}
    assert set(x.resets()) == {"window", "user_24h", "app_24h"}
    assert all(at > datetime.now(UTC) for at in x.resets().values())


async def test_no_secret_in_repr_or_errors(
    server: XServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="statusbot.publishers.x")
    settings = channel(server.base_url)
    publisher = XPublisher(settings)
    errors = []
    await publisher.publish(message("one"), None)
    server.reads_forbidden = True
    errors.append(await fails(publisher, "one"))  # duplicate, not read back
    server.fail_next(1, 401, {"title": "Unauthorized", "detail": "Unauthorized"})
    errors.append(await fails(publisher, "two"))
    server.fail_next(1, 400, {"title": "Invalid Request", "detail": "bad"})
    errors.append(await fails(publisher, "three"))
    server.stop()
    errors.append(await fails(publisher, "four"))
    await publisher.close()

    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(publisher)]
    shown += [f"{e!s} {e!r}" for e in errors]
    assert "could not be read back: 403 Forbidden" in caplog.text
    shown.append(caplog.text)
    for text in shown:
        for secret in SECRETS:
            assert secret not in text
    assert all("\n" not in str(e) for e in errors)


def test_api_base_is_checked_and_trimmed() -> None:
    assert channel("https://api.x.com/").api_base == "https://api.x.com"
    assert channel("http://127.0.0.1:9/").api_base == "http://127.0.0.1:9"
    for bad in ("ftp://api.x.com", "api.x.com", "https://user:pw@api.x.com"):
        with pytest.raises(ValueError, match="api_base"):
            channel(bad)


def test_adapter_adds_a_timeout_and_leaves_the_default_host_alone() -> None:
    seen: dict[str, Any] = {}

    class Probe(XAdapter):
        def send(self, request: Any, *args: Any, **kw: Any) -> Any:
            seen["adapter"] = self
            return super().send(request, *args, **kw)

    adapter = XAdapter(TWEEPY_HOST, (0.5, 0.5))
    assert adapter.base is None
    session = requests.Session()
    session.mount(TWEEPY_HOST, Probe("http://127.0.0.1:9", (0.2, 0.2)))
    with pytest.raises(requests.ConnectionError):  # rewritten to a closed loopback port
        session.post(f"{TWEEPY_HOST}/2/tweets", json={"text": "x"})
    assert seen["adapter"].timeout == (0.2, 0.2)
