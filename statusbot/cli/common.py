"""What every command shares: loading config, opening the store, output helpers."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from statusbot import config as configmod
from statusbot.config import Config
from statusbot.model import Change, Incident, Maintenance
from statusbot.store import Store
from statusbot.values import parse_duration


class UsageError(Exception):
    """Bad arguments that argparse cannot see (an unknown component, a bad time)."""


def common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: $STATUSBOT_CONFIG, then /etc/statusbot/config.yaml)",
    )
    common.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["debug", "info", "warning", "error"],
    )
    common.add_argument(
        "--log-format",
        default=argparse.SUPPRESS,
        choices=["auto", "text", "json"],
        help="auto: plain with <N> priorities under journald, timestamps otherwise",
    )
    return common


def config_path(args: argparse.Namespace) -> Path:
    return getattr(args, "config", None) or configmod.default_path()


def load_config(args: argparse.Namespace) -> Config:
    return configmod.load(config_path(args))


def open_store(config: Config) -> Store:
    """The configured store (a context manager: closed on leaving the block)."""
    return Store.open(config.store_url())


def apply(config: Config, change: Change) -> Incident | Maintenance:
    """Apply one operator change durably, announcing it on every configured channel."""
    with Store.open(config.store_url()) as store, store.write(durable=True) as tx:
        return tx.apply(change, config.channels.route)


def known_components(config: Config, ids: Sequence[str]) -> tuple[str, ...]:
    known = [c.id for c in config.components]
    for cid in ids:
        if cid not in known:
            raise UsageError(f"no component {cid!r} in the config (known: {', '.join(known)})")
    return tuple(dict.fromkeys(ids))


def parse_when(text: str, now: datetime, base: datetime | None = None) -> datetime:
    """``now``, ``+30m`` (from ``base`` or now) or ISO 8601 with an offset → aware UTC."""
    if text == "now":
        return now
    if text.startswith("+"):
        try:
            delta = parse_duration(text[1:])
        except ValueError:
            raise UsageError(f"bad duration {text!r} (use e.g. +30m, +2h)") from None
        assert isinstance(delta, timedelta)
        return (base or now) + delta
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f'bad time {text!r}: use ISO 8601 with offset, "now" or "+30m"') from None
    if at.tzinfo is None:
        raise UsageError(f"time {text!r} needs a UTC offset, e.g. {text}+00:00")
    return at.astimezone(UTC)


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
