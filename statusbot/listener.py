"""The daemon's HTTP listener (``http.listen``): heartbeat pings and a health endpoint."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from statusbot.probes import ping_key

log = logging.getLogger("statusbot")


class StartupError(Exception):
    """The daemon cannot start (one line for the operator): a port in use, say."""


class Listener:
    """Serves ``/ping/<token>`` (any method), ``/healthz``, ``/metrics`` and the status page.

    ``on_ping`` receives the token's key (sha256, never the token) and says whether a
    heartbeat check has that token; unknown tokens get 404.
    """

    def __init__(
        self,
        listen: str,
        on_ping: Callable[[str], Awaitable[bool]],
        site: Path | None = None,
        metrics: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
    ) -> None:
        self.listen = listen
        self.on_ping = on_ping
        self.metrics = metrics
        self.site = site  # the built status page, served on every other path
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        host, _, port = self.listen.rpartition(":")
        app = web.Application()
        app.router.add_route("*", "/ping/{token}", self._ping)
        app.router.add_get("/healthz", self._healthz)
        if self.metrics is not None:
            app.router.add_get("/metrics", self.metrics)  # before the page's catch-all route
        if self.site is not None:
            from statusbot.page.site import static_handler  # noqa: PLC0415 - only when served

            app.router.add_get("/{tail:.*}", static_handler(self.site))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host.strip("[]"), int(port)).start()
        except OSError as exc:
            await self.close()
            raise StartupError(
                f"cannot listen on {self.listen} (http.listen): {exc.strerror}"
            ) from None
        log.info("listening on http://%s/ (heartbeats: /ping/<token>)", self.listen)

    async def close(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def _ping(self, request: web.Request) -> web.Response:
        if not await self.on_ping(ping_key(request.match_info["token"])):
            return web.Response(status=404, text="unknown heartbeat token\n")
        return web.Response(text="OK\n")

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="OK\n")
