"""Operator commands: incidents and maintenance windows, written straight to the store."""

from __future__ import annotations

import argparse
from typing import Any

from statusbot.cli.common import (
    UsageError,
    apply,
    known_components,
    load_config,
    open_store,
    parse_when,
    print_json,
)
from statusbot.incidents import humanize_duration
from statusbot.model import (
    CancelMaintenance,
    Impact,
    MaintenanceStatus,
    OpenIncident,
    Phase,
    ResolveIncident,
    ScheduleMaintenance,
    UpdateIncident,
    utcnow,
)
from statusbot.views import incident_dict, iso, maintenance_dict, table

OPEN_PHASES = [p.value for p in Phase if p is not Phase.RESOLVED]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    inc = sub.add_parser(
        "incident", help="open, update, resolve and list incidents", description="Incidents."
    )
    isub = inc.add_subparsers(dest="action", required=True, metavar="ACTION")
    mnt = sub.add_parser(
        "maintenance",
        help="announce and list maintenance windows",
        description="Maintenance windows: announced ahead, no incidents while they last.",
    )
    msub = mnt.add_subparsers(dest="action", required=True, metavar="ACTION")

    def add(group: Any, name: str, func: Any, text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(
            name, parents=[common], help=text, description=text
        )
        p.set_defaults(func=func)
        return p

    p = add(isub, "open", cmd_incident_open, "open an incident by hand")
    p.add_argument("--title", required=True, help="headline customers see")
    p.add_argument(
        "--component",
        action="append",
        required=True,
        dest="components",
        help="affected component id (repeat for several)",
    )
    p.add_argument("--message", required=True, help="what customers should know")
    p.add_argument("--phase", choices=OPEN_PHASES, default=Phase.INVESTIGATING.value)
    p.add_argument("--impact", choices=[x.value for x in Impact], default=Impact.MAJOR.value)
    p = add(isub, "update", cmd_incident_update, "post an update to an open incident")
    p.add_argument("id", type=int)
    p.add_argument("--message", required=True)
    p.add_argument("--phase", choices=OPEN_PHASES, help="new phase (default: unchanged)")
    p = add(isub, "resolve", cmd_incident_resolve, "resolve an incident")
    p.add_argument("id", type=int)
    p.add_argument("--message", default="This incident has been resolved.")
    p = add(isub, "ack", cmd_incident_ack, "let require_ack channels post an automatic incident")
    p.add_argument("id", type=int)
    p = add(isub, "list", cmd_incident_list, "list incidents, newest first")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--open", action="store_true", help="only open incidents")
    p.add_argument("--limit", type=int, default=50)
    p = add(isub, "show", cmd_incident_show, "one incident with its timeline")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(msub, "add", cmd_maintenance_add, "schedule a maintenance window")
    p.add_argument("--title", required=True)
    p.add_argument("--component", action="append", required=True, dest="components")
    p.add_argument("--start", required=True, help='ISO 8601 with offset, "now" or "+30m"')
    end = p.add_mutually_exclusive_group(required=True)
    end.add_argument("--end", help="ISO 8601 with offset, or +DURATION after the start")
    end.add_argument("--duration", help="e.g. 2h")
    p.add_argument("--message", default="", help="what is done and what customers may notice")
    p = add(msub, "list", cmd_maintenance_list, "list maintenance windows")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--all", action="store_true", help="include completed and cancelled")
    p = add(msub, "cancel", cmd_maintenance_cancel, "cancel a scheduled or running window")
    p.add_argument("id", type=int)


def cmd_incident_open(args: argparse.Namespace) -> int:
    config = load_config(args)
    change = OpenIncident(
        title=args.title,
        impact=Impact(args.impact),
        components=known_components(config, args.components),
        message=args.message,
        at=utcnow(),
        auto=False,
        phase=Phase(args.phase),
    )
    print(f"opened incident #{apply(config, change).id}: {args.title}")
    return 0


def cmd_incident_update(args: argparse.Namespace) -> int:
    config = load_config(args)
    phase = Phase(args.phase) if args.phase else None
    apply(
        config, UpdateIncident(incident_id=args.id, at=utcnow(), message=args.message, phase=phase)
    )
    print(f"updated incident #{args.id}")
    return 0


def cmd_incident_resolve(args: argparse.Namespace) -> int:
    config = load_config(args)
    apply(config, ResolveIncident(incident_id=args.id, at=utcnow(), message=args.message))
    print(f"resolved incident #{args.id}")
    return 0


def cmd_incident_list(args: argparse.Namespace) -> int:
    config = load_config(args)
    now = utcnow()
    with open_store(config) as store, store.read() as tx:
        found = tx.open_incidents() if args.open else tx.incidents(limit=args.limit)
    if args.json:
        print_json([incident_dict(i, now) for i in found])
        return 0
    if not found:
        print("No open incidents." if args.open else "No incidents.")
        return 0
    rows = [
        (
            f"#{i.id}",
            i.phase,
            i.opened_at.strftime("%Y-%m-%d %H:%M:%S"),
            humanize_duration(i.duration(now)) + (" so far" if i.is_open else ""),
            ",".join(i.components),
            i.title,
        )
        for i in found
    ]
    print(table(["ID", "PHASE", "OPENED (UTC)", "DURATION", "COMPONENTS", "TITLE"], rows))
    return 0


def cmd_incident_show(args: argparse.Namespace) -> int:
    config = load_config(args)
    now = utcnow()
    with open_store(config) as store, store.read() as tx:
        incident = tx.incident(args.id)
    if incident is None:
        raise UsageError(f"no incident #{args.id}")
    if args.json:
        print_json(incident_dict(incident, now))
        return 0
    duration = humanize_duration(incident.duration(now))
    state = f"open for {duration}" if incident.is_open else f"resolved after {duration}"
    print(f"#{incident.id} {incident.title}")
    print(
        f"  {incident.phase} · impact {incident.impact} · {state} · "
        f"{'auto' if incident.auto else 'manual'} · components: {', '.join(incident.components)}"
    )
    for u in incident.updates:
        print(f"  {u.at.strftime('%Y-%m-%d %H:%M:%S')} UTC  {u.phase:<13} {u.message}")
    return 0


def cmd_maintenance_add(args: argparse.Namespace) -> int:
    config = load_config(args)
    components = known_components(config, args.components)
    now = utcnow()
    start = parse_when(args.start, now)
    end = parse_when(f"+{args.duration.lstrip('+')}" if args.duration else args.end, now, start)
    if end <= start:
        raise UsageError("the end must be after the start")
    change = ScheduleMaintenance(
        title=args.title,
        message=args.message,
        components=components,
        starts_at=start,
        ends_at=end,
        source=f"cli:{now.isoformat()}",
        at=now,
    )
    m = apply(config, change)
    print(f"scheduled maintenance #{m.id}: {args.title}, {iso(start)} → {iso(end)}")
    return 0


def cmd_maintenance_list(args: argparse.Namespace) -> int:
    config = load_config(args)
    live = None if args.all else (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)
    with open_store(config) as store, store.read() as tx:
        found = tx.maintenances(live)
    if args.json:
        print_json([maintenance_dict(m) for m in found])
        return 0
    if not found:
        print("No maintenance windows.")
        return 0
    rows = [
        (
            f"#{m.id}",
            m.status,
            m.starts_at.strftime("%Y-%m-%d %H:%M"),
            m.ends_at.strftime("%Y-%m-%d %H:%M"),
            ",".join(m.components),
            m.title,
        )
        for m in found
    ]
    print(table(["ID", "STATUS", "STARTS (UTC)", "ENDS (UTC)", "COMPONENTS", "TITLE"], rows))
    return 0


def cmd_maintenance_cancel(args: argparse.Namespace) -> int:
    config = load_config(args)
    apply(config, CancelMaintenance(maintenance_id=args.id, at=utcnow()))
    print(f"cancelled maintenance #{args.id}")
    return 0


def cmd_incident_ack(args: argparse.Namespace) -> int:
    config = load_config(args)
    with open_store(config) as store, store.write(durable=True) as tx:
        incident = tx.ack_incident(args.id, utcnow())
    print(f"acknowledged incident #{incident.id}: channels that wait for it may post now")
    return 0
