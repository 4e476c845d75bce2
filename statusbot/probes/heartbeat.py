"""Heartbeat probe: a cron job or worker pings ``/ping/<token>``; silence is the outage.

Pings are keyed by ``ping_key(token)`` = sha256 hex of the revealed token, not by check id:
the spec knows its token before the runtime assigns ids, and a hash as the key keeps the secret
itself out of ``Heartbeats.last`` (memory dumps, debug logs). The daemon's ping endpoint does
``heartbeats.ping(ping_key(token_from_url), now)`` for tokens whose key belongs to a configured
heartbeat check (and answers 404 otherwise, so strangers cannot grow the table).
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Literal

from pydantic import ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from statusbot.model import Outcome
from statusbot.probes.base import CheckBase, ProbeContext
from statusbot.values import Duration, Secret, format_duration

MIN_TOKEN_LENGTH = 16
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")


def ping_key(token: str) -> str:
    """The key under which pings for ``token`` are stored in ``Heartbeats``."""
    return hashlib.sha256(token.encode()).hexdigest()


class HeartbeatCheck(CheckBase):
    """Down when no ping arrived for ``period + grace`` (since the daemon started, if never)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # inputs may hold secrets

    type: Literal["heartbeat"] = Field(description="Check type: expect periodic pings.")
    token: Secret = Field(
        description=f"Secret part of the ping URL /ping/<token>: at least {MIN_TOKEN_LENGTH} "
        "letters, digits, '-' or '_'. Use ${env:NAME} or ${cred:NAME}."
    )
    period: Duration = Field(description="How often the job pings, e.g. 5m.")
    grace: Duration = Field(
        default=timedelta(minutes=1), description="Extra time allowed before calling it missing."
    )

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: Secret) -> Secret:
        token = value.reveal()
        if len(token) < MIN_TOKEN_LENGTH:
            raise PydanticCustomError(
                "token",
                "heartbeat token too short: {length} characters (need at least {min})",
                {"length": len(token), "min": MIN_TOKEN_LENGTH},
            )
        if not _TOKEN_CHARS.match(token):
            raise PydanticCustomError(
                "token", "heartbeat token may only contain letters, digits, '-' and '_'"
            )
        return value

    @field_validator("period")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise PydanticCustomError("duration", "period must be longer than 0s")
        return value

    @field_validator("grace")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise PydanticCustomError("duration", "grace cannot be negative")
        return value

    def ping_key(self) -> str:
        """Key of this check's pings in ``Heartbeats`` (see module docstring)."""
        return ping_key(self.token.reveal())

    def target(self) -> str:
        return f"heartbeat every {format_duration(self.period)}"


def ago(delta: timedelta) -> str:
    """A coarse age for humans: 45s, 7m, 3h 5m, 2d 4h."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(seconds // 3600, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


async def probe(spec: HeartbeatCheck, ctx: ProbeContext) -> Outcome:
    """Compare the time since the last ping (or since start) with ``period + grace``."""
    now = ctx.clock()
    last = ctx.heartbeats.last_ping(spec.ping_key())
    silence = now - (last if last is not None else ctx.heartbeats.started_at)
    if silence > spec.period + spec.grace:
        expected = f"expected every {format_duration(spec.period)}"
        if spec.grace:
            expected += f" + {format_duration(spec.grace)} grace"
        since = "" if last is not None else " since start"
        return Outcome.down(f"no ping for {ago(silence)}{since} ({expected})")
    if last is None:
        return Outcome.up(f"waiting for the first ping (started {ago(silence)} ago)")
    return Outcome.up(f"last ping {ago(silence)} ago")
