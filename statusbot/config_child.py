"""The daemon's config loading: large configs are parsed in a child process.

Parsing and validating a config makes many short-lived objects (YAML events, nodes and marks,
pydantic's intermediate dicts) among the few that stay. CPython returns an allocator arena to
the system only when every object in it is gone, so a daemon that parsed its own config kept
the parse's peak for good: measured +53 MB at 10,000 checks, where the same ``Config``
unpickled into a fresh heap takes 19 MB (+5.6 against +1.8 MB at 1,000 checks). Configs of at
least ``APART_BYTES`` are therefore parsed by ``python -m statusbot.config_child`` and come
back pickled over a pipe. Smaller ones are parsed in process: the child's own imports cost
about 0.7 CPU-s, more than it would save there.

The child's answer is the ``Config`` or the list of problems (raised here as ``ConfigError``,
exactly as ``config.load`` would). If the child cannot run at all, the config is parsed in
process after one warning, so a start or reload never fails for this reason alone.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import subprocess
import sys
from pathlib import Path

from statusbot import config as configmod
from statusbot.config import Config, ConfigError

log = logging.getLogger(__name__)

APART_BYTES = 32 * 1024


def load(path: Path, apart_bytes: int = APART_BYTES) -> Config:
    """``config.load(path)``, in a child process when the file is large."""
    if not _apart(path, apart_bytes):
        return configmod.load(path)
    try:
        done = subprocess.run(
            _command(path), stdin=subprocess.DEVNULL, capture_output=True, check=False
        )
    except OSError as exc:
        return _in_process(path, f"could not start: {exc.strerror}")
    return _answer(path, done.returncode, done.stdout)


async def load_async(path: Path, apart_bytes: int = APART_BYTES) -> Config:
    """``load`` without holding up the event loop while a large config is parsed."""
    if not _apart(path, apart_bytes):
        return configmod.load(path)
    try:
        child = await asyncio.create_subprocess_exec(
            *_command(path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        return _in_process(path, f"could not start: {exc.strerror}")
    stdout, _ = await child.communicate()
    return _answer(path, child.returncode, stdout)


def _apart(path: Path, apart_bytes: int) -> bool:
    try:
        return path.stat().st_size >= apart_bytes
    except OSError:
        return False  # config.load names the file and the reason


def _command(path: Path) -> list[str]:
    return [sys.executable, "-m", "statusbot.config_child", str(path)]


def _answer(path: Path, returncode: int | None, stdout: bytes) -> Config:
    if returncode != 0 or not stdout:
        # its stderr is not logged: a traceback there might quote a secret from the file
        return _in_process(path, f"exited with status {returncode}")
    kind, value = pickle.loads(stdout)  # noqa: S301 - our own child, over a private pipe
    if kind == "problems":
        raise ConfigError(value)
    assert isinstance(value, Config)
    return value


def _in_process(path: Path, why: str) -> Config:
    log.warning("parsing %s in a child process failed (%s); parsing it here", path, why)
    return configmod.load(path)


def main() -> int:
    """Child side: parse ``argv[1]``, write ``("config", Config)`` or ``("problems", [...])``."""
    path = Path(sys.argv[1])
    try:
        answer: tuple[str, object] = ("config", configmod.load(path))
    except ConfigError as exc:
        answer = ("problems", exc.problems)
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
