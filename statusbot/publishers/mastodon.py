"""The Mastodon channel: threaded posts through Mastodon.py, exactly once per delivery.

Every post carries the delivery's ``Idempotency-Key``; the server answers a repeat within one
hour with the original status. A retry later than ``RECONCILE_AFTER`` first looks for the post
among the account's recent statuses (same parent, same text), because by then the server may
have forgotten the key. Mastodon.py is synchronous: every call runs in a worker thread, under
the client's request timeout and an outer deadline. Replies use ``status_post(in_reply_to_id=)``,
never ``status_reply()`` (which prepends @mentions to the text we measured).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, ClassVar, TypeVar

from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from statusbot.fitting import mastodon_counter
from statusbot.model import Clock
from statusbot.publishers.base import Failure, Limit, Message, PostRef, PublishError
from statusbot.publishers.social import MastodonChannel

T = TypeVar("T")
DEFAULT_MAX = 500  # upstream StatusLengthValidator::MAX_CHARS
URL_WEIGHT = 23  # characters_reserved_per_url upstream
RECONCILE_AFTER = timedelta(minutes=50)  # the server keeps idempotency keys for 1 h
CLOCK_SLACK = timedelta(minutes=5)  # tolerated skew between our clock and the server's
LIMIT_TTL = timedelta(days=1)
FALLBACK_TTL = timedelta(minutes=10)  # instance unreadable: use 500, ask again soon
PAGE, PAGES = 40, 5  # reconcile reads at most 200 recent statuses
_LIMIT_IN_ERROR = re.compile(r"limit of (\d+)")
_TOO_LONG = re.compile(r"character limit|too long|exceed", re.IGNORECASE)
_MENTION_DOMAIN = re.compile(r"(?<![\w/])@(\w+)@[\w.-]+\w")


def limits_from(instance: Mapping[str, Any]) -> tuple[int, int] | None:
    """(max_characters, characters_reserved_per_url) from a v2 or v1 instance answer."""
    statuses = (instance.get("configuration") or {}).get("statuses") or {}
    chars = statuses.get("max_characters") or instance.get("max_toot_chars")
    per_url = statuses.get("characters_reserved_per_url") or URL_WEIGHT
    if isinstance(chars, int) and chars > 0 and isinstance(per_url, int) and per_url > 0:
        return chars, per_url
    return None


class _Text(HTMLParser):
    """Status HTML → plain text: paragraphs and <br> become line breaks, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain(text: str, *, is_html: bool = False) -> str:
    """A comparable form of a status text: HTML stripped, NFC, mention domains dropped,
    whitespace collapsed. Mastodon renders ``@bob@example.com`` as ``@bob`` and links as
    spans that still hold the whole URL."""
    if is_html:
        parser = _Text()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    text = _MENTION_DOMAIN.sub(r"@\1", unicodedata.normalize("NFC", text))
    return " ".join(text.split())


def _same_post(status: Mapping[str, Any], want: str, parent: str | None) -> bool:
    if status.get("reblog") or _str(status.get("in_reply_to_id")) != parent:
        return False
    text = status.get("text")
    if isinstance(text, str) and text and plain(text) == want:
        return True
    return plain(str(status.get("content") or ""), is_html=True) == want


def _str(value: object) -> str | None:
    return None if value is None else str(value)  # ids are str subclasses in Mastodon.py


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ref(status: Mapping[str, Any]) -> PostRef:
    if status.get("id") is None:
        raise PublishError("mastodon: the answer holds no status id", Failure.AMBIGUOUS)
    return PostRef(id=str(status["id"]), url=_str(status.get("url")))


