"""From config to couriers: one per channel, each with its publisher and the renderer."""

from __future__ import annotations

import logging
from typing import Any

from statusbot import render
from statusbot.config import Config
from statusbot.model import Clock, Event
from statusbot.outbox import Courier, Writer
from statusbot.publishers import build
from statusbot.publishers.base import Limit

log = logging.getLogger("statusbot.outbox")


class Presenter:
    """Renders events for every channel from the config's site settings and templates."""

    def __init__(self, config: Config) -> None:
        folder = config.resolve(config.templates_dir) if config.templates_dir else None
        self.renderer = render.Renderer(folder)
        self.config = config

    def context(self, event: Event, position: int) -> dict[str, Any]:
        site = self.config.site
        return render.context(
            event,
            site_title=site.title,
            site_url=site.url,
            timezone=site.timezone,
            update_number=position,
            remind_after=self.config.incidents.remind_after,
        )

    def __call__(self, kind: str, event: Event, position: int, limit: Limit) -> str:
        return self.renderer.render_fitted(kind, event, self.context(event, position), limit)

    def link(self, event: Event) -> str | None:
        link: str | None = self.context(event, 1)["link"]
        return link


def couriers(
    config: Config,
    write: Writer,
    clock: Clock,
    *,
    read: Writer | None = None,
    dry_run: bool = False,
) -> list[Courier]:
    """One courier per configured channel (the console when none is)."""
    presenter = Presenter(config)
    made = []
    for name, settings in config.channels.configured().items():
        made.append(
            Courier(
                name,
                build(settings, clock),
                settings=settings,
                write=write,
                read=read,
                render=presenter,
                clock=clock,
                link=presenter.link,
                dry_run=dry_run,
            )
        )
    return made
