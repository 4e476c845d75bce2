"""Run every benchmark and write BENCHMARKS.md: the machine, then one section per bench.

    .venv/bin/python bench/all.py [--quick] [--only probe_cost scale ...] [--out BENCHMARKS.md]

The full run takes about 30 minutes on 2 cores (storage alone about 10): it needs a quiet
machine, since every figure is CPU time or latency. ``--quick`` runs each bench briefly (about
2 minutes in all) to check that they work; its figures are not the ones to quote.
"""

from __future__ import annotations

import argparse
import importlib
import time
from datetime import UTC, datetime
from pathlib import Path

from report import ROOT, Report, machine

BENCHES = ("probe_cost", "scale", "detection_latency", "page_build", "outbox_drain", "storage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES))
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    sections: list[Report] = []
    took: dict[str, float] = {}
    for name in args.only:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        report: Report = importlib.import_module(name).run(quick=args.quick)
        took[name] = time.monotonic() - started
        print(report.markdown(), flush=True)
        sections.append(report)
    missed = [f"{s.title}: {r.figure}" for s in sections for r in s.missed]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/all.py`"
        + (" --quick: smoke-test figures, not for quoting" if args.quick else "")
        + f") on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Goals are issue 6's, for 2 cores;",
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
        "Run time: " + ", ".join(f"{n} {t / 60:.1f} min" for n, t in took.items()) + ".",
        "",
    ]
    findings = Path(__file__).with_name("findings.md").read_text()  # written by hand
    text = "\n".join(lines) + "\n" + findings + "\n" + "\n".join(s.markdown() for s in sections)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
