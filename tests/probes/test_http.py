"""HTTP probe against a real aiohttp server on 127.0.0.1 (plain and TLS)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web

from statusbot.model import State
from statusbot.probes import HttpCheck, ProbeContext, run_check
from statusbot.probes.http import probe
from tests.probes.certs import Authority

SECRET = "tok-s3cret-value-123"


def make_app(release: asyncio.Event) -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=f"all systems ok ({request.method})")

    async def fail(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down for maintenance")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(0.3)  # the server is slow; the test itself never sleeps
        return web.Response(text="ok, eventually")

    async def hang(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="too late")

    async def status_json(_: web.Request) -> web.Response:
        return web.json_response({"status": "green", "checks": [{"name": "db", "ok": True}]})

    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def auth(request: web.Request) -> web.Response:
        if request.headers.get("X-Token") == SECRET:
            return web.Response(text="welcome")
        return web.Response(status=401, text="who are you")

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=f"{request.method} {await request.text()}")

    async def big(_: web.Request) -> web.Response:
        return web.Response(text="x" * 100_000 + "MARKER")

    async def disconnect(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        await release.wait()
        return web.Response()

    async def login(_: web.Request) -> web.Response:
        response = web.Response(text="logged in")
        response.set_cookie("session", "alive")
        return response

    async def whoami(request: web.Request) -> web.Response:
        return web.Response(text=f"session={request.cookies.get('session', 'none')}")

    async def bounce(request: web.Request) -> web.Response:
        """A cookie check: the first visit sets a cookie and comes back for it."""
        if request.cookies.get("seen") == "1":
            return web.Response(text="welcome back")
        response = web.HTTPFound("/bounce")
        response.set_cookie("seen", "1")
        raise response

    app = web.Application()
    app.add_routes(
        [
            web.get("/login", login),
            web.get("/whoami", whoami),
            web.get("/bounce", bounce),
            web.get("/ok", ok),
            web.get("/fail", fail),
            web.get("/slow", slow),
            web.get("/hang", hang),
            web.get("/json", status_json),
            web.get("/redirect", redirect),
            web.get("/loop", loop),
            web.get("/auth", auth),
            web.post("/echo", echo),
            web.get("/big", big),
            web.get("/disconnect", disconnect),
        ]
    )
    return app


class Target:
    """A loopback HTTP(S) server that can be stopped and started again on the same port."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.release = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        self.release = asyncio.Event()
        self.runner = web.AppRunner(make_app(self.release), shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.ssl_context)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def url(self, path: str) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    server = Target()
    await server.start()
    yield server
    await server.stop()


def check(url: str, **fields: object) -> HttpCheck:
    return HttpCheck.model_validate({"type": "http", "url": url, **fields})


async def test_2xx_is_up_with_latency(target: Target, ctx: ProbeContext) -> None:
    outcome = await probe(check(target.url("/ok")), ctx)
    assert outcome.state is State.UP
    assert outcome.reason == "HTTP 200"
    assert outcome.latency is not None
    assert outcome.latency >= 0


