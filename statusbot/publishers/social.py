"""Settings of the social channels (Mastodon, X), apart from their publishers: reading a config
must not load Mastodon.py, tweepy and requests (about 19 MB of the daemon's memory); only a
daemon that posts to those channels imports ``statusbot.publishers.mastodon`` / ``.x``."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from statusbot.publishers.base import ChannelBase
from statusbot.values import Duration, Secret

TWEEPY_HOST = "https://api.twitter.com"  # what tweepy 4.17 puts in front of every route


class MastodonChannel(ChannelBase):
    """Post to a Mastodon (or Mastodon-API) account."""

    api_base_url: str = Field(description="The instance, e.g. https://social.example.")
    access_token: Secret = Field(
        description="Access token with write:statuses (use ${cred:mastodon_token} or ${env:…})."
    )
    visibility: Literal["public", "unlisted", "private", "direct"] = Field(
        "public", description="Visibility of every post."
    )
    language: str | None = Field(None, description="ISO 639 language code of the posts.")
    timeout: Duration = Field(
        timedelta(seconds=10), gt=timedelta(0), description="Timeout of each API request."
    )

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL (hint: https://social.example)")
        return value.strip().rstrip("/")


class XChannel(ChannelBase):
    """An X account, posted to with OAuth 1.0a user-context keys."""

    consumer_key: Secret = Field(description="API key of the X app.")
    consumer_secret: Secret = Field(description="API key secret of the X app.")
    access_token: Secret = Field(description="Access token of the posting account.")
    access_token_secret: Secret = Field(description="Access token secret of the posting account.")
    api_base: str = Field(
        TWEEPY_HOST,
        description="Where API requests go (e.g. https://api.x.com). Tests point it at a "
        "loopback server such as http://127.0.0.1:PORT.",
    )
    timeout: Duration = Field(timedelta(seconds=30), description="Read timeout per request.")
    connect_timeout: Duration = Field(timedelta(seconds=3), description="Connect timeout.")

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or "@" in value:
            raise ValueError("api_base must be an http(s) URL without credentials")
        return value.rstrip("/")
