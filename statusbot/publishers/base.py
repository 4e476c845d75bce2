"""The publisher contract: a channel's config model, the message it sends, and its errors.

A publisher is a class with ``async def publish(msg, reply_to) -> PostRef``. It either returns
where the post now lives, or raises ``PublishError`` saying what kind of failure it was; the
outbox decides what to do about it (retry later, refit, start a new thread, give up). A
publisher never logs and swallows, and never retries on its own except where documented.
Blocking client libraries (Mastodon.py, tweepy, apprise) run in a worker thread, each call
under a timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from statusbot.model import Event, EventKind
from statusbot.values import Duration


class ChannelBase(BaseModel):
    """Settings every channel has."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, defer_build=True
    )

    enabled: bool = Field(True, description="Send to this channel.")
    events: list[EventKind] | None = Field(
        None, description="Event kinds announced here (default: all)."
    )
    components: list[str] | None = Field(
        None, description="Only events about these component ids (default: all)."
    )
    require_ack: bool = Field(
        False,
        description="The first post of an automatic incident waits for `statusbot incident ack` "
        "(or ack_timeout).",
    )
    ack_timeout: Duration = Field(
        timedelta(minutes=10), description="With require_ack: post anyway after this long."
    )

    def wants(self, kind: str, components: Collection[str]) -> bool:
        """Whether this channel announces an event of ``kind`` about ``components``."""
        if self.events is not None and kind not in self.events:
            return False
        return self.components is None or bool(set(components) & set(self.components))


@dataclass(frozen=True, slots=True)
class Limit:
    """How a channel counts text, and how much it takes."""

    max: int
    count: Callable[[str], int]


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery, rendered and fitted for its channel."""

    delivery_id: int
    text: str
    idempotency_key: str  # "statusbot:<random>", made at the first attempt; every retry sends it
    event: Event
    link: str | None = None  # the incident (or maintenance) page, if the site has a URL
    first_attempt_at: datetime | None = None  # when this delivery was first tried, if ever


@dataclass(frozen=True, slots=True)
class PostRef:
    """Where a post lives on its channel (``id`` is what replies point at)."""

    id: str
    url: str | None = None


class Failure(StrEnum):
    """What kind of failure a PublishError is; the outbox acts on it."""

    TRANSIENT = "transient"  # network, 5xx: back off and retry (same idempotency key)
    AMBIGUOUS = "ambiguous"  # it may have been posted (timeout after sending): retry, same key
    RATE_LIMITED = "rate_limited"  # retry at ``retry_at``; does not count against the delivery
    TOO_LONG = "too_long"  # the channel refused the length: refit with ``limit`` and retry once
    PARENT_GONE = "parent_gone"  # the post we reply to was deleted: start a new thread
    DUPLICATE = "duplicate"  # already posted (X refuses repeats): counts as sent, id unknown
    AUTH = "auth"  # bad or revoked credentials: permanent until an operator acts
    REJECTED = "rejected"  # any other definite refusal: permanent for this delivery


PERMANENT = frozenset({Failure.AUTH, Failure.REJECTED})


class PublishError(Exception):
    """A failed publish. ``str(err)`` is one line for the operator and never holds a secret."""

    def __init__(
        self,
        message: str,
        failure: Failure = Failure.TRANSIENT,
        *,
        retry_at: datetime | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(message)
        self.failure = failure
        self.retry_at = retry_at
        self.limit = limit  # with TOO_LONG, when the channel told us its real limit

    @property
    def permanent(self) -> bool:
        return self.failure in PERMANENT


class Publisher(Protocol):
    """What the outbox needs from a channel."""

    kind: ClassVar[str]  # "mastodon", "x", "webhook", "apprise", "console"

    @property
    def settings(self) -> ChannelBase:
        """The channel's settings (read-only here, so each publisher may narrow the type)."""
        ...

    async def limit(self) -> Limit:
        """The channel's text limit (may ask the server once and cache it)."""
        ...

    async def publish(self, msg: Message, reply_to: PostRef | None) -> PostRef:
        """Post ``msg`` (as a reply to ``reply_to`` when given). Raises PublishError."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
