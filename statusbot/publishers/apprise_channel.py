"""Apprise: any service Apprise speaks (Slack, Discord, Matrix, Telegram, e-mail, ntfy, JSON, …).

Apprise only says whether a notification went out (a bool; ``AppriseResult`` in 2.x), never why:
the reason goes to its own log (which masks secrets). So a failure is ``Failure.TRANSIENT`` with
that said in the message. Each URL is notified on its own: when one of several fails, the ones
that succeeded are remembered for that delivery and not sent again on its retry (in memory: a
restart forgets, so prefer one URL per channel where a repeat matters).

This module is ``apprise_channel`` so that it does not shadow the ``apprise`` package.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from statusbot.publishers.base import ChannelBase, Failure, Limit, Message, PostRef, PublishError
from statusbot.values import Duration, Secret

if TYPE_CHECKING:
    import apprise

_REMEMBERED = 1000  # deliveries whose partial success is remembered


def _instantiate(apprise: Any, url: Secret) -> Any:
    """Apprise's plugin for ``url``, or None. Apprise logs a URL it cannot use in full
    ("Unsupported URL: …") at ERROR: its logger is silenced meanwhile, the URL is a secret."""
    logger = logging.getLogger("apprise")
    was = logger.disabled
    logger.disabled = True
    try:
        return apprise.Apprise.instantiate(url.reveal())
    finally:
        logger.disabled = was


class AppriseChannel(ChannelBase):
    """One or more Apprise URLs; every announcement goes to each of them."""

    urls: list[Secret] = Field(
        min_length=1, description="Apprise URLs (they carry tokens: use ${env:…} or ${cred:…})."
    )
    title: str | None = Field(None, description="Title for services that show one.")
    timeout: Duration = Field(timedelta(seconds=60), description="Deadline for all URLs together.")

    @field_validator("urls")
    @classmethod
    def _known(cls, urls: list[Secret]) -> list[Secret]:
        import apprise  # noqa: PLC0415 - loaded only when an Apprise channel is configured

        for index, url in enumerate(urls):
            if _instantiate(apprise, url) is None:
                _, sep, rest = url.reveal().partition("://")  # "abc:" is no scheme but a secret
                scheme = (urlsplit(url.reveal()).scheme if sep and rest else "") or "none"
                raise ValueError(f"urls[{index}]: not a URL Apprise can use (scheme {scheme}://)")
        return urls


class ApprisePublisher:
    """Notifies every configured Apprise URL; a delivery succeeds when all of them took it."""

    kind: ClassVar[str] = "apprise"

    def __init__(self, settings: AppriseChannel) -> None:
        import apprise  # noqa: PLC0415 - loaded only when an Apprise channel is configured

        self.settings = settings
        self._services: list[apprise.Apprise] = []
        self._plugins: list[Any] = []
        for url in settings.urls:
            plugin = _instantiate(apprise, url)
            if plugin is None:  # the channel model checked this already
                raise ValueError("not a URL Apprise can use")
            service = apprise.Apprise()
            service.add(plugin)
            self._plugins.append(plugin)
            self._services.append(service)
        self._done: OrderedDict[int, set[int]] = OrderedDict()  # delivery id → URLs that took it

    def __repr__(self) -> str:
        schemes = ", ".join(f"{urlsplit(u.reveal()).scheme}://" for u in self.settings.urls)
        return f"ApprisePublisher({schemes})"

    async def limit(self) -> Limit:
        """The smallest body any of the services takes (less the title where it joins the body)."""
        title = self.settings.title or ""
        sizes = [
            int(p.body_maxlen) - (len(title) + 2 if title and int(p.title_maxlen) <= 0 else 0)
            for p in self._plugins
        ]
        return Limit(max(1, min(sizes)), len)

    async def publish(self, msg: Message, reply_to: PostRef | None) -> PostRef:
        """Notify each URL not yet reached for this delivery. Raises PublishError."""
        done = self._done.setdefault(msg.delivery_id, set())
        self._done.move_to_end(msg.delivery_id)
        while len(self._done) > _REMEMBERED:
            self._done.popitem(last=False)
        deadline = self.settings.timeout.total_seconds()
        try:
            await asyncio.wait_for(asyncio.to_thread(self._send, msg.text, done), deadline)
        except TimeoutError:
            raise PublishError(
                f"apprise: not done within {deadline:g}s; it may have been sent", Failure.AMBIGUOUS
            ) from None
        failed = len(self._services) - len(done)
        if failed:
            raise PublishError(
                f"apprise: {failed} of {len(self._services)} services reported failure "
                "(Apprise returns only success or failure; its log says why)",
                Failure.TRANSIENT,
            )
        del self._done[msg.delivery_id]
        return PostRef(id=f"apprise:{msg.delivery_id}")

    async def close(self) -> None:
        """Nothing to release: Apprise opens a connection per notification."""

    def _send(self, text: str, done: set[int]) -> None:
        """The blocking part (worker thread): notify each URL not in ``done``, add successes."""
        for index, service in enumerate(self._services):
            if index in done:
                continue
            if bool(service.notify(body=text, title=self.settings.title or "")):
                done.add(index)
