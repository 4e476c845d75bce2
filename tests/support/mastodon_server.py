"""A Mastodon API test server for the rules mastodon-mock does not follow (REFERENCE §3):
grapheme counting (URL = 23, free mention domains), the exact 422 wording, 404 for a missing
parent, keys that expire after one hour of an injected ``clock``, ISO-8601 rate-limit resets with
µs (wall clock: Mastodon.py compares them with ``time.time()``), trailing-slash instance paths,
"created, answer lost". Content is HTML as Mastodon renders it, never with ``text``.
Run it in the test's loop (``await start()``) or its own thread (``url, stop = start_in_thread()``).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from mastodon import Mastodon
from mastodon._url_regex import url_regex

DOMAIN = "social.example"
USER = "statusbot"
ACCOUNT_ID = "109000000000000001"
KEY_TTL = timedelta(hours=1)
Body = str | dict[str, Any]
Headers = dict[str, str]
JSON = "application/json"
Clock = Callable[[], datetime]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_INLINE = re.compile(r"(https?://[^\s<>\"]+)|(?<![\w/])@(\w+)(?:@([\w.-]+\w))?")


@dataclass
class Posted:
    """A status as the server keeps it (``text`` is what the client sent)."""

    id: str
    text: str
    in_reply_to_id: str | None
    created_at: datetime
    visibility: str = "public"
    language: str | None = None
    spoiler_text: str = ""
    idempotency_key: str | None = None
    deleted: bool = False


@dataclass
class _Fault:
    kind: str  # fail | ratelimit | stall_after | stall_before
    status: int = 500
    body: str = ""
    headers: Headers = field(default_factory=dict)
    reset_in: float = 0.0


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_LINK = (
    '<a href="{0}" target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">'
    '{1}://</span><span class="ellipsis">{2}</span><span class="invisible">{3}</span></a>'
)
_MENTION = '<span class="h-card" translate="no"><a href="https://{1}/@{0}" class="u-url mention">'
_MENTION += "@<span>{0}</span></a></span>"


def _inline(line: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(line):
        out.append(html.escape(line[pos : m.start()]))
        if m[1]:
            scheme, rest = m[1].split("://", 1)
            parts = (m[1], scheme, rest[:30], rest[30:])
            out.append(_LINK.format(*map(html.escape, parts)))
        else:
            out.append(_MENTION.format(m[2], m[3] or DOMAIN))
        pos = m.end()
    return "".join([*out, html.escape(line[pos:])])


def to_html(text: str) -> str:
    """Mastodon's plain-text formatting: <p> per paragraph, <br /> per line break."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(f"<p>{'<br />'.join(map(_inline, p.split(chr(10))))}</p>" for p in paragraphs)


