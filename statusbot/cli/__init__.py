"""Command line: argparse only. Maps ConfigError/StoreError to clear lines and exit codes.

Exit codes: 0 fine · 1 something is down (``check``) · 2 bad input (config or arguments) ·
3 storage trouble · 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from statusbot import __version__
from statusbot.cli import deliveries, inspect, operate, page
from statusbot.cli.common import UsageError, common_options
from statusbot.config import ConfigError
from statusbot.logs import setup_logging
from statusbot.store import ChangeRefused, StoreError

EXIT_USAGE, EXIT_STORE = 2, 3


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="statusbot",
        parents=[common],
        description="Watches services, opens incidents on outages and tells customers first.",
    )
    parser.add_argument("--version", action="version", version=f"statusbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect.register(sub, common)
    operate.register(sub, common)
    deliveries.register(sub, common)
    page.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "log_level", "info"), getattr(args, "log_format", "auto"))
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, ChangeRefused) as exc:
        print(f"statusbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"statusbot: {exc}", file=sys.stderr)
        return EXIT_STORE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
