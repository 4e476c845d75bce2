"""A loopback X API server for ``POST /2/tweets``, answering in the shape of real recorded answers.

Shapes (REFERENCE.md §2): 201 Created, ``content-type: application/json; charset=utf-8``, a
``location`` header, ``x-rate-limit-*`` and the 24-hour user/app headers (resets in epoch
seconds), body ``{"data":{"id":"1456012973835788293","text":"…"}}`` with big numeric string ids,
increasing. Refusals: 401 without an OAuth header (or with the wrong consumer key), 403 problem
JSON for a duplicate text, 403 code 385 for a reply to an unknown or deleted post, 400 for a text
whose weighted length is over 280. Faults are programmable (``fail_next``, ``ratelimit_next``,
``stall_after_create_next``) and the posts are kept for the test to inspect (``posts``).

Reading back: ``GET /2/users/me`` (``{"data":{"id","name","username"}}``) and
``GET /2/users/:id/tweets`` (newest first, ``max_results`` 5-100, ``meta`` with
``result_count``/``newest_id``/``oldest_id``/``next_token``; ``referenced_tweets`` only when
``tweet.fields`` asks for it). As X does, the text read back has every link shortened to t.co and
``&``, ``<``, ``>`` escaped. ``reads_forbidden`` answers reads with the 403 "client-forbidden"
problem JSON of an app whose plan does not include them.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from twitter_text import parse_tweet  # type: ignore[import-untyped]

FIRST_ID = 1456012973835788293  # the id of the recorded answer; later ids grow from it

DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
PARENT_GONE = {
    "errors": [
        {
            "code": 385,
            "message": "You attempted to reply to a Tweet that is deleted or not visible to you.",
        }
    ]
}
TOO_LONG = {
    "detail": "Your Tweet text is too long. For more information on how Twitter determines "
    "text length see https://github.com/twitter/twitter-text.",
    "type": "about:blank",
    "title": "Invalid Request",
    "status": 400,
}
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
RATE_LIMITED = {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
READS_FORBIDDEN = {
    "client_id": "26994371",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys "
    "and tokens from a Twitter developer App that is attached to a Project. You can create a "
    "project via the developer portal.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
USER_ID = "1587297543871709185"
_LINK = re.compile(r"https?://\S+")


@dataclass
class Post:
    """One stored post."""

    id: str
    text: str
    reply_to: str | None
    deleted: bool = False


@dataclass
class _Fault:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class XServer:
    """``with XServer() as x:`` serves on ``x.base_url`` (http://127.0.0.1:PORT) inside the block.

    ``consumer_key``: when set, an OAuth header naming another key gets 401.
    ``edit_history``: add ``edit_history_tweet_ids`` to answers (posts since 2022-09 carry it).
    """

    def __init__(self, consumer_key: str | None = None, *, edit_history: bool = False) -> None:
        self.consumer_key = consumer_key
        self.edit_history = edit_history
        self.posts: dict[str, Post] = {}
        self.requests = 0  # every POST /2/tweets that arrived
        self.reads = 0  # every GET that arrived
        self.reads_forbidden = False
        self.window_limit, self.window_left = 200, 200
        self.user_limit, self.user_left = 100, 100
        self.app_limit, self.app_left = 10_000, 10_000
        self._lock = threading.Lock()
        self._next_id = FIRST_ID
        self._faults: list[_Fault] = []
        self._stalls = 0
        self._release = threading.Event()  # set on stop: stalled handlers give up
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> XServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: later requests get "connection refused"; stalled ones are dropped."""
        if self._release.is_set():
            return
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> XServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- programmable behaviour -------------------------------------------------------------

    def fail_next(
        self, n: int, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next ``n`` posts with ``status`` and ``body`` (nothing is stored)."""
        with self._lock:
            self._faults += [_Fault(status, body, headers or {}) for _ in range(n)]

    def ratelimit_next(self, n: int, reset_epoch: int) -> None:
        """Answer the next ``n`` posts with 429 code 88, ``x-rate-limit-remaining: 0``."""
        headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset_epoch)}
        self.fail_next(n, 429, RATE_LIMITED, {"x-rate-limit-limit": "200", **headers})

    def stall_after_create_next(self, n: int) -> None:
        """Store the next ``n`` posts, then never answer (the client's timeout must fire)."""
        with self._lock:
            self._stalls += n

    def delete(self, post_id: str) -> None:
        """Delete a post: replies to it get 403 code 385, its text may be posted again."""
        with self._lock:
            self.posts[post_id].deleted = True

    def live(self) -> list[Post]:
        """The posts that are not deleted, oldest first."""
        return [p for p in self.posts.values() if not p.deleted]

    # -- the endpoint -----------------------------------------------------------------------

    def handle(
        self, auth: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str], bool]:
        """Answer one ``POST /2/tweets``: (status, body, headers, stall)."""
        with self._lock:
            self.requests += 1
            if not _authorized(auth, self.consumer_key):
                return 401, UNAUTHORIZED, {}, False
            if self._faults:
                fault = self._faults.pop(0)
                return fault.status, fault.body, {**self._limit_headers(), **fault.headers}, False
            text = str(body.get("text", ""))
            parent = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            if any(p.text == text for p in self.live()):
                return 403, DUPLICATE, self._limit_headers(), False
            if parent is not None and (parent not in self.posts or self.posts[parent].deleted):
                return 403, PARENT_GONE, self._limit_headers(), False
            if not parse_tweet(text).valid:  # empty, or weighted length over 280
                return 400, TOO_LONG, self._limit_headers(), False
            post_id, self._next_id = str(self._next_id), self._next_id + 1_000_003
            self.posts[post_id] = Post(post_id, text, parent)
            self.window_left, self.user_left, self.app_left = (
                max(0, left - 1) for left in (self.window_left, self.user_left, self.app_left)
            )
            data: dict[str, Any] = {"id": post_id, "text": text}
            if self.edit_history:
                data["edit_history_tweet_ids"] = [post_id]
            headers = {"location": f"https://api.twitter.com/2/tweets/{post_id}"}
            stall = self._stalls > 0
            self._stalls -= int(stall)
            return 201, {"data": data}, {**headers, **self._limit_headers()}, stall

    def read(self, auth: str, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer one ``GET``: (status, body)."""
        with self._lock:
            self.reads += 1
            if not _authorized(auth, self.consumer_key):
                return 401, UNAUTHORIZED
            if self.reads_forbidden:
                return 403, READS_FORBIDDEN
            if path == "/2/users/me":
                return 200, {
                    "data": {"id": USER_ID, "name": "Example Status", "username": "examplestatus"}
                }
            if path != f"/2/users/{USER_ID}/tweets":
                return 404, {"title": "Not Found Error", "type": "about:blank", "status": 404}
            return self._timeline(query)

    def _timeline(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        wanted = int(query.get("max_results", "10"))
        if not 5 <= wanted <= 100:
            return 400, {"title": "Invalid Request", "type": "about:blank", "status": 400}
        fields = set(query.get("tweet.fields", "").split(","))
        newest = sorted(self.live(), key=lambda p: int(p.id), reverse=True)
        page = [_as_read(post, fields) for post in newest[:wanted]]
        if not page:
            return 200, {"meta": {"result_count": 0}}
        meta: dict[str, Any] = {
            "result_count": len(page),
            "newest_id": page[0]["id"],
            "oldest_id": page[-1]["id"],
        }
        if len(newest) > wanted:
            meta["next_token"] = "7140dibdnow9c7btw4b0jcz0zu8ra5ye2cn7zjfyjwzpz"
        return 200, {"data": page, "meta": meta}

    def _limit_headers(self) -> dict[str, str]:
        now = int(time.time())
        return {
            "x-rate-limit-limit": str(self.window_limit),
            "x-rate-limit-remaining": str(self.window_left),
            "x-rate-limit-reset": str(now + 900),
            "x-user-limit-24hour-limit": str(self.user_limit),
            "x-user-limit-24hour-remaining": str(self.user_left),
            "x-user-limit-24hour-reset": str(now + 86_400),
            "x-app-limit-24hour-limit": str(self.app_limit),
            "x-app-limit-24hour-remaining": str(self.app_left),
            "x-app-limit-24hour-reset": str(now + 86_400),
        }

    def wait_released(self) -> None:
        self._release.wait()


def _as_read(post: Post, fields: set[str]) -> dict[str, Any]:
    """A post as X reads it back: links shortened to t.co, ``& < >`` escaped."""

    def short(link: re.Match[str]) -> str:
        return "https://t.co/" + hashlib.sha256(link[0].encode()).hexdigest()[:10]

    out: dict[str, Any] = {
        "id": post.id,
        "text": html.escape(_LINK.sub(short, post.text), quote=False),
        "edit_history_tweet_ids": [post.id],
    }
    if "referenced_tweets" in fields and post.reply_to is not None:
        out["referenced_tweets"] = [{"type": "replied_to", "id": post.reply_to}]
    return out


def _authorized(auth: str, consumer_key: str | None) -> bool:
    if not auth.startswith("OAuth ") or "oauth_signature=" not in auth:
        return False
    if consumer_key is None:
        return True
    match = re.search(r'oauth_consumer_key="([^"]*)"', auth)
    return match is not None and match[1] == consumer_key


_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
}


def _handler(server: XServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/2/tweets":
                self.send_error(404)
                return
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            status, answer, headers, stall = server.handle(
                self.headers.get("authorization", ""), body
            )
            if stall:  # the post exists; the answer is never sent
                server.wait_released()
                self.close_connection = True
                return
            self._answer(status, answer, headers)

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            status, answer = server.read(
                self.headers.get("authorization", ""), path, dict(parse_qsl(query))
            )
            self._answer(status, answer, {})

        def _answer(self, status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
            payload = json.dumps(answer, separators=(",", ":")).encode()
            self.send_response(status, _REASONS.get(status))
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read ``XServer.posts``, not a log."""

    return Handler