class MastodonServer:
    """State and handlers. Faults apply, in order, to the next ``POST /api/v1/statuses``."""

    def __init__(self, clock: Clock = lambda: datetime.now(UTC), token: str = "test-token") -> None:
        self.clock, self.token = clock, token
        self.max_characters, self.url_weight = 500, 23  # configuration.statuses; change freely
        self.instance_v2 = True  # False: /api/v2/instance answers 404 (a pre-4.0 server)
        self.answer_delay = 0.0  # seconds between creating a status and answering (crash tests)
        self.posted: list[Posted] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._keys: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._faults: list[_Fault] = []
        self.base_url, self._last_id = "", 0  # base_url: set by start()
        self._release = asyncio.Event()  # replaced in start(): set by stop(), ends stalls
        self._runner: web.AppRunner | None = None

    def fail_next(
        self, n: int, status: int, body: Body = "", headers: Headers | None = None
    ) -> None:
        """Answer the next ``n`` posts with ``status`` (a dict body is sent as JSON)."""
        text = json.dumps(body) if isinstance(body, dict) else body
        fault = _Fault("fail", status, text, {"Content-Type": JSON, **(headers or {})})
        self._faults.extend([fault] * n)  # list ops are atomic; only the server pops

    def ratelimit_next(self, n: int, reset_in_seconds: float) -> None:
        """Answer the next ``n`` posts 429, resetting ``reset_in_seconds`` from now."""
        self._faults.extend([_Fault("ratelimit", reset_in=reset_in_seconds)] * n)

    def stall_after_create_next(self, n: int) -> None:
        """Create the next ``n`` statuses, then never answer: "created, answer lost"."""
        self._faults.extend([_Fault("stall_after")] * n)

    def stall_before_next(self, n: int) -> None:
        """Never answer the next ``n`` posts, creating nothing."""
        self._faults.extend([_Fault("stall_before")] * n)

    @property
    def statuses(self) -> list[Posted]:
        return [p for p in self.posted if not p.deleted]

    def _find(self, sid: str) -> Posted | None:
        return next((p for p in self.statuses if p.id == sid), None)

    def _new_id(self) -> str:
        self._last_id = max(int(self.clock().timestamp() * 1000) << 16, self._last_id + 1)
        return str(self._last_id)

    def length(self, text: str, spoiler_text: str = "") -> int:
        urls = sum(1 for _ in url_regex.finditer(text))
        return Mastodon.get_status_length(text, spoiler_text) + (self.url_weight - 23) * urls

    def account(self) -> dict[str, Any]:
        return {
            "id": ACCOUNT_ID, "username": USER, "acct": USER, "display_name": "Status", "bot": True,
            "created_at": "2026-01-01T00:00:00.000Z", "url": f"https://{DOMAIN}/@{USER}",
            "note": "", "fields": [], "emojis": [], "statuses_count": len(self.statuses),
        }  # fmt: skip

    def status_json(self, p: Posted) -> dict[str, Any]:
        return {
            "id": p.id, "created_at": _iso(p.created_at), "in_reply_to_id": p.in_reply_to_id,
            "in_reply_to_account_id": ACCOUNT_ID if p.in_reply_to_id else None,
            "sensitive": bool(p.spoiler_text), "spoiler_text": p.spoiler_text,
            "visibility": p.visibility, "language": p.language,
            "uri": f"https://{DOMAIN}/users/{USER}/statuses/{p.id}",
            "url": f"https://{DOMAIN}/@{USER}/{p.id}", "content": to_html(p.text),
            "reblog": None, "account": self.account(), "media_attachments": [], "mentions": [],
            "tags": [], "emojis": [], "card": None, "poll": None,
        }  # fmt: skip

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers])
        add = app.router.add_route
        for path in ("/api/v2/instance", "/api/v2/instance/", "/api/v1/instance/"):
            add("GET", path, self._instance)
        add("POST", "/api/v1/statuses", self._post)
        add("DELETE", "/api/v1/statuses/{id}", self._delete)
        add("GET", "/api/v1/accounts/verify_credentials", self._me)
        add("GET", "/api/v1/accounts/{id}/statuses", self._list)
        return app

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record the request, check the token (not for /instance), add rate-limit headers."""
        self.requests.append((request.method, request.path))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token == self.token or "/instance" in request.path:
            response = await handler(request)
        else:
            response = web.json_response({"error": "The access token is invalid"}, status=401)
        reset, headers = datetime.now(UTC) + timedelta(minutes=5), response.headers
        headers.setdefault("X-RateLimit-Limit", "300")
        headers.setdefault("X-RateLimit-Remaining", str(300 - len(self.requests)))
        headers.setdefault("X-RateLimit-Reset", _iso(reset))
        return response

    async def _instance(self, request: web.Request) -> web.Response:
        if request.path.startswith("/api/v1/"):  # the Pleroma shape: only max_toot_chars
            return web.json_response({"uri": DOMAIN, "max_toot_chars": self.max_characters})
        if not self.instance_v2:
            return web.json_response({"error": "Record not found"}, status=404)
        statuses = {"max_characters": self.max_characters, "max_media_attachments": 4}
        statuses["characters_reserved_per_url"] = self.url_weight
        return web.json_response({"domain": DOMAIN, "configuration": {"statuses": statuses}})

    async def _post(self, request: web.Request) -> web.StreamResponse:
        fault = self._faults.pop(0) if self._faults else None
        if fault and fault.kind != "stall_after":
            return await self._fault(fault)
        form = await request.post()
        text, spoiler = str(form.get("status", "")), str(form.get("spoiler_text", ""))
        parent = str(form["in_reply_to_id"]) if form.get("in_reply_to_id") else None
        key, now = request.headers.get("Idempotency-Key"), self.clock()
        refusal = self._orphan(parent) or self._replay(key, now) or self._invalid(text, spoiler)
        if refusal:
            return refusal
        visibility = str(form.get("visibility") or "public")
        language = str(form["language"]) if form.get("language") else None
        status = Posted(self._new_id(), text, parent, now, visibility, language, spoiler, key)
        self.posted.append(status)
        if key:
            self._keys[(self.token, key)] = (status.id, now)
        if fault:  # stall_after: created, and the answer is lost
            return await self._stall()
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)  # a window for a crash: created, not answered
        return web.json_response(self.status_json(status))

    async def _fault(self, fault: _Fault) -> web.Response:
        if fault.kind == "stall_before":
            return await self._stall()
        if fault.kind == "ratelimit":
            reset = datetime.now(UTC) + timedelta(seconds=fault.reset_in)
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": _iso(reset)}
            return web.json_response({"error": "Too many requests"}, status=429, headers=headers)
        return web.Response(status=fault.status, text=fault.body, headers=fault.headers)

    def _orphan(self, parent: str | None) -> web.Response | None:  # checked before the key
        if parent is None or self._find(parent) is not None:
            return None
        error = "The post you are trying to reply to does not appear to exist."
        return web.json_response({"error": error}, status=404)

    def _replay(self, key: str | None, now: datetime) -> web.Response | None:  # 404 if deleted
        seen = self._keys.get((self.token, key)) if key else None
        if seen is None or now - seen[1] >= KEY_TTL:
            return None
        if (original := self._find(seen[0])) is None:
            return web.json_response({"error": "Record not found"}, status=404)
        return web.json_response(self.status_json(original))

    def _invalid(self, text: str, spoiler: str) -> web.Response | None:
        if not text.strip():
            error = "Validation failed: Text can't be blank"
        elif self.length(text, spoiler) > self.max_characters:
            error = f"Validation failed: Text character limit of {self.max_characters} exceeded"
        else:
            return None
        return web.json_response({"error": error}, status=422)

    async def _stall(self) -> web.Response:
        await self._release.wait()  # set by stop(): the client gave up long ago
        return web.json_response({"error": "stalled"}, status=504)

    async def _delete(self, request: web.Request) -> web.Response:
        if (status := self._find(request.match_info["id"])) is None:
            return web.json_response({"error": "Record not found"}, status=404)
        status.deleted = True
        return web.json_response({**self.status_json(status), "text": status.text})

    async def _me(self, request: web.Request) -> web.Response:
        return web.json_response({**self.account(), "source": {"privacy": "public", "note": ""}})

    async def _list(self, request: web.Request) -> web.Response:
        limit = min(int(request.query.get("limit", "20")), 40)
        max_id = int(request.query.get("max_id", str(1 << 80)))
        newest = sorted(self.statuses, key=lambda p: int(p.id), reverse=True)
        page = [self.status_json(p) for p in newest if int(p.id) < max_id][:limit]
        return web.json_response(page)

    async def start(self) -> str:
        """Listen on 127.0.0.1:<free port> in the running loop; returns the base URL."""
        self._release = asyncio.Event()
        self._runner = web.AppRunner(self.app(), shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self) -> tuple[str, Callable[[], None]]:
        """Run in a private loop and thread (for synchronous callers); returns (url, stop)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True, name="mastodon-server")
        thread.start()
        base_url = asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)

        def stop() -> None:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

        return base_url, stop
