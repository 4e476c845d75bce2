"""MastodonPublisher: real Mastodon.py against loopback servers (ours and mastodon-mock)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mastodon import Mastodon

from statusbot.model import Event, EventKind
from statusbot.publishers.base import Failure, Message, PostRef, PublishError
from statusbot.publishers.mastodon import MastodonChannel, MastodonPublisher, limits_from, plain
from tests.conftest import FakeClock
from tests.support.mastodon_server import MastodonServer, to_html

TOKEN = "tok-PLANTED-4b9e1c"  # planted: no error, repr or log may show it
LINKED = (
    "API & DB <degraded> — details: https://status.example.com/incidents/inc000000001?x=1\n"
    "cc @ops@example.com 🚧\n\nNext update by 07:30 UTC"
)


def channel(base: str, token: str = TOKEN, **extra: Any) -> MastodonChannel:
    fields = {"api_base_url": base, "access_token": token, "timeout": "1s", **extra}
    return MastodonChannel.model_validate(fields)


def message(text: str, delivery_id: int = 1, first_attempt_at: datetime | None = None) -> Message:
    event = Event(
        delivery_id, EventKind.INCIDENT_UPDATED, datetime(2026, 11, 22, tzinfo=UTC), 7, None
    )
    return Message(delivery_id, text, f"statusbot:{delivery_id}", event, None, first_attempt_at)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[MastodonServer]:
    srv = MastodonServer(clock, TOKEN)
    _, stop = srv.start_in_thread()
    yield srv
    stop()


@pytest.fixture
async def pub(server: MastodonServer, clock: FakeClock) -> AsyncIterator[MastodonPublisher]:
    publisher = MastodonPublisher(channel(server.base_url), clock)
    yield publisher
    await publisher.close()


@dataclass
class Rig:
    """One test's world: our server (own thread), its clock, a publisher pointed at it."""

    server: MastodonServer
    clock: FakeClock
    pub: MastodonPublisher


@pytest.fixture
def m(server: MastodonServer, clock: FakeClock, pub: MastodonPublisher) -> Rig:
    return Rig(server, clock, pub)


async def fails(
    pub: MastodonPublisher, msg: Message, reply_to: PostRef | None = None
) -> PublishError:
    with pytest.raises(PublishError) as caught:
        await pub.publish(msg, reply_to)
    assert "\n" not in str(caught.value)
    assert TOKEN not in str(caught.value)
    return caught.value


def posts(server: MastodonServer) -> int:
    return server.requests.count(("POST", "/api/v1/statuses"))


async def test_three_posts_form_one_thread_in_order(m: Rig) -> None:
    settings = channel(m.server.base_url, visibility="unlisted", language="en")
    pub = MastodonPublisher(settings, m.clock)
    first = await pub.publish(message(LINKED, 1), None)
    second = await pub.publish(message("Update: fix deployed", 2), first)
    third = await pub.publish(message("Resolved", 3), second)
    await pub.close()

    s = m.server.statuses
    assert [p.id for p in s] == [first.id, second.id, third.id]
    assert [p.in_reply_to_id for p in s] == [None, first.id, second.id]
    assert [p.text for p in s] == [LINKED, "Update: fix deployed", "Resolved"]  # no @mention added
    assert [p.idempotency_key for p in s] == ["statusbot:1", "statusbot:2", "statusbot:3"]
    assert {(p.visibility, p.language) for p in s} == {("unlisted", "en")}
    assert third.url == f"https://social.example/@statusbot/{third.id}"


async def test_same_key_twice_is_one_status(pub: MastodonPublisher, server: MastodonServer) -> None:
    assert await pub.publish(message("Down"), None) == await pub.publish(message("Down"), None)
    assert len(server.statuses) == 1
    assert posts(server) == 2


def test_server_forgets_keys_after_an_hour(server: MastodonServer, clock: FakeClock) -> None:
    """Why reconcile exists: a plain retry after the window posts a duplicate."""
    api = Mastodon(access_token=TOKEN, api_base_url=server.base_url, ratelimit_method="throw")
    first = api.status_post("Down", idempotency_key="k")
    clock.advance(3599)
    assert api.status_post("Down", idempotency_key="k").id == first.id
    clock.advance(2)
    assert api.status_post("Down", idempotency_key="k").id != first.id
    assert len(server.statuses) == 2


async def test_late_retry_finds_the_post_instead_of_duplicating(m: Rig) -> None:
    root = await m.pub.publish(message("Down", 1), None)
    t0 = m.clock()
    m.server.stall_after_create_next(1)  # posted, answer lost
    assert (await fails(m.pub, message(LINKED, 2, t0), root)).failure is Failure.AMBIGUOUS
    m.clock.advance(61 * 60)  # the server no longer knows the key

    again = await m.pub.publish(message(LINKED, 2, t0), root)

    assert again.id == m.server.statuses[1].id
    assert len(m.server.statuses) == 2
    assert posts(m.server) == 2
    assert ("GET", "/api/v1/accounts/verify_credentials") in m.server.requests


