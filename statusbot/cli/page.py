"""Commands for the status page: build it once, or serve the built folder."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from statusbot.cli.common import load_config, open_store
from statusbot.model import utcnow


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    page = sub.add_parser("page", help="build the status page", description="The status page.")
    psub = page.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = psub.add_parser("build", parents=[common], help="write the page from the store now")
    p.set_defaults(func=cmd_page_build)
    p = sub.add_parser(
        "serve",
        parents=[common],
        help="build the page and serve it on HOST:PORT (http.listen by default)",
        description="Serve the status page folder (rebuilt first) on loopback or http.listen.",
    )
    p.add_argument("--listen", help="HOST:PORT (default: http.listen, else 127.0.0.1:8080)")
    p.set_defaults(func=cmd_serve)


def cmd_page_build(args: argparse.Namespace) -> int:
    from statusbot.page import site  # noqa: PLC0415 - the page's imports only when used

    config = load_config(args)
    with open_store(config) as store:
        stats = site.build(store, config, utcnow())
    print(f"{config.resolve(config.site.output_dir)}: {stats}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web  # noqa: PLC0415

    from statusbot.page import site  # noqa: PLC0415

    config = load_config(args)
    with open_store(config) as store:
        site.build(store, config, utcnow())
    listen = args.listen or config.http.listen or "127.0.0.1:8080"
    host, _, port = listen.rpartition(":")
    root = config.resolve(config.site.output_dir)
    print(f"serving {root} on http://{listen}/ (Ctrl-C to stop)", flush=True)

    async def serve() -> None:
        runner = web.AppRunner(site.serve_app(root), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host.strip("[]"), int(port)).start()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 0
    return 0
