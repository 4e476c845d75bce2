"""Time to regenerate the status page at 50, 200 and 1,000 components × 90 days of history.

Fills a fresh SQLite store through the store API (no probes) for each size: components in 10
groups, each with confirmed dips for 90 days (up → degraded/down → up; 30 % of them outages),
plus an incident for one outage in ten (opened, updated, resolved unless in the last hour).
Two histories: a realistic one (``--busy 0.1``: a dip every ten days per component; the goal
applies to it) and a very flappy fleet (``--busy-high 1.5`` dips a day per component). Then
times ``site.build`` end to end (snapshot from the store, render of every file, atomic writes
of the changed ones) several times, with ``snapshot.take`` and ``render_all`` timed alone for
the breakdown.

    .venv/bin/python bench/page_build.py [--sizes 50,200,1000] [--busy 0.1] [--busy-high 1.5]
        [--busy-high-sizes 50,200,1000] [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from report import Report

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
from statusbot.page import site, snapshot
from statusbot.store import Store

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


GOAL_S = 1.0
GOAL_COMPONENTS = 1000


@dataclass
class Timing:
    components: int
    busy: float
    transitions: int
    fill_s: float
    files: int
    site_mb: float
    index_mb: float
    index_gz_mb: float
    first_build: float
    build: list[float]
    take: list[float]
    render: list[float]

    def median(self, name: str) -> float:
        return statistics.median(getattr(self, name))


def measure(folder: Path, components: int, days: int, busy: float, runs: int) -> Timing:
    """Fill a fresh store, build once (every file new), then time ``runs`` builds."""
    folder.mkdir(parents=True)
    config = configmod.from_text(config_text(components, folder / "site"), "bench.yaml", env={})
    with Store.open(f"sqlite:///{folder}/bench.db") as store:
        t = time.perf_counter()
        transitions = fill(store, components, days, busy=busy)
        fill_s = time.perf_counter() - t
        first = site.build(store, config, NOW)
        timing = Timing(
            components, busy, transitions, fill_s, first.files, 0, 0, 0, first.seconds, [], [], []
        )
        for run in range(1, runs + 1):
            at = NOW + timedelta(seconds=run)  # "last checked" moves: index.html changes
            t = time.perf_counter()
            snap = snapshot.take(store, config, at)
            timing.take.append(time.perf_counter() - t)
            t = time.perf_counter()
            site.render_all(snap, None)
            timing.render.append(time.perf_counter() - t)
            timing.build.append(site.build(store, config, at).seconds)
    out = folder / "site"
    timing.site_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    index = (out / "index.html").read_bytes()
    timing.index_mb = len(index) / 1e6
    timing.index_gz_mb = len(gzip.compress(index, 6)) / 1e6
    return timing


def run(
    quick: bool = False,
    *,
    sizes: tuple[int, ...] = (50, 200, 1000),
    busy: float = 0.1,
    busy_high: float = 1.5,
    busy_high_sizes: tuple[int, ...] = (50, 200, 1000),
    days: int = 90,
    runs: int = 5,
) -> Report:
    wall = time.perf_counter()
    if quick:
        sizes, busy_high_sizes, runs = (50, 200), (50,), 2
    report = Report(
        f"Page build: regenerating the status page, {days} days of history",
        f"bench/page_build.py --sizes {','.join(map(str, sizes))} --busy {busy:g} "
        f"--busy-high {busy_high:g} --busy-high-sizes {','.join(map(str, busy_high_sizes))} "
        f"--runs {runs}" + (" --quick" if quick else ""),
    )
    plan = [(n, busy) for n in sizes] + [(n, busy_high) for n in busy_high_sizes]
    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (components, dips) in enumerate(plan):
            timings.append(measure(Path(tmp) / str(k), components, days, dips, runs))
    for t in timings:
        build = t.median("build")
        goal = t.busy == busy and t.components == GOAL_COMPONENTS
        label = "realistic" if t.busy == busy else "busy"
        report.row(
            f"`site.build`, {t.components:,} components, {label} ({t.busy:g} dips/day/component, "
            f"{t.transitions:,} state changes)",
            f"{build:.2f} s median of {runs}, max {max(t.build):.2f} s (snapshot "
            f"{t.median('take'):.2f} s + render {t.median('render'):.2f} s + writes); "
            f"first build {t.first_build:.2f} s",
            f"< {GOAL_S:g} s" if goal else "",
            build < GOAL_S if goal else None,
        )
    for t in timings:
        if t.busy == busy:
            report.note(
                f"- {t.components:,} components: {t.files} files, {t.site_mb:.1f} MB; index.html "
                f"{t.index_mb:.1f} MB ({t.index_gz_mb:.2f} MB gzipped). Store filled in "
                f"{t.fill_s:.1f} s."
            )
    report.note(
        "- Each build after the first rewrites the files whose content changed (index.html and "
        'the JSON documents: "last checked" and updated_at move); writes are fsynced.'
    )
    report.note(f"- Bench wall time: {time.perf_counter() - wall:.0f} s.")
    return report


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=(50, 200, 1000))
    parser.add_argument("--busy", type=float, default=0.1, help="realistic dips/component/day")
    parser.add_argument("--busy-high", type=float, default=1.5, help="a very flappy fleet")
    parser.add_argument("--busy-high-sizes", type=_sizes, default=(50, 200, 1000))
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    report = run(
        args.quick,
        sizes=args.sizes,
        busy=args.busy,
        busy_high=args.busy_high,
        busy_high_sizes=args.busy_high_sizes,
        days=args.days,
        runs=args.runs,
    )
    print(report.markdown())


if __name__ == "__main__":
    main()
