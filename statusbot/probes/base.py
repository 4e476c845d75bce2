"""The probe contract: a check spec (pydantic model) and the context every probe receives.

A probe is ``async def probe(spec: XCheck, ctx: ProbeContext) -> Outcome``. It never raises for
a sick target: it returns ``Outcome.down(reason)`` with a reason a human understands. The runner
(``probes.run_check``) enforces the deadline and turns a stray exception into a DOWN outcome.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from statusbot.model import Clock, utcnow
from statusbot.values import Duration


class CheckBase(BaseModel):
    """Fields every check has. ``interval``/``timeout`` None means "use defaults"."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="Stable id (keeps history across edits). Default: <component>.<type>[-N].",
    )
    name: str | None = Field(default=None, description="Human label; default: the target.")
    interval: Duration | None = Field(
        default=None, description="How often; default defaults.interval."
    )
    timeout: Duration | None = Field(
        default=None, description="Deadline; default defaults.timeout."
    )

    def target(self) -> str:
        """What is probed, for humans ("https://api.example.com/health")."""
        raise NotImplementedError


class TlsContexts:
    """SSL contexts built once and shared (reading the CA bundle costs ~35 ms each time)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[bool, str | None], ssl.SSLContext] = {}

    def get(self, verify: bool = True, ca_file: Path | None = None) -> ssl.SSLContext:
        key = (verify, str(ca_file) if ca_file else None)
        ctx = self._cache.get(key)
        if ctx is None:
            if verify:
                ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            else:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._cache[key] = ctx
        return ctx


@dataclass
class Heartbeats:
    """Last ping per heartbeat check id, fed by the daemon's ``/ping/<token>`` endpoint.

    ``started_at`` stands in for a last ping when none was ever seen, so a fresh daemon gives a
    cron job one period + grace before calling it missing.
    """

    started_at: datetime
    last: dict[str, datetime] = field(default_factory=dict)

    def ping(self, check_id: str, at: datetime) -> None:
        self.last[check_id] = at

    def last_ping(self, check_id: str) -> datetime | None:
        return self.last.get(check_id)


@dataclass
class ProbeContext:
    """What a probe may use. Only probes touch the network; they get it all from here."""

    session: aiohttp.ClientSession
    tls: TlsContexts
    heartbeats: Heartbeats
    clock: Clock = utcnow
