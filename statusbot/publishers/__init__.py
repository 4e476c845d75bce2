"""Every channel kind in one registry: its config model → how to build its publisher."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from statusbot.model import Clock
from statusbot.publishers.apprise_channel import AppriseChannel, ApprisePublisher
from statusbot.publishers.base import ChannelBase, Publisher
from statusbot.publishers.console import ConsoleChannel, ConsolePublisher
from statusbot.publishers.social import MastodonChannel, XChannel
from statusbot.publishers.webhook import WebhookChannel, WebhookPublisher


def _mastodon(settings: MastodonChannel, clock: Clock) -> Publisher:
    from statusbot.publishers.mastodon import MastodonPublisher  # noqa: PLC0415 - Mastodon.py

    return MastodonPublisher(settings, clock)


def _x(settings: XChannel, _clock: Clock) -> Publisher:
    from statusbot.publishers.x import XPublisher  # noqa: PLC0415 - tweepy and requests

    return XPublisher(settings)


PUBLISHERS: dict[type[ChannelBase], Callable[[Any, Clock], Publisher]] = {
    ConsoleChannel: lambda s, _clock: ConsolePublisher(s),
    MastodonChannel: _mastodon,
    XChannel: _x,
    WebhookChannel: lambda s, clock: WebhookPublisher(s, clock=clock),
    AppriseChannel: lambda s, _clock: ApprisePublisher(s),
}


def build(settings: ChannelBase, clock: Clock) -> Publisher:
    """The publisher for a channel's settings."""
    return PUBLISHERS[type(settings)](settings, clock)


__all__ = [
    "PUBLISHERS",
    "AppriseChannel",
    "ChannelBase",
    "ConsoleChannel",
    "MastodonChannel",
    "Publisher",
    "WebhookChannel",
    "XChannel",
    "build",
]
