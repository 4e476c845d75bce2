"""Command probe: run a program (never a shell); its exit code says healthy or not.

The child gets its own session (``start_new_session=True``), so its process group id is its pid.
When the check ends for any reason (done, deadline, cancellation) the whole group is SIGKILLed and
the child is reaped: no zombies, no orphans left holding the output pipe. Output (stdout and
stderr combined) is kept to a short tail, flattened to one line, with secret env values redacted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterable
from contextlib import suppress
from typing import Literal

from pydantic import ConfigDict, DirectoryPath, Field

from statusbot.model import Outcome
from statusbot.probes.base import CheckBase, ProbeContext
from statusbot.values import Secret

OUTPUT_CHARS = 200  # how much of the output a reason quotes
_KEEP_BYTES = 4096  # how much of the output is kept while reading
_MASK_FROM = 4  # env values this long or longer are masked in quoted output
_REAP_WITHIN = 5.0  # seconds to wait for a SIGKILLed child to be reaped


class CommandCheck(CheckBase):
    """Up when ``argv`` exits with one of ``expect_exit``."""

    model_config = ConfigDict(hide_input_in_errors=True)  # inputs may hold secrets

    type: Literal["command"] = Field(description="Check type: run a program.")
    argv: list[str] = Field(
        min_length=1, description="Program and arguments, run directly (no shell)."
    )
    expect_exit: list[int] = Field(
        default_factory=lambda: [0], min_length=1, description="Exit codes that mean healthy."
    )
    cwd: DirectoryPath | None = Field(default=None, description="Working directory; default: ours.")
    env: dict[str, Secret] = Field(
        default_factory=dict,
        description="Variables added to the inherited environment; values may be secrets.",
    )

    def target(self) -> str:
        return " ".join(self.argv)


async def probe(spec: CommandCheck, ctx: ProbeContext) -> Outcome:
    """Run the command to completion; the runner's deadline kills it (and its group)."""
    started = time.perf_counter()
    env = os.environ | {name: value.reveal() for name, value in spec.env.items()}
    try:
        process = await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=spec.cwd,
            env=env,
            start_new_session=True,
        )
    except FileNotFoundError:
        return Outcome.down(f"command not found: {spec.argv[0]}")
    except PermissionError:
        return Outcome.down(f"permission denied: {spec.argv[0]}")
    except OSError as exc:
        return Outcome.down(f"cannot run {spec.argv[0]}: {exc.strerror or exc}")
    try:
        output = await _tail(process.stdout)
        code = await process.wait()
    finally:
        await _kill_group(process)
    latency = time.perf_counter() - started
    text = _one_line(output, spec.env.values())
    if code in spec.expect_exit:
        return Outcome.up(f"exit {code}", latency)
    status = f"killed by {_signal_name(-code)}" if code < 0 else f"exit {code}"
    return Outcome.down(f"{status}: {text}" if text else f"{status} (no output)", latency)


async def _tail(stream: asyncio.StreamReader | None) -> bytes:
    """Read to EOF, keeping only the last ``_KEEP_BYTES`` bytes."""
    if stream is None:
        return b""
    kept = b""
    while chunk := await stream.read(65536):
        kept = (kept + chunk)[-_KEEP_BYTES:]
    return kept


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the child's process group and reap the child, even while being cancelled."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is None:
        # Shielded: if we are cancelled again, the wait (and the reaping) still completes.
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), _REAP_WITHIN)


def _one_line(output: bytes, secrets: Iterable[Secret]) -> str:
    """Whitespace collapsed, secret values masked, at most ``OUTPUT_CHARS`` (the tail)."""
    text = " ".join(output.decode("utf-8", errors="replace").split())
    for secret in secrets:
        if len(secret.reveal()) >= _MASK_FROM:
            text = text.replace(secret.reveal(), "********")
    return text if len(text) <= OUTPUT_CHARS else "…" + text[-(OUTPUT_CHARS - 1) :]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
