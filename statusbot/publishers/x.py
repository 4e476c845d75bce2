"""X (Twitter): one post per delivery through tweepy's ``Client.create_tweet``, threaded by reply.

X has no idempotency key and refuses a repeated text, so every text must be unique (the templates
add the update number and time) and a "duplicate content" refusal means "already posted": an
earlier attempt got through and its answer was lost. The publisher then reads the account's
latest posts back to learn that post's id, so the thread goes on from it; where X will not tell
(reading barred by the plan, rate-limited, down) or the post is not among them, the refusal
stands (``Failure.DUPLICATE``: sent, id unknown). tweepy hard-codes ``https://api.twitter.com``
and sends without a timeout; ``XAdapter``, mounted on the client's session, adds both the timeout
and a base-URL rewrite (``api_base``, e.g. ``https://api.x.com``, or a loopback test server).
Every call runs in a worker thread. Rate-limit headers of every answer are kept
(``remaining()``) for budgeting.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, cast

import requests
import tweepy  # type: ignore[import-untyped]
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from requests.utils import get_environ_proxies

from statusbot.fitting import x_counter
from statusbot.publishers.base import Failure, Limit, Message, PostRef, PublishError
from statusbot.publishers.social import TWEEPY_HOST, XChannel

MAX_WEIGHTED = 280
READ_BACK = 20  # latest posts read to find the one X refused to post again (5-100 allowed)
_GRACE = 2.0  # seconds past the socket timeouts before the worker thread is given up on

# header prefix → the name remaining()/resets() use
_LINK = re.compile(r"https?://\S+")
log = logging.getLogger(__name__)

_LIMITS = {
    "x-rate-limit": "window",
    "x-user-limit-24hour": "user_24h",
    "x-app-limit-24hour": "app_24h",
}


class XAdapter(HTTPAdapter):
    """Gives every request a timeout and sends it to ``base`` instead of tweepy's fixed host."""

    def __init__(self, base: str | None = None, timeout: tuple[float, float] = (3.05, 30)) -> None:
        super().__init__()
        self.base = None if base in (None, TWEEPY_HOST) else base
        self.timeout = timeout

    def send(  # noqa: PLR0917  (HTTPAdapter.send's own signature)
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send ``request`` with our timeout when none was given, rewritten to ``base``."""
        if timeout is None:
            timeout = self.timeout
        if self.base and request.url and request.url.startswith(TWEEPY_HOST):
            request.url = self.base + request.url[len(TWEEPY_HOST) :]
            if proxies:  # they were chosen for api.twitter.com: choose again for the new host
                proxies = get_environ_proxies(request.url)
        return super().send(request, stream, timeout, verify, cert, proxies)


class XPublisher:
    """Posts to X. ``remaining()`` tells what the last answer said about the posting budget."""

    kind: ClassVar[str] = "x"

    def __init__(self, settings: XChannel) -> None:
        self.settings = settings
        self.client = tweepy.Client(
            consumer_key=settings.consumer_key.reveal(),
            consumer_secret=settings.consumer_secret.reveal(),
            access_token=settings.access_token.reveal(),
            access_token_secret=settings.access_token_secret.reveal(),
            return_type=requests.Response,  # keeps the headers of a success
            wait_on_rate_limit=False,  # True would sleep until the reset, then recurse
        )
        timeouts = (settings.connect_timeout.total_seconds(), settings.timeout.total_seconds())
        self.client.session.mount(TWEEPY_HOST, XAdapter(settings.api_base, timeouts))
        self._deadline = sum(timeouts) + _GRACE
        self._remaining: dict[str, int] = {}
        self._resets: dict[str, datetime] = {}
        self._user_id: str | None = None  # the account's, once a read-back asked for it

    def __repr__(self) -> str:
        return f"XPublisher(api_base={self.settings.api_base!r})"

    def remaining(self) -> dict[str, int]:
        """Posts left per limit seen so far: ``window`` (15 min), ``user_24h``, ``app_24h``."""
        return dict(self._remaining)

    def resets(self) -> dict[str, datetime]:
        """When each limit of ``remaining()`` resets (UTC)."""
        return dict(self._resets)

    async def limit(self) -> Limit:
        """280, counted by X's weighted length (URLs 23, CJK and emoji 2)."""
        return Limit(MAX_WEIGHTED, x_counter())

    async def publish(self, msg: Message, reply_to: PostRef | None) -> PostRef:
        """Post ``msg.text``, as a reply to ``reply_to`` when given. Raises PublishError."""
        parent = reply_to.id if reply_to else None
        try:
            response = await asyncio.wait_for(
                asyncio.to_thread(self._create, msg.text, parent), self._deadline
            )
        except TimeoutError:
            raise PublishError(
                f"x: no answer within {self._deadline:g}s; the post may exist",
                Failure.AMBIGUOUS,
            ) from None
        except requests.RequestException as exc:
            raise PublishError(
                f"x: {type(exc).__name__} while posting; the post may exist", Failure.AMBIGUOUS
            ) from None
        except tweepy.HTTPException as exc:
            self._record(exc.response.headers)
            error = self._classify(exc)
        else:
            self._record(response.headers)
            return _post_ref(response)
        if error.failure is Failure.DUPLICATE:
            found = await self._read_back(msg.text, parent)
            if found is not None:
                return found
        raise error

    async def close(self) -> None:
        """Close the HTTP session."""
        self.client.session.close()

    def _create(self, text: str, parent: str | None) -> requests.Response:
        """The blocking call (worker thread)."""
        return cast(
            requests.Response, self.client.create_tweet(text=text, in_reply_to_tweet_id=parent)
        )

    async def _read_back(self, text: str, parent: str | None) -> PostRef | None:
        """The post X just refused to repeat, found among the account's latest; None when it
        is not there or X does not say (one page of reads, only after a duplicate refusal)."""
        want = _comparable(text)
        try:
            latest = await asyncio.wait_for(asyncio.to_thread(self._latest), 2 * self._deadline)
            for post in latest.json().get("data") or []:
                if _replied_to(post) == parent and _comparable(html.unescape(post["text"])) == want:
                    return _ref(str(post["id"]))
        except (
            TimeoutError,
            requests.RequestException,
            tweepy.HTTPException,
            ValueError,  # not JSON
            LookupError,  # JSON of another shape…
            TypeError,
            AttributeError,  # …with lists, strings or numbers where objects belong
        ) as exc:
            reason = _one_line(str(exc)) or type(exc).__name__
            log.info("x: a duplicate was refused and its post could not be read back: %s", reason)
        return None

    def _latest(self) -> requests.Response:
        """The account's latest posts, newest first (blocking; worker thread)."""
        if self._user_id is None:
            me = cast(requests.Response, self.client.get_me(user_auth=True))
            self._user_id = str(me.json()["data"]["id"])
        return cast(
            requests.Response,
            self.client.get_users_tweets(
                self._user_id,
                max_results=READ_BACK,
                tweet_fields=["referenced_tweets"],
                user_auth=True,
            ),
        )

    def _record(self, headers: Mapping[str, str]) -> None:
        for prefix, name in _LIMITS.items():
            remaining = _int(headers.get(f"{prefix}-remaining"))
            reset = _int(headers.get(f"{prefix}-reset"))
            if remaining is not None:
                self._remaining[name] = remaining
            if reset is not None:
                self._resets[name] = datetime.fromtimestamp(reset, UTC)

    def _classify(self, exc: Any) -> PublishError:
        """A tweepy HTTPException as a PublishError (one line, the server's words, no secret)."""
        status: int = exc.response.status_code
        codes = {int(c) for c in exc.api_codes if str(c).isdigit()}
        text = " ".join(str(m) for m in exc.api_messages)
        what = f"x: {status} {exc.response.reason}" + (f": {_one_line(text)}" if text else "")
        failure = _failure(status, codes, text.lower())
        if failure is Failure.RATE_LIMITED:
            retry_at = _retry_at(exc.response.headers, getattr(exc, "reset_time", None))
            return PublishError(what, failure, retry_at=retry_at)
        return PublishError(
            what, failure, limit=MAX_WEIGHTED if failure is Failure.TOO_LONG else None
        )


def _failure(status: int, codes: set[int], text: str) -> Failure:
    """What an X refusal means; ``text`` is the lower-cased error message(s)."""
    rules = (
        (status == 429, Failure.RATE_LIMITED),  # {"errors":[{"code":88}]} or problem JSON
        (status == 401, Failure.AUTH),
        (status == 403 and (187 in codes or "duplicate" in text), Failure.DUPLICATE),
        (status == 403 and (385 in codes or "deleted or not visible" in text), Failure.PARENT_GONE),
        (186 in codes or (status == 400 and "too long" in text), Failure.TOO_LONG),
        (status == 504, Failure.AMBIGUOUS),  # the gateway gave up waiting: it may be posted
        (status >= 500, Failure.TRANSIENT),
    )
    return next((failure for hit, failure in rules if hit), Failure.REJECTED)


def _retry_at(headers: Mapping[str, str], reset_time: object) -> datetime | None:
    """The latest reset among the limits this 429 says are exhausted, else tweepy's reset_time
    (``x-rate-limit-reset``), else ``Retry-After``; None when the answer says nothing."""
    exhausted = []
    for prefix in _LIMITS:
        left, reset = _int(headers.get(f"{prefix}-remaining")), _int(headers.get(f"{prefix}-reset"))
        if left is not None and left <= 0 and reset is not None:
            exhausted.append(reset)
    if exhausted:
        return datetime.fromtimestamp(max(exhausted), UTC)
    if isinstance(reset_time, int):
        return datetime.fromtimestamp(reset_time, UTC)
    after = _int(headers.get("retry-after"))
    return datetime.now(UTC) + timedelta(seconds=after) if after is not None else None


def _post_ref(response: requests.Response) -> PostRef:
    try:
        post_id = str(response.json()["data"]["id"])
    except (ValueError, KeyError, TypeError):
        raise PublishError(
            f"x: {response.status_code} without a post id in the body; the post may exist",
            Failure.AMBIGUOUS,
        ) from None
    return _ref(post_id)


def _ref(post_id: str) -> PostRef:
    return PostRef(id=post_id, url=f"https://x.com/i/web/status/{post_id}")


def _replied_to(post: Mapping[str, Any]) -> str | None:
    refs = post.get("referenced_tweets") or []
    return next((str(r["id"]) for r in refs if r.get("type") == "replied_to"), None)


def _comparable(text: str) -> str:
    """``text`` as X gives it back: every link is a t.co link then, and spacing may differ."""
    return " ".join(_LINK.sub("<link>", unicodedata.normalize("NFC", text)).split())


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
