"""The command's entry point: installs a SIGTERM handler before anything heavy is imported.

Until the daemon's event loop installs its own handlers, SIGTERM (systemd stopping a unit that
is still starting, say) ends the process cleanly with exit 0 instead of Python's default kill.
"""

from __future__ import annotations

import signal
import sys


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_quietly)
    from statusbot.cli import main as cli_main  # noqa: PLC0415 - after the handler, on purpose

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
