"""Run every benchmark and write BENCHMARKS.md: the machine, then one section per bench.

    .venv/bin/python bench/all.py [--quick] [--only probe_cost scale ...] [--out BENCHMARKS.md]

The full run takes about 30 minutes on 2 cores (storage alone about 10): it needs a quiet
machine, since every figure is CPU time or latency. Each bench's latest full run is kept in
bench/results/; ``--only NAME`` re-runs one and rebuilds BENCHMARKS.md with the others' kept
results. ``--quick`` runs each bench briefly (about
2 minutes in all) to check that they work; its figures are not the ones to quote.
"""

from __future__ import annotations

import argparse
import importlib
import time
from datetime import UTC, datetime
from pathlib import Path

from report import HERE, ROOT, Report, machine

BENCHES = ("probe_cost", "scale", "detection_latency", "page_build", "outbox_drain", "storage")


def missed_in(section: str) -> list[str]:
    """ "<title>: <figure>" for each row of a bench's Markdown section that missed its goal."""
    title = section.splitlines()[0].removeprefix("## ")
    return [
        f"{title}: {line.split(' | ')[0].removeprefix('| ')}"
        for line in section.splitlines()
        if line.startswith("| ") and line.rstrip().endswith("| **MISSED** |")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", nargs="*", choices=BENCHES, default=list(BENCHES), help="none: only rewrite"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    results = HERE / "results"  # the latest full run of each bench, kept beside the code
    results.mkdir(exist_ok=True)
    sections: dict[str, str] = {}
    missed: list[str] = []
    took: dict[str, float] = {}
    ran: dict[str, str] = {}  # benches not run now: when they ran
    for name in args.only:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        report: Report = importlib.import_module(name).run(quick=args.quick)
        took[name] = time.monotonic() - started
        print(report.markdown(), flush=True)
        sections[name] = report.markdown()
        missed += missed_in(sections[name])
        if not args.quick:
            (results / f"{name}.md").write_text(report.markdown())
            (results / f"{name}.took").write_text(
                f"{took[name]:.0f} s, {datetime.now(UTC):%Y-%m-%d}\n"
            )
    if not args.quick:  # benches not run this time: their latest full run
        for name in BENCHES:
            if name not in sections and (results / f"{name}.md").exists():
                sections[name] = (results / f"{name}.md").read_text()
                missed += missed_in(sections[name])
                kept = results / f"{name}.took"
                ran[name] = kept.read_text().strip() if kept.exists() else "an earlier run"
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/all.py`"
        + (" --quick: smoke-test figures, not for quoting" if args.quick else "")
        + f"), last on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; sections it did not re-run are the"
        " latest kept in bench/results/ (see Run time). Goals are issue 6's, for 2 cores;",
        "each figure is measured end to end on the real daemon unless its section says otherwise.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
        "## Summary",
        "",
        *(
            [f"Missed goals: {len(missed)}", "", *(f"- {m}" for m in missed)]
            if missed
            else ["Every goal was met."]
        ),
        "",
        "Run time: "
        + ", ".join(
            [f"{n} {t / 60:.1f} min" for n, t in took.items()]
            + [f"{n} ({when})" for n, when in ran.items()]
        )
        + ".",
        "",
    ]
    findings = Path(__file__).with_name("findings.md").read_text()  # written by hand
    ordered = [sections[n] for n in BENCHES if n in sections]
    text = "\n".join(lines) + "\n" + findings + "\n" + "\n".join(ordered)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