async def test_late_retry_posts_when_no_status_matches(m: Rig) -> None:
    root = await m.pub.publish(message("Maintenance starts", 1), None)  # same text, older, a root
    await m.pub.publish(message("Maintenance starts", 2), root)  # same text, other parent
    m.clock.advance(2 * 3600)
    first_try = m.clock() - timedelta(minutes=55)  # that try never reached the server

    new = await m.pub.publish(message("Maintenance starts", 3, first_try), None)

    assert new.id == m.server.statuses[-1].id
    assert len(m.server.statuses) == 3
    assert m.server.statuses[-1].in_reply_to_id is None


async def test_accept_then_stall_is_ambiguous_and_the_retry_gets_the_original(m: Rig) -> None:
    m.server.stall_after_create_next(1)
    assert (await fails(m.pub, message("Down"))).failure is Failure.AMBIGUOUS
    assert len(m.server.statuses) == 1  # created, answer lost

    ref = await m.pub.publish(message("Down"), None)

    assert ref.id == m.server.statuses[0].id
    assert len(m.server.statuses) == 1


async def test_stall_before_create_is_ambiguous_and_the_retry_posts_once(m: Rig) -> None:
    m.server.stall_before_next(1)
    assert (await fails(m.pub, message("Down"))).failure is Failure.AMBIGUOUS
    assert m.server.statuses == []
    await m.pub.publish(message("Down"), None)
    assert len(m.server.statuses) == 1


async def test_too_long_reports_the_limit_and_urls_count_23(m: Rig) -> None:
    err = await fails(m.pub, message("x" * 501))
    assert (err.failure, err.limit) == (Failure.TOO_LONG, 500)
    assert str(err) == "mastodon: HTTP 422: Validation failed: Text character limit of 500 exceeded"
    url = "https://status.example.com/incidents/" + "i" * 60
    await m.pub.publish(message("x" * 476 + " " + url), None)  # 554 code points, 500 counted
    assert len(m.server.statuses) == 1


async def test_a_refusal_overrides_the_instance_limit(m: Rig) -> None:
    m.server.max_characters = 5000
    assert (await m.pub.limit()).max == 5000
    m.server.max_characters = 600  # the instance info lies (or changed)
    assert (await fails(m.pub, message("x" * 601))).limit == 600
    assert (await m.pub.limit()).max == 600


async def test_unauthorized_is_auth_without_the_token(m: Rig) -> None:
    pub = MastodonPublisher(channel(m.server.base_url, token="wrong-PLANTED-77"), m.clock)
    err = await fails(pub, message("Down"))
    assert err.failure is Failure.AUTH
    assert err.permanent
    assert str(err) == "mastodon: HTTP 401: The access token is invalid"
    assert "PLANTED" not in repr(err) + repr(pub) + str(pub)


async def test_missing_or_deleted_parent_is_parent_gone(m: Rig) -> None:
    assert (await fails(m.pub, message("Up"), PostRef("4242"))).failure is Failure.PARENT_GONE
    root = await m.pub.publish(message("Down", 1), None)
    api = Mastodon(access_token=TOKEN, api_base_url=m.server.base_url, ratelimit_method="throw")
    api.status_delete(root.id)
    err = await fails(m.pub, message("Up", 2), root)
    assert err.failure is Failure.PARENT_GONE
    assert "does not appear to exist" in str(err)


async def test_rate_limit_carries_the_reset_and_reserves_nothing(m: Rig) -> None:
    m.server.ratelimit_next(1, 120)
    err = await fails(m.pub, message("Down"))
    assert err.failure is Failure.RATE_LIMITED
    assert err.retry_at is not None
    expected = datetime.now(UTC) + timedelta(seconds=120)
    assert abs((err.retry_at - expected).total_seconds()) < 3
    await m.pub.publish(message("Down"), None)
    assert len(m.server.statuses) == 1


@pytest.mark.parametrize(
    ("status", "failure"),
    [(s, Failure.TRANSIENT) for s in (500, 502, 503, 504)]
    + [(s, Failure.REJECTED) for s in (400, 403, 409, 410)],
)
async def test_http_errors_map_to_failures(m: Rig, status: int, failure: Failure) -> None:
    m.server.fail_next(1, status, {"error": f"refused with {status}"})
    err = await fails(m.pub, message("Down"))
    assert err.failure is failure
    assert str(err) == f"mastodon: HTTP {status}: refused with {status}"


async def test_blank_text_is_rejected_not_refitted(pub: MastodonPublisher) -> None:
    assert (await fails(pub, message("   "))).failure is Failure.REJECTED


@pytest.mark.parametrize(
    ("body", "headers"),
    [("{not json", {}), ('{"id": "1"}', {"X-RateLimit-Reset": "soon"})],
    ids=["bad-json", "bad-ratelimit-header"],
)
async def test_unreadable_success_is_ambiguous(m: Rig, body: str, headers: dict[str, str]) -> None:
    m.server.fail_next(1, 200, body, headers)
    assert (await fails(m.pub, message("Down"))).failure is Failure.AMBIGUOUS


