"""Console: each announcement printed to standard output (or error), framed so it stands out.

The default channel when none is configured, and what ``--dry-run`` style checks read::

    ── console · incident.opened · #12 ──
    API is down since 07:00 UTC. …

``#12`` is the incident (or maintenance) the event is about; the delivery id when neither.
"""

from __future__ import annotations

import sys
from typing import ClassVar, Literal, TextIO

from pydantic import Field

from statusbot.publishers.base import ChannelBase, Failure, Limit, Message, PostRef, PublishError

MAX_TEXT = 100_000


class ConsoleChannel(ChannelBase):
    """Print announcements on this process's standard output or error."""

    stream: Literal["stdout", "stderr"] = Field("stdout", description="Where to print.")


class ConsolePublisher:
    """Writes a framed post and flushes it."""

    kind: ClassVar[str] = "console"

    def __init__(self, settings: ConsoleChannel) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"ConsolePublisher({self.settings.stream})"

    async def limit(self) -> Limit:
        """No limit of its own: 100,000 code points."""
        return Limit(MAX_TEXT, len)

    async def publish(self, msg: Message, reply_to: PostRef | None) -> PostRef:
        """Print ``msg``; ``reply_to`` changes nothing on a console."""
        event = msg.event
        about = event.incident_id or event.maintenance_id or msg.delivery_id
        out: TextIO = getattr(sys, self.settings.stream)  # looked up now: tests swap sys.stdout
        try:
            out.write(f"── console · {event.kind} · #{about} ──\n{msg.text}\n")
            out.flush()
        except OSError as exc:  # a closed pipe, a full disk
            why = f"console: cannot write to {self.settings.stream}: {exc.strerror or exc}"
            raise PublishError(why, Failure.TRANSIENT) from None
        return PostRef(id=f"console:{msg.delivery_id}")

    async def close(self) -> None:
        """Nothing to release."""
