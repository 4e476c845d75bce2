"""``statusbot demo``: the whole loop on one machine, no credentials, no internet.

Starts a sample HTTP service on loopback, watches it with the real daemon, takes the service
down, brings it back, and narrates what happens: detection, the incident, and the posts, which
the console channel prints as they are delivered from the outbox.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from aiohttp import web

from statusbot import config as configmod
from statusbot.runtime import Daemon


class SampleService:
    """A tiny HTTP service that can really go away (port closed) and come back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", _healthy)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None


async def _healthy(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(directory: Path, port: int, http: int | None = None) -> Path:
    text = resources.files("statusbot").joinpath("data/config/demo.yaml").read_text("utf-8")
    path = directory / "config.yaml"
    text = text.replace("__PORT__", str(port)).replace("__DIR__", str(directory))
    path.write_text(text.replace("__HTTP__", str(http or free_port())), "utf-8")
    return path


def say(start: float, text: str) -> None:
    print(f"\033[1m[demo +{time.monotonic() - start:5.1f}s]\033[0m {text}", flush=True)


async def run_demo(down_after: float = 20, down_for: float = 25, settle: float = 20) -> int:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="statusbot-demo-") as tmp:
        directory = Path(tmp)
        http = free_port()
        path = write_config(directory, port, http)
        config = configmod.load(path)
        service = SampleService(port)
        await service.start()
        start = time.monotonic()
        say(start, f"sample service up on http://127.0.0.1:{port}/health; config {path}")
        say(start, "statusbot checks it every 2s; 2 failures in a row confirm an outage")
        say(start, "announcements appear below as console posts (── console · … ──)")
        say(start, f"👉 the status page: http://127.0.0.1:{http}/  (metrics: /metrics)")
        daemon = Daemon(config, path)
        running = asyncio.create_task(daemon.run())
        script = [
            (down_after, "⚡ taking the sample service DOWN (its port closes)", service.stop),
            (down_for, "🔧 bringing the sample service back UP", service.start),
            (settle, "", None),
        ]
        try:
            for seconds, text, act in script:
                done, _ = await asyncio.wait({running}, timeout=seconds)
                if done:  # Ctrl-C or SIGTERM stopped the daemon: the demo ends with it
                    break
                if act:
                    say(start, text)
                    await act()
        finally:
            daemon.stop()
            await running
            await service.stop()
        say(start, "done. What the store holds now (statusbot incident list):")
        print(f"(the page was built in {config.resolve(config.site.output_dir)})")
        from statusbot.cli import main  # noqa: PLC0415 - the CLI imports this module

        main(["incident", "list", "-c", str(path), "--log-level", "warning"])
        print("\nOn your own services: statusbot schema --example > statusbot.yaml (see README).")
    return 0


def main() -> int:
    try:
        return asyncio.run(run_demo())
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr)
        return 130