async def test_reconcile_pages_back_to_the_first_attempt(m: Rig) -> None:
    t0 = m.clock()
    ours = await m.pub.publish(message("Down", 1, t0), None)
    for n in range(45):  # more than one page of newer statuses
        m.clock.advance(1)
        await m.pub.publish(message(f"other {n}", 100 + n), None)
    m.clock.advance(3600)
    assert await m.pub.publish(message("Down", 1, t0), None) == ours
    assert len(m.server.statuses) == 46
    assert m.server.requests.count(("GET", "/api/v1/accounts/109000000000000001/statuses")) == 2


async def test_reconcile_errors_stop_the_post(m: Rig) -> None:
    old = m.clock() - timedelta(hours=2)
    m.server.token = "rotated"
    assert (await fails(m.pub, message("Down", 1, old))).failure is Failure.AUTH
    dead = MastodonPublisher(channel("http://127.0.0.1:9"), m.clock)
    assert (await fails(dead, message("Down", 1, old))).failure is Failure.TRANSIENT  # not sent
    assert posts(m.server) == 0


async def test_limit_reads_the_instance_once_a_day(m: Rig) -> None:
    m.server.max_characters = 5000
    limit = await m.pub.limit()
    assert limit.max == 5000
    assert limit.count("see https://status.example.com/incidents/inc000000001") == 27
    assert limit.count("@bob@example.com") == 4
    m.server.max_characters = 1000
    assert (await m.pub.limit()).max == 5000
    assert m.server.requests.count(("GET", "/api/v2/instance/")) == 1
    m.clock.advance(25 * 3600)
    assert (await m.pub.limit()).max == 1000


async def test_limit_counts_the_instance_url_weight(m: Rig) -> None:
    m.server.url_weight = 32
    limit = await MastodonPublisher(channel(m.server.base_url), m.clock).limit()
    assert limit.count("https://status.example.com/incidents/inc000000001") == 32


async def test_limit_falls_back_to_v1_then_500(server: MastodonServer, clock: FakeClock) -> None:
    server.instance_v2, server.max_characters = False, 640
    assert (await MastodonPublisher(channel(server.base_url), clock).limit()).max == 640
    dead = MastodonPublisher(channel("http://127.0.0.1:9"), clock)
    assert (await dead.limit()).max == 500


async def test_server_also_runs_in_the_test_loop(clock: FakeClock) -> None:
    srv = MastodonServer(clock, TOKEN)
    pub = MastodonPublisher(channel(await srv.start()), clock)
    try:
        root = await pub.publish(message("Down", 1), None)
        assert (await pub.publish(message("Up", 2), root)).id == srv.statuses[1].id
    finally:
        await pub.close()
        await srv.stop()


def test_limits_from_every_instance_shape() -> None:
    v2 = {
        "configuration": {"statuses": {"max_characters": 5000, "characters_reserved_per_url": 32}}
    }
    assert limits_from(v2) == (5000, 32)
    assert limits_from({"configuration": {"statuses": {"max_characters": 1000}}}) == (1000, 23)
    assert limits_from({"max_toot_chars": 5000}) == (5000, 23)
    assert limits_from({"uri": "x"}) is None


def test_plain_text_of_mastodon_html_equals_the_text_sent() -> None:
    assert plain(to_html(LINKED), is_html=True) == plain(LINKED)
    real = (
        '<p>Hi <span class="h-card"><a href="https://e.com/@bob" class="u-url mention">@<span>'
        "bob</span></a></span> &amp; all<br />line2</p>"
    )
    assert plain(real, is_html=True) == plain("Hi @bob@e.com & all\nline2")
    assert plain("<p>a</p><p>b</p>", is_html=True) != plain("ab")


def test_repr_and_config_hide_the_token(clock: FakeClock) -> None:
    settings = channel("https://social.example/")
    pub = MastodonPublisher(settings, clock)
    assert settings.api_base_url == "https://social.example"
    for shown in (repr(pub), str(pub), repr(settings), settings.model_dump_json()):
        assert TOKEN not in shown
    assert "Secret(" in repr(pub)
    assert "https://social.example" in repr(pub)


@pytest.mark.parametrize("field", [{"api_base_url": "social.example"}, {"timeout": "0s"}])
def test_bad_settings_are_refused(field: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"api_base_url|timeout"):
        MastodonChannel.model_validate(
            {"api_base_url": "https://a.example", "access_token": "t", **field}
        )


async def test_against_mastodon_mock(clock: FakeClock) -> None:
    from mastodon_mock.testing import MockServer

    with MockServer() as mock:  # in process it seeds alice_token (`serve` seeds mock_token)
        pub = MastodonPublisher(channel(mock.base_url, token="alice_token"), clock)
        root = await pub.publish(message("Down", 1), None)
        reply = await pub.publish(message("Update", 2), root)
        assert await pub.publish(message("Update", 2), root) == reply
        status = Mastodon(access_token="alice_token", api_base_url=mock.base_url).status(reply.id)
        assert str(status.in_reply_to_id) == root.id
        assert (await pub.limit()).max == 500
        await pub.close()