async def test_503_is_down_and_names_status_url_and_expectation(
    target: Target, ctx: ProbeContext
) -> None:
    url = target.url("/fail")
    outcome = await probe(check(url), ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason == f"HTTP 503 from {url} (expected 2xx)"
    assert outcome.latency is not None


async def test_expected_status_list_accepts_listed_codes(target: Target, ctx: ProbeContext) -> None:
    outcome = await probe(check(target.url("/fail"), expect={"status": [503]}), ctx)
    assert outcome.state is State.UP
    outcome = await probe(check(target.url("/ok"), expect={"status": 204}), ctx)
    assert outcome.reason.endswith("(expected 204)")


async def test_server_stopped_is_refused_then_up_again_on_same_port(
    target: Target, ctx: ProbeContext
) -> None:
    spec = check(target.url("/ok"))
    assert (await probe(spec, ctx)).state is State.UP
    await target.stop()
    outcome = await probe(spec, ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason == f"connection refused 127.0.0.1:{target.port}"
    assert outcome.latency is None
    await target.start()
    assert (await probe(spec, ctx)).state is State.UP


async def test_slower_than_degraded_after_is_degraded(target: Target, ctx: ProbeContext) -> None:
    outcome = await probe(check(target.url("/slow"), degraded_after="100ms"), ctx)
    assert outcome.state is State.DEGRADED
    assert outcome.reason.startswith("slow: 0.3")
    assert outcome.reason.endswith("s (degraded above 0.1s)")
    assert outcome.latency is not None
    assert outcome.latency >= 0.3


async def test_hanging_server_hits_run_check_deadline(target: Target, ctx: ProbeContext) -> None:
    outcome = await run_check(check(target.url("/hang")), ctx, timeout=0.3)
    assert outcome.state is State.DOWN
    assert outcome.reason == "no answer within 0.3s"


async def test_body_contains_and_regex(target: Target, ctx: ProbeContext) -> None:
    url = target.url("/ok")
    assert (await probe(check(url, expect={"body_contains": "systems ok"}), ctx)).state is State.UP
    missing = await probe(check(url, expect={"body_contains": "green"}), ctx)
    assert missing.state is State.DOWN
    assert missing.reason == f"HTTP 200 from {url} but the body lacks 'green'"
    assert (await probe(check(url, expect={"body_regex": r"ok \(GET\)$"}), ctx)).state is State.UP
    nomatch = await probe(check(url, expect={"body_regex": r"^fine"}), ctx)
    assert nomatch.reason == f"HTTP 200 from {url} but the body does not match /^fine/"


async def test_json_path_equals(target: Target, ctx: ProbeContext) -> None:
    url = target.url("/json")
    good = check(url, expect={"json": {"path": "checks[0].ok", "equals": True}})
    assert (await probe(good, ctx)).state is State.UP
    one_is_not_true = check(url, expect={"json": {"path": "checks[0].ok", "equals": 1}})
    assert (await probe(one_is_not_true, ctx)).state is State.DOWN
    wrong = await probe(check(url, expect={"json": {"path": "status", "equals": "red"}}), ctx)
    assert wrong.state is State.DOWN
    assert wrong.reason == f"""JSON status is '"green"' from {url} (expected '"red"')"""
    absent = await probe(check(url, expect={"json": {"path": "checks[3].ok", "equals": 1}}), ctx)
    assert absent.reason == f"JSON checks[3].ok not found in response from {url}"
    text_url = target.url("/ok")
    not_json = await probe(check(text_url, expect={"json": {"path": "a", "equals": 1}}), ctx)
    assert not_json.reason == f"response from {text_url} is not JSON"


async def test_redirects_followed_or_reported(target: Target, ctx: ProbeContext) -> None:
    url = target.url("/redirect")
    assert (await probe(check(url, expect={"body_contains": "ok"}), ctx)).state is State.UP
    unfollowed = await probe(check(url, follow_redirects=False), ctx)
    assert unfollowed.reason == f"HTTP 302 from {url} (expected 2xx)"
    looping = await probe(check(target.url("/loop")), ctx)
    assert looping.state is State.DOWN
    assert looping.reason.startswith(f"too many redirects from {target.url('/loop')}")


async def test_cookies_carry_within_one_run_and_never_to_another(
    target: Target, ctx: ProbeContext
) -> None:
    bounce = check(target.url("/bounce"), expect={"body_contains": "welcome back"})
    assert (await probe(bounce, ctx)).state is State.UP  # the redirect chain kept its cookie
    assert (await probe(bounce, ctx)).state is State.UP  # and the next run starts afresh
    logged_in = check(target.url("/login"))
    no_session = check(target.url("/whoami"), expect={"body_contains": "session=none"})
    assert (await probe(logged_in, ctx)).state is State.UP
    assert (await probe(no_session, ctx)).state is State.UP
    # side by side, as the daemon runs checks: each in its own task
    outcomes = await asyncio.gather(
        *(run_check(spec, ctx, 5.0) for spec in (logged_in, bounce, no_session, no_session))
    )
    assert [o.state for o in outcomes] == [State.UP] * 4, [o.reason for o in outcomes]


async def test_header_secrets_are_sent_but_never_shown(target: Target, ctx: ProbeContext) -> None:
    url = target.url("/auth")
    assert (await probe(check(url, headers={"X-Token": SECRET}), ctx)).state is State.UP
    wrong = await probe(check(url, headers={"X-Token": SECRET + "-wrong"}), ctx)
    assert wrong.reason == f"HTTP 401 from {url} (expected 2xx)"
    assert SECRET not in repr(check(url, headers={"X-Token": SECRET}))


async def test_method_and_body_are_sent(target: Target, ctx: ProbeContext) -> None:
    spec = check(
        target.url("/echo"), method="post", body="ping!", expect={"body_contains": "POST ping!"}
    )
    assert (await probe(spec, ctx)).state is State.UP
    assert (await probe(check(target.url("/ok"), method="HEAD"), ctx)).state is State.UP


async def test_body_read_stops_at_max_body(target: Target, ctx: ProbeContext) -> None:
    url = target.url("/big")
    assert (await probe(check(url, expect={"body_contains": "MARKER"}), ctx)).state is State.UP
    capped = await probe(check(url, max_body=1000, expect={"body_contains": "MARKER"}), ctx)
    assert capped.state is State.DOWN


async def test_server_disconnect_is_named(target: Target, ctx: ProbeContext) -> None:
    url = target.url("/disconnect")
    outcome = await probe(check(url), ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason == f"server disconnected without a complete answer ({url})"


@pytest.fixture
async def tls_target(authority: Authority) -> AsyncIterator[Target]:
    leaf = authority.issue("http-leaf", valid_for=timedelta(days=90))
    server = Target(leaf.server_context())
    await server.start()
    yield server
    await server.stop()


async def test_https_verified_with_ca_file(
    tls_target: Target, authority: Authority, ctx: ProbeContext
) -> None:
    spec = check(tls_target.url("/ok"), ca_file=str(authority.ca_file))
    outcome = await probe(spec, ctx)
    assert (outcome.state, outcome.reason) == (State.UP, "HTTP 200")


async def test_https_untrusted_fails_verify_unless_verify_off(
    tls_target: Target, ctx: ProbeContext
) -> None:
    url = tls_target.url("/ok")
    outcome = await probe(check(url), ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason == (
        f"certificate verify failed: unable to get local issuer certificate ({url})"
    )
    assert (await probe(check(url, verify_tls=False), ctx)).state is State.UP


async def test_https_to_plain_http_port_is_a_tls_failure(target: Target, ctx: ProbeContext) -> None:
    outcome = await probe(check(target.url("/ok").replace("http:", "https:")), ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason.startswith("TLS handshake failed with https://127.0.0.1:")


async def test_credentials_in_the_url_never_reach_the_reason(
    target: Target, ctx: ProbeContext
) -> None:
    url = target.url("/fail").replace("http://", "http://user:hunter22@") + "?token=s3cr3t&x=1"
    spec = check(url)
    outcome = await probe(spec, ctx)
    assert outcome.state is State.DOWN
    for text in (outcome.reason, spec.target()):
        assert "hunter22" not in text
        assert "s3cr3t" not in text
    assert "http://***@127.0.0.1" in outcome.reason
    assert "?token=***&x=***" in outcome.reason