class MastodonPublisher:
    """Posts to one Mastodon account. Raises PublishError, never retries by itself."""

    kind: ClassVar[str] = "mastodon"

    def __init__(self, settings: MastodonChannel, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock
        self._timeout = settings.timeout.total_seconds()
        self._api = Mastodon(  # no HTTP here: version_check_mode defaults to "none"
            access_token=settings.access_token.reveal(),
            api_base_url=settings.api_base_url,
            ratelimit_method="throw",  # "wait" would sleep up to 5 min per 429, endlessly
            request_timeout=self._timeout,
            user_agent="statusbot (Mastodon.py)",
        )
        self._limit: Limit | None = None
        self._limit_until = datetime.min.replace(tzinfo=UTC)
        self._account_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"MastodonPublisher(api_base_url={self.settings.api_base_url!r}, "
            f"access_token={self.settings.access_token!r})"
        )

    async def limit(self) -> Limit:
        """max_characters and the URL weight of the instance (asked once a day)."""
        now = self._clock()
        if self._limit is None or now >= self._limit_until:
            found: tuple[int, int] | None = None
            for ask in (self._api.instance_v2, self._api.instance_v1):
                try:
                    found = limits_from(await self._call(ask))
                except PublishError:
                    found = None
                if found:
                    break
            chars, per_url = found or (DEFAULT_MAX, URL_WEIGHT)
            self._limit = Limit(max=chars, count=mastodon_counter(per_url))
            self._limit_until = now + (LIMIT_TTL if found else FALLBACK_TTL)
        return self._limit

    async def publish(self, msg: Message, reply_to: PostRef | None) -> PostRef:
        """Post ``msg`` (replying to ``reply_to``); a late retry reconciles first."""
        parent = reply_to.id if reply_to else None
        first = _aware(msg.first_attempt_at)
        if first is not None and self._clock() - first > RECONCILE_AFTER:
            found = await self._find(msg.text, parent, since=first - CLOCK_SLACK)
            if found is not None:
                return found
        status = await self._call(
            self._api.status_post,
            msg.text,
            in_reply_to_id=parent,
            visibility=self.settings.visibility,
            language=self.settings.language,
            idempotency_key=msg.idempotency_key,
            posting=True,
            replying=parent is not None,
        )
        return _ref(status)

    async def close(self) -> None:
        """Close Mastodon.py's requests session."""
        session = getattr(self._api, "session", None)
        if session is not None and callable(getattr(session, "close", None)):
            session.close()

    async def _find(self, text: str, parent: str | None, since: datetime) -> PostRef | None:
        """Our status with this text and parent, created since ``since``, if the server has it."""
        if self._account_id is None:
            me = await self._call(self._api.account_verify_credentials)
            self._account_id = str(me["id"])
        want, max_id = plain(text), None
        for _ in range(PAGES):
            page = await self._call(
                self._api.account_statuses, self._account_id, limit=PAGE, max_id=max_id
            )
            for status in page:
                created = _aware(status.get("created_at"))
                if (created is None or created >= since) and _same_post(status, want, parent):
                    return _ref(status)
            oldest = _aware(page[-1].get("created_at")) if page else None
            if len(page) < PAGE or oldest is None or oldest < since:
                return None
            max_id = page[-1]["id"]
        return None

    async def _call(
        self,
        fn: Callable[..., T],
        *args: Any,
        posting: bool = False,
        replying: bool = False,
        **kwargs: Any,
    ) -> T:
        """Run one Mastodon.py call in a worker thread; failures become PublishError."""

        def run() -> T:
            try:
                return fn(*args, **kwargs)
            except MastodonError as exc:  # mapped here: ratelimit_reset belongs to this call
                raise self._failure(exc, posting, replying) from exc

        try:
            async with asyncio.timeout(3 * self._timeout + 1):
                return await asyncio.to_thread(run)
        except TimeoutError:
            failure = Failure.AMBIGUOUS if posting else Failure.TRANSIENT
            raise PublishError(
                self._line(f"no answer within {self._timeout:g}s"), failure
            ) from None

    def _failure(self, exc: MastodonError, posting: bool, replying: bool) -> PublishError:
        """Map a Mastodon.py exception (REFERENCE §1 table), subclasses before MastodonAPIError."""
        unsure = Failure.AMBIGUOUS if posting else Failure.TRANSIENT
        if isinstance(exc, MastodonRatelimitError):
            if not str(exc).startswith("Hit rate limit"):  # headers unreadable, maybe on a 2xx
                return PublishError(self._line(f"rate-limit headers: {exc}"), unsure)
            reset = self._api.ratelimit_reset
            at = (
                datetime.fromtimestamp(reset, UTC)
                if isinstance(reset, int | float)
                else self._clock() + timedelta(minutes=1)
            )
            text = self._line(f"HTTP 429: rate limited until {at:%H:%M:%S} UTC")
            return PublishError(text, Failure.RATE_LIMITED, retry_at=at)
        if isinstance(exc, MastodonNetworkError):
            return PublishError(self._line(f"network: {exc}"), unsure)
        if not isinstance(exc, MastodonAPIError):
            return PublishError(self._line(str(exc)), Failure.REJECTED)
        if len(exc.args) < 4 or not isinstance(exc.args[1], int):  # 2xx with an unreadable body
            return PublishError(self._line("unreadable answer from the server"), unsure)
        return self._http_failure(exc, replying)

    def _http_failure(self, exc: MastodonAPIError, replying: bool) -> PublishError:
        code, reason, error = exc.args[1], exc.args[2], str(exc.args[3] or "")
        failure, limit = Failure.REJECTED, None  # 400, 403, 409, other 4xx: permanent
        if isinstance(exc, MastodonUnauthorizedError):
            failure = Failure.AUTH
        elif isinstance(exc, MastodonNotFoundError) and replying:
            failure = Failure.PARENT_GONE
        elif isinstance(exc, MastodonServerError):
            failure = Failure.TRANSIENT
        elif code == 422 and _TOO_LONG.search(error):
            failure = Failure.TOO_LONG
            told = _LIMIT_IN_ERROR.search(error)
            limit = int(told[1]) if told else None
            if limit and self._limit is not None:  # trust the refusal over the instance info
                self._limit = Limit(max=limit, count=self._limit.count)
            else:
                self._limit = None
        return PublishError(self._line(f"HTTP {code}: {error or reason}"), failure, limit=limit)

    def _line(self, text: str) -> str:
        """One line, prefixed, bounded, and without the token even if a server echoed it."""
        text = " ".join(text.split())
        if token := self.settings.access_token.reveal():
            text = text.replace(token, "********")
        return f"mastodon: {text[:300]}"
