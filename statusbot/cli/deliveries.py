"""Operator commands for the outbox: what waits, what failed, send again, give up."""

from __future__ import annotations

import argparse
from typing import Any

from statusbot.cli.common import load_config, open_store, print_json
from statusbot.model import DeliveryStatus
from statusbot.views import delivery_dict, table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    out = sub.add_parser(
        "outbox",
        help="announcements waiting, sent or stopped, per channel",
        description="The outbox: one row per announcement and channel.",
    )
    osub = out.add_subparsers(dest="action", required=True, metavar="ACTION")

    def add(name: str, func: Any, text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = osub.add_parser(
            name, parents=[common], help=text, description=text
        )
        p.set_defaults(func=func)
        return p

    p = add("list", cmd_outbox_list, "list deliveries (default: not yet sent)")
    p.add_argument("--all", action="store_true", help="include sent ones")
    p.add_argument("--channel", help="only this channel")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("retry", cmd_outbox_retry, "send failed or stopped deliveries again, now")
    p.add_argument("id", type=int, nargs="?", help="one delivery (default: all of --channel)")
    p.add_argument("--channel", help="only this channel")
    p = add("drop", cmd_outbox_drop, "give up on a delivery for good")
    p.add_argument("id", type=int)


def cmd_outbox_list(args: argparse.Namespace) -> int:
    config = load_config(args)
    with open_store(config) as store, store.read() as tx:
        rows = [
            (d, tx.event(d.event_id))
            for d in tx.deliveries(channel=args.channel)
            if args.all or d.status is not DeliveryStatus.SENT
        ]
    if args.json:
        print_json([delivery_dict(d, e) for d, e in rows])
        return 0
    if not rows:
        print("Nothing waiting." if not args.all else "The outbox is empty.")
        return 0
    table_rows = [
        (
            d.id,
            d.channel,
            d.status,
            e.kind if e else "?",
            f"#{e.incident_id}" if e and e.incident_id else (f"m{e.maintenance_id}" if e else ""),
            d.attempts,
            (d.next_attempt_at.strftime("%H:%M:%S") if d.next_attempt_at else "-"),
            d.error or d.remote_id or "",
        )
        for d, e in rows
    ]
    headers = ["ID", "CHANNEL", "STATUS", "EVENT", "OF", "TRIES", "NEXT (UTC)", "ERROR / POST"]
    print(table(headers, table_rows))
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    config = load_config(args)
    with open_store(config) as store, store.write(durable=True) as tx:
        if args.id is not None:
            tx.retry_delivery(args.id)
            count = 1
        else:
            count = tx.retry_deliveries(args.channel)
    print(f"{count} deliver{'y' if count == 1 else 'ies'} will be sent again now")
    return 0


def cmd_outbox_drop(args: argparse.Namespace) -> int:
    config = load_config(args)
    with open_store(config) as store, store.write(durable=True) as tx:
        tx.mark_dropped(args.id, "dropped by an operator", while_sending=False)
    print(f"delivery {args.id} dropped")
    return 0
