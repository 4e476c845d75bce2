"""Scheduling and memory at 1,000 and 10,000 checks every 30 s, some targets slow, some down.

For each fleet size the real daemon runs HTTP checks for ``--seconds`` (≥ 120) after its first
full round: 80 % against Debian's nginx (up), 10 % against a tarpit that accepts and never
answers (each of those runs ends at its 2 s deadline), 10 % against a closed port (refused, so
those components go down and incidents open). The page is built as in production.

Reported, from the daemon's own /metrics and /proc:
* missed runs (APScheduler's misfires) and runs skipped because the previous one still ran;
* lateness of each run's real start (the coroutine's first step) against its planned time:
  p50/p99/max from ``statusbot_schedule_lateness_seconds`` (the p99 is the histogram bucket
  bound it falls under, so it is an upper bound);
* runs done against runs due (checks × seconds ÷ interval);
* RSS: the highest VmRSS sampled each second, and VmHWM (peak) at the end.

    .venv/bin/python bench/scale.py [--sizes 1000 10000] [--seconds 150] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from fleet import Daemon, Nginx, Tarpit, checks_done, free_port, running, wait_port, write_config
from report import Report

INTERVAL = 30.0
TIMEOUT = 2.0
RSS_GOALS = {1000: 80.0, 10000: 200.0}
LATENESS_GOAL = 0.100


def histogram(metrics: dict[str, float], name: str) -> list[tuple[float, float]]:
    """[(upper bound, cumulative count)] of a Prometheus histogram, ascending."""
    out = []
    for key, value in metrics.items():
        if key.startswith(f"{name}_bucket{{"):
            bound = key.split('le="', 1)[1].split('"', 1)[0]
            out.append((float(bound), value))
    return sorted(out)


def quantile_bound(buckets: list[tuple[float, float]], q: float) -> float:
    """The smallest bucket bound under which at least q of the observations fall."""
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= q * total:
            return bound
    return float("inf")


def diff(after: list[tuple[float, float]], before: list[tuple[float, float]]):
    b = dict(before)
    return [(bound, count - b.get(bound, 0.0)) for bound, count in after]


def one_size(root: Path, nginx: Nginx, tarpit: Tarpit, *, checks: int, seconds: float, report):
    directory = root / f"fleet-{checks}"
    directory.mkdir()
    port = free_port()
    config = directory / "config.yaml"
    kinds = write_config(
        config,
        checks=checks,
        interval=INTERVAL,
        timeout=TIMEOUT,
        url=f"http://127.0.0.1:{nginx.http_port}/health",
        slow_url=f"http://127.0.0.1:{tarpit.port}/health",
        slow=0.1,
        down_url=f"http://127.0.0.1:{free_port()}/health",
        down=0.1,
        listen=f"127.0.0.1:{port}",
    )
    daemon = Daemon(config, port)
    with running(daemon):
        wait_port(port, 120)
        # the first round spreads the checks over one interval; measure after it
        deadline = time.monotonic() + INTERVAL + 5
        peak = 0.0
        while time.monotonic() < deadline:
            peak = max(peak, daemon.rss())
            time.sleep(1)
        m0, c0 = daemon.metrics(), daemon.cpu()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            peak = max(peak, daemon.rss())
            time.sleep(1)
        m1, c1 = daemon.metrics(), daemon.cpu()
        hwm = daemon.peak_rss()
        if not daemon.alive():
            raise SystemExit(f"the daemon died; see {daemon.log}")
    name = "statusbot_schedule_lateness_seconds"
    late = diff(histogram(m1, name), histogram(m0, name))
    runs = checks_done(m1) - checks_done(m0)
    due = checks * seconds / INTERVAL
    missed = m1.get("statusbot_runs_missed_total", 0) - m0.get("statusbot_runs_missed_total", 0)
    skipped = m1.get("statusbot_runs_skipped_total", 0) - m0.get("statusbot_runs_skipped_total", 0)
    lsum = m1.get(f"{name}_sum", 0) - m0.get(f"{name}_sum", 0)
    lcount = m1.get(f"{name}_count", 0) - m0.get(f"{name}_count", 0)
    p50, p99 = quantile_bound(late, 0.5), quantile_bound(late, 0.99)
    above = lcount - dict(late).get(LATENESS_GOAL, 0)
    size = f"{checks:,} checks"
    report.row(
        f"{size}: runs missed / skipped over {seconds:g} s",
        f"{missed:.0f} / {skipped:.0f} ({runs:,.0f} runs done, {due:,.0f} due)",
        "0 missed",
        missed == 0,
    )
    report.row(
        f"{size}: start lateness p50 / p99",
        f"≤ {p50 * 1000:g} ms / ≤ {p99 * 1000:g} ms (mean {lsum / max(lcount, 1) * 1000:.1f} ms; "
        f"{above:.0f} of {lcount:,.0f} over 100 ms)",
        "p99 < 100 ms",
        p99 <= LATENESS_GOAL and above <= 0.01 * lcount,
    )
    goal = RSS_GOALS.get(checks)
    report.row(
        f"{size}: daemon RSS (highest sampled / VmHWM)",
        f"{peak:.0f} MB / {hwm:.0f} MB",
        f"≤ {goal:g} MB" if goal else "",
        (hwm <= goal) if goal else None,
    )
    report.row(
        f"{size}: daemon CPU",
        f"{(c1 - c0) / seconds * 100:.1f} % of a core ({(c1 - c0) / max(runs, 1) * 1000:.2f} "
        f"CPU-s per 1,000 runs)",
    )
    report.note(
        f"- {size}: {kinds['up']} up (nginx), {kinds['slow']} slow (tarpit, {TIMEOUT:g} s "
        f"deadline), {kinds['down']} down (refused), every {INTERVAL:g} s, "
        f"{checks // 10:,} components."
    )


def run(
    quick: bool = False, sizes: tuple[int, ...] = (1000, 10000), seconds: float = 150
) -> Report:
    if quick:
        sizes, seconds = (1000,), 10.0
    report = Report(
        "Scheduling and memory at scale",
        "bench/scale.py --sizes " + " ".join(map(str, sizes)) + f" --seconds {seconds:g}",
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nginx, tarpit = Nginx(root / "nginx"), Tarpit()
        with running(nginx, tarpit):
            for checks in sizes:
                one_size(root, nginx, tarpit, checks=checks, seconds=seconds, report=report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(run(args.quick, tuple(args.sizes), args.seconds).markdown())


if __name__ == "__main__":
    main()
