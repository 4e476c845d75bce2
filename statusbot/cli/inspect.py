"""Commands that look and run: validate, schema, check, run, demo, status."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import asdict
from datetime import datetime
from importlib import resources
from typing import Any

from statusbot import maintenance, reference, render
from statusbot.cli.common import UsageError, config_path, load_config, open_store, print_json
from statusbot.config import Config
from statusbot.fitting import mastodon_counter, x_counter
from statusbot.model import State, utcnow
from statusbot.publishers.base import Limit
from statusbot.render import CHANNEL_KINDS
from statusbot.store import OutboxStats
from statusbot.views import ago, incident_dict, iso, table

EXIT_DOWN = 1
EXAMPLE = "data/config/example.yaml"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    def add(name: str, func: Any, text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=text, description=text
        )
        p.set_defaults(func=func)
        return p

    add("validate", cmd_validate, "check the config file and print a summary")
    p = add("schema", cmd_schema, "print the JSON Schema of the config (for editors)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="the option reference as Markdown")
    fmt.add_argument("--example", action="store_true", help="an example config with every option")
    p = add("check", cmd_check, "run every check once and print a table; exit 1 if any is not up")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("run", cmd_run, "run the daemon in the foreground (stop with Ctrl-C or SIGTERM)")
    p.add_argument(
        "--dry-run", action="store_true", help="render and log announcements instead of sending"
    )
    p = add("status", cmd_status, "components, open incidents and pending announcements")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add(
        "preview", cmd_preview, "render every template for sample events, with lengths and limits"
    )
    p.add_argument("--channel", action="append", choices=CHANNEL_KINDS, help="only these channels")
    p = add("demo", cmd_demo, "watch a local sample service drop out and recover (no setup)")
    p.add_argument("--down-after", type=float, default=20, help="seconds before the outage")
    p.add_argument("--down-for", type=float, default=25, help="seconds the outage lasts")
    p.add_argument("--settle", type=float, default=20, help="seconds to watch after recovery")


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args)
    folder = config.resolve(config.templates_dir) if config.templates_dir else None
    problems = render.validate(
        folder,
        site_title=config.site.title,
        site_url=config.site.url,
        timezone=config.site.timezone,
    )
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 2
    checks = config.checks()
    d = config.defaults
    print(f"{config.source}: OK")
    print(f"  site        {config.site.title} ({config.site.url or 'no public URL set'})")
    print(
        f"  components  {len(config.components)} · checks {len(checks)} · "
        f"canary {'yes' if config.canary else 'no'}"
    )
    for c in config.components:
        kinds = ", ".join(
            str(getattr(ch.spec, "type", "?")) for ch in checks if ch.component_id == c.id
        )
        print(f"    {c.id:<16} {c.name}  [{kinds or 'manual incidents only'}]")
    print(
        f"  detection   every {d.interval.total_seconds():g}s · down after {d.fail_after} failures"
        f" · up after {d.recover_after} successes · incidents on {config.incidents.open_on}"
    )
    print(f"  maintenance {len(config.maintenance)} configured window(s)")
    print(f"  channels    {', '.join(config.channels.names())}")
    print(f"  storage     {config.store_url()}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    config = load_config(args)
    folder = config.resolve(config.templates_dir) if config.templates_dir else None
    limits = {"mastodon": Limit(500, mastodon_counter()), "x": Limit(280, x_counter())}
    rows = render.preview_rows(
        render.Renderer(folder),
        limits,
        channels=args.channel or CHANNEL_KINDS,
        site_title=config.site.title,
        site_url=config.site.url,
        timezone=config.site.timezone,
    )
    print(render.format_preview(rows))
    too_long = [r for r in rows if r[3] is not None and r[2] > r[3]]
    return 1 if too_long else 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.markdown:
        print(reference.markdown(), end="")
        return 0
    if args.example:
        print(resources.files("statusbot").joinpath(EXAMPLE).read_text("utf-8"), end="")
        return 0
    schema = Config.model_json_schema(mode="validation")
    schema["properties"].pop("source", None)
    schema["title"] = "statusbot configuration"
    print_json(schema)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from statusbot.runtime import check_once  # noqa: PLC0415 - aiohttp only when probing

    results = asyncio.run(check_once(load_config(args)))
    if args.json:
        print_json(
            [
                {
                    "component": r.component_id,
                    "check": r.check_id,
                    "state": str(r.state),
                    "latency_ms": None if r.latency is None else round(r.latency * 1000, 1),
                    "reason": r.reason,
                }
                for r in results
            ]
        )
    else:
        rows = [
            (
                r.component_id,
                r.check_id,
                r.state,
                "-" if r.latency is None else f"{r.latency * 1000:.0f} ms",
                r.reason,
            )
            for r in results
        ]
        print(table(["COMPONENT", "CHECK", "STATE", "LATENCY", "REASON"], rows))
    return 0 if all(r.state is State.UP for r in results) else EXIT_DOWN


def cmd_run(args: argparse.Namespace) -> int:
    from statusbot import config_child  # noqa: PLC0415 - heavy imports
    from statusbot.listener import StartupError  # noqa: PLC0415
    from statusbot.runtime import Daemon  # noqa: PLC0415

    path = config_path(args)
    config = config_child.load(path)  # the daemon's heap keeps no parse garbage
    try:
        return asyncio.run(Daemon(config, path, dry_run=args.dry_run).run())
    except StartupError as exc:
        raise UsageError(str(exc)) from None


def cmd_demo(args: argparse.Namespace) -> int:
    from statusbot.demo import run_demo  # noqa: PLC0415 - the daemon's imports are heavy

    return asyncio.run(run_demo(args.down_after, args.down_for, args.settle))


def outbox_dict(stats: OutboxStats) -> dict[str, Any]:
    data = asdict(stats)
    data["counts"] = {str(k): v for k, v in stats.counts.items()}
    data["oldest_pending_at"] = iso(stats.oldest_pending_at)
    return data


def cmd_status(args: argparse.Namespace) -> int:
    config = load_config(args)
    now = utcnow()
    with open_store(config) as store, store.read() as tx:
        in_maintenance = maintenance.active_components(tx.maintenances(), now)
        stored = tx.component_states()
        incidents = tx.open_incidents()
        outbox = tx.outbox_summary()
        latest = tx.latest_results()
    shown: dict[str, tuple[State, datetime | None]] = {}
    for c in config.components:
        state, since = stored.get(c.id, (State.UNKNOWN, None))
        shown[c.id] = (maintenance.shown_state(state, c.id, in_maintenance), since)
    components = [
        {"id": c.id, "name": c.name, "state": str(shown[c.id][0]), "since": iso(shown[c.id][1])}
        for c in config.components
    ]
    if args.json:
        print_json(
            {
                "components": components,
                "open_incidents": [incident_dict(i, now) for i in incidents],
                "outbox": {ch: outbox_dict(s) for ch, s in outbox.items()},
                "last_result_at": iso(max((r.at for r in latest.values()), default=None)),
            }
        )
        return 0
    rows = [
        (c.id, c.name, state, ago(now, since) if since else "-")
        for c in config.components
        for state, since in [shown[c.id]]
    ]
    print(table(["COMPONENT", "NAME", "STATE", "SINCE"], rows))
    print()
    if incidents:
        print(
            table(
                ["INCIDENT", "PHASE", "OPENED", "COMPONENTS", "TITLE"],
                [
                    (f"#{i.id}", i.phase, ago(now, i.opened_at), ",".join(i.components), i.title)
                    for i in incidents
                ],
            )
        )
    else:
        print("No open incidents.")
    print()
    pending = {ch: s for ch, s in outbox.items() if any(s.counts.values())}
    if not pending:
        print("Outbox: empty.")
    for channel, stats in pending.items():
        counts = ", ".join(f"{n} {status}" for status, n in stats.counts.items() if n)
        oldest = (
            f"; oldest pending {ago(now, stats.oldest_pending_at)}"
            if stats.oldest_pending_at
            else ""
        )
        print(f"Outbox {channel}: {counts}{oldest}")
    return 0
