"""What every benchmark reports: rows of (figure, measured, goal, verdict) plus notes, printed
as a Markdown section, and the machine it ran on. ``bench/all.py`` gathers the sections into
BENCHMARKS.md; each bench also runs alone and prints its own section.

Goals are checked here only to label the row (met / MISSED); the test suite never asserts on
wall time.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass
class Row:
    figure: str
    measured: str
    goal: str = ""
    ok: bool | None = None  # None: no goal, a figure for the record

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**MISSED**", None: ""}[self.ok]


@dataclass
class Report:
    title: str
    command: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, figure: str, measured: str, goal: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(figure, measured, goal, ok))

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def missed(self) -> list[Row]:
        return [r for r in self.rows if r.ok is False]

    def markdown(self) -> str:
        out = [f"## {self.title}", "", f"`{self.command}`", ""]
        if self.rows:
            out += ["| figure | measured | goal | |", "|---|---|---|---|"]
            out += [f"| {r.figure} | {r.measured} | {r.goal} | {r.verdict} |" for r in self.rows]
            out.append("")
        out += [*self.notes]
        return "\n".join(out).rstrip() + "\n"


def _cmd(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"


def machine() -> list[str]:
    """One line per fact about the machine and the software measured."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    sqlite = __import__("sqlite3").sqlite_version
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores available; memory {mem}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()} ({sys.executable}), SQLite {sqlite}",
        f"- nginx: {_cmd('nginx', '-v')}",
        f"- blackbox_exporter: {_cmd('prometheus-blackbox-exporter', '--version')}",
    ]


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest-rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[k]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (not its children) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def status_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of /proc/<pid>/status in MiB: VmRSS (resident now), VmHWM (its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")
