"""Time to regenerate the status page for 200 components × 90 days of history.

Fills a fresh SQLite store through the store API (no probes): 200 components in 10 groups,
each with a few confirmed transitions a day for 90 days (up → degraded/down → up), plus an
incident for every outage (the resolved ones with three updates, a few still open). Then times,
per run, ``snapshot.take`` (reading the store), ``render_all`` (pure rendering of every file)
and ``build`` (take + render + atomic writes of the changed files) and prints the seconds.

    .venv/bin/python bench/page_build.py [--components 200] [--days 90] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from statusbot import config as configmod
from statusbot.model import (
    CheckResult,
    ComponentInfo,
    Impact,
    OpenIncident,
    ResolveIncident,
    State,
    Transition,
    UpdateIncident,
)
from statusbot.page import html, site, snapshot
from statusbot.store import Store
from statusbot.yamlsource import load_yaml

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def config_text(components: int, output: Path) -> str:
    lines = [
        "site: {title: Bench Status, url: 'https://status.example.com', "
        f"output_dir: '{output}', timezone: Europe/Berlin}}",
        "components:",
    ]
    for n in range(components):
        lines.append(
            f"  - {{id: c{n}, name: Component {n}, group: Group {n % 10}, "
            f"checks: [{{type: tcp, host: 127.0.0.1, port: {1000 + n}}}]}}"
        )
    return "\n".join(lines) + "\n"


def fill(store: Store, components: int, days: int, seed: int = 1, busy: float = 1.5) -> int:
    """Synthetic history: on average ``busy`` dips a day per component (1.5: a very flappy
    fleet; 0.1: a dip every ten days); returns the number of transitions written."""
    rnd = random.Random(seed)
    start = NOW - timedelta(days=days)
    count = 0
    with store.write() as tx:
        tx.sync_components(
            [
                ComponentInfo(f"c{n}", f"Component {n}", f"Group {n % 10}", None, n)
                for n in range(components)
            ]
        )
    for n in range(components):
        cid = f"c{n}"
        with store.write() as tx:
            tx.record_transition(Transition(cid, State.UNKNOWN, State.UP, start))
            count += 1
            state = State.UP
            for day in range(days):
                for _ in range(_dips(rnd, busy)):
                    at = start + timedelta(days=day, seconds=rnd.randint(0, 86_000))
                    bad = State.DOWN if rnd.random() < 0.3 else State.DEGRADED
                    back = at + timedelta(minutes=rnd.randint(2, 90))
                    tx.record_transition(Transition(cid, state, bad, at))
                    tx.record_transition(Transition(cid, bad, State.UP, back))
                    count += 2
                    if bad is State.DOWN and rnd.random() < 0.1:
                        _incident(tx, cid, at, back, resolve=back < NOW - timedelta(hours=1))
            tx.set_component_state(cid, State.UP, start)
            tx.record_results([CheckResult(f"{cid}.tcp", cid, NOW, State.UP)])
    return count


def _dips(rnd: random.Random, mean: float) -> int:
    whole = int(mean)
    return whole + (1 if rnd.random() < mean - whole else 0)


def _incident(tx: object, cid: str, at: datetime, back: datetime, *, resolve: bool) -> None:
    apply = tx.apply  # type: ignore[attr-defined]
    incident = apply(
        OpenIncident(f"{cid} outage", Impact.MAJOR, (cid,), "Investigating.", at, auto=True), []
    )
    apply(UpdateIncident(incident.id, at + timedelta(minutes=1), "Found a bad deploy."), [])
    if resolve:
        apply(ResolveIncident(incident.id, back, "Resolved."), [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=200)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--busy", type=float, default=1.5, help="mean dips per component per day (0.1 realistic)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = configmod.parse(
            load_yaml(config_text(args.components, folder / "site"), "bench.yaml"),
            "bench.yaml",
            env={},
        )
        store = Store.open(f"sqlite:///{folder}/bench.db")
        t = time.perf_counter()
        transitions = fill(store, args.components, args.days, busy=args.busy)
        print(
            f"filled {args.components} components × {args.days} days: {transitions} transitions "
            f"in {time.perf_counter() - t:.1f} s"
        )
        snap = snapshot.take(store, config, NOW)
        files = site.render_all(snap, None)
        size = sum(len(b) for b in files.values())
        index = len(files["index.html"]) / 1e6
        print(f"{len(files)} files, {size / 1e6:.2f} MB (index.html {index:.2f} MB)")
        timings: dict[str, list[float]] = {"take": [], "render_all": [], "pages": [], "build": []}
        for run in range(1, args.runs + 1):
            t = time.perf_counter()
            snap = snapshot.take(store, config, NOW)
            timings["take"].append(time.perf_counter() - t)
            t = time.perf_counter()
            html.pages(snap, None)
            timings["pages"].append(time.perf_counter() - t)
            t = time.perf_counter()
            site.render_all(snap, None)
            timings["render_all"].append(time.perf_counter() - t)
            stats = site.build(store, config, NOW + timedelta(seconds=run))
            timings["build"].append(stats.seconds)
            print(
                f"run {run}: take {timings['take'][-1]:.3f} s  pages {timings['pages'][-1]:.3f} s  "
                f"render_all {timings['render_all'][-1]:.3f} s  build {stats.seconds:.3f} s "
                f"({stats.written} written, {stats.unchanged} unchanged)"
            )
        for name, values in timings.items():
            print(f"{name:>10}: median {statistics.median(values):.3f} s, max {max(values):.3f} s")
        store.close()


if __name__ == "__main__":
    main()
