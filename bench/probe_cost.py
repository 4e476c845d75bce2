"""Probe cost: CPU-seconds per 1,000 checks, each on a fresh connection, HTTP and HTTPS,
statusbot beside Debian's prometheus-blackbox-exporter doing the same work in the same run, and
beside aiohttp alone (the HTTP client statusbot uses) making the same requests: the floor.

The target is Debian's nginx in its own process (``fleet.Nginx``). statusbot is the real daemon
(``statusbot run``: scheduler, probe, detection, store writes), running ``--checks`` HTTP(S)
checks every ``--interval`` seconds; after one interval of warm-up its CPU time (user + system,
from /proc) is read twice, ``--seconds`` apart, and divided by the check runs it counted in
between (its own ``statusbot_checks_total``). blackbox_exporter gets the same rate of
``/probe?module=…&target=…`` requests from a separate driver process, over keep-alive
connections as Prometheus would scrape it; only the exporter's CPU is counted, over the
probes it answered. Each probe of either tool opens a new TCP (and TLS) connection.

    .venv/bin/python bench/probe_cost.py [--checks 1000] [--interval 5] [--seconds 30] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fleet import Daemon, Nginx, checks_done, free_port, running, wait_port, write_config
from report import Report, cpu_seconds

GOALS = {"http": 0.5, "https": 1.2}

DRIVER = """
import asyncio, sys, time
import aiohttp
url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
async def main():
    ok = failed = 0
    async def one(session):
        nonlocal ok, failed
        try:
            async with session.get(url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "5"}) as r:
                body = await r.text()
            if "probe_success 1" in body:
                ok += 1
            else:
                failed += 1
        except Exception:
            failed += 1
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic()
        tasks = []
        n = 0
        while (due := start + n / rate) < start + seconds:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session)))
            n += 1
        await asyncio.gather(*tasks)
    print(ok, failed)
asyncio.run(main())
"""


FLOOR = """
import asyncio, resource, ssl, sys, time
import aiohttp
url, cafile, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
async def main():
    ctx = ssl.create_default_context(cafile=cafile)
    connector = aiohttp.TCPConnector(force_close=True, limit=256, ssl=ctx)
    ok = 0
    async def one(session):
        nonlocal ok
        async with session.get(url) as r:
            await r.read()
            ok += r.status == 200
    async with aiohttp.ClientSession(connector=connector) as session:
        for phase in ("warm-up", "measured"):
            span = 2.0 if phase == "warm-up" else seconds
            ok, tasks, n = 0, [], 0
            start, used = time.monotonic(), cpu()
            # as the daemon does: the checks of a 0.25 s slot start together
            while (due := start + n / rate) < start + span:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                while start + n / rate <= due + 0.25 and start + n / rate < start + span:
                    tasks.append(asyncio.create_task(one(session)))
                    n += 1
            await asyncio.gather(*tasks)
    print(cpu() - used, ok)
asyncio.run(main())
"""


def floor_cost(target: str, cert: Path, *, rate: float, seconds: float) -> tuple[float, int]:
    """(CPU seconds, requests ok) of aiohttp alone, in its own process, making the same requests
    at the same rate as the daemon: what the HTTP client costs before statusbot adds anything."""
    done = subprocess.run(
        [sys.executable, "-c", FLOOR, target, str(cert), str(rate), str(seconds)],
        check=True,
        capture_output=True,
        text=True,
    )
    used, ok = done.stdout.split()
    return float(used), int(ok)


def blackbox_cost(
    directory: Path, target: str, cert: Path, *, rate: float, seconds: float
) -> tuple[float, int, int]:
    """(CPU seconds, probes ok, probes failed) of blackbox_exporter over ``seconds``."""
    binary = shutil.which("prometheus-blackbox-exporter")
    if binary is None:
        raise SystemExit(
            "prometheus-blackbox-exporter is not installed "
            "(Debian: apt-get install prometheus-blackbox-exporter)"
        )
    conf = directory / "blackbox.yml"
    conf.write_text(
        f"""modules:
  probe:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config: {{ca_file: {cert}}}
"""
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={conf}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/probe?module=probe&target={target}"
        # warm-up (the Go runtime's first allocations), then the measured run
        subprocess.run(
            [sys.executable, "-c", DRIVER, url, str(rate), "2"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        before = cpu_seconds(proc.pid)
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, url, str(rate), str(seconds)],
            check=True,
            capture_output=True,
            text=True,
        )
        used = cpu_seconds(proc.pid) - before
        ok, failed = (int(x) for x in done.stdout.split())
        return used, ok, failed
    finally:
        proc.kill()
        proc.wait()


def statusbot_cost(
    directory: Path, target: str, cert: Path, *, checks: int, interval: float, seconds: float
) -> tuple[float, float, float]:
    """(CPU seconds, check runs, failures) of the daemon over ``seconds`` after warm-up."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "config.yaml"
    write_config(
        config,
        checks=checks,
        interval=interval,
        timeout=min(5.0, interval / 2),
        url=target,
        ca_file=cert,
        listen=f"127.0.0.1:{port}",
    )
    daemon = Daemon(config, port)
    with running(daemon):
        wait_port(port, 60)
        time.sleep(interval + 2)  # every check has run once: imports and first rounds are done
        m0, c0 = daemon.metrics(), daemon.cpu()
        time.sleep(seconds)
        c1, m1 = daemon.cpu(), daemon.metrics()
        if not daemon.alive():
            raise SystemExit(f"the daemon died; see {daemon.log}")
    failures = sum(
        m1.get(k, 0) - m0.get(k, 0) for k in m1 if k.startswith("statusbot_check_failures_total")
    )
    return c1 - c0, checks_done(m1) - checks_done(m0), failures


def run(
    quick: bool = False, checks: int = 1000, interval: float = 5.0, seconds: float = 30.0
) -> Report:
    if quick:
        checks, interval, seconds = 200, 2.0, 6.0
    rate = checks / interval
    report = Report(
        "Probe cost: CPU-seconds per 1,000 checks (fresh connection each)",
        f"bench/probe_cost.py --checks {checks} --interval {interval:g} --seconds {seconds:g}",
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nginx = Nginx(root / "nginx")
        with running(nginx):
            for scheme, port in (("http", nginx.http_port), ("https", nginx.https_port)):
                target = f"{scheme}://127.0.0.1:{port}/health"
                n0 = nginx.cpu()
                cpu, runs, failures = statusbot_cost(
                    root / f"sb-{scheme}",
                    target,
                    nginx.cert,
                    checks=checks,
                    interval=interval,
                    seconds=seconds,
                )
                nginx_sb = nginx.cpu() - n0
                n0 = nginx.cpu()
                bb_cpu, bb_ok, bb_failed = blackbox_cost(
                    root, target, nginx.cert, rate=rate, seconds=seconds
                )
                nginx_bb = nginx.cpu() - n0
                floor_cpu, floor_ok = floor_cost(target, nginx.cert, rate=rate, seconds=seconds)
                floor = floor_cpu / floor_ok * 1000 if floor_ok else float("inf")
                ours = cpu / runs * 1000 if runs else float("inf")
                theirs = bb_cpu / bb_ok * 1000 if bb_ok else float("inf")
                goal = GOALS[scheme]
                report.row(
                    f"statusbot, {scheme.upper()}",
                    f"{ours:.2f} CPU-s / 1,000 ({runs:.0f} checks in {seconds:g} s, "
                    f"{failures:.0f} not up)",
                    f"≤ {goal}",
                    ours <= goal and failures == 0,
                )
                report.row(
                    f"blackbox_exporter, {scheme.upper()}",
                    f"{theirs:.2f} CPU-s / 1,000 ({bb_ok} probes ok, {bb_failed} failed)",
                )
                report.row(
                    f"aiohttp alone, {scheme.upper()}",
                    f"{floor:.2f} CPU-s / 1,000 ({floor_ok} requests ok): statusbot adds "
                    f"{ours - floor:.2f}",
                )
                report.row(
                    f"statusbot ÷ blackbox_exporter, {scheme.upper()}",
                    f"{ours / theirs:.2f}",
                    "< 1",
                    ours < theirs,
                )
                report.note(
                    f"- {scheme.upper()}: nginx itself used {nginx_sb / max(runs, 1) * 1000:.2f} "
                    f"CPU-s per 1,000 statusbot checks and "
                    f"{nginx_bb / max(bb_ok, 1) * 1000:.2f} per 1,000 blackbox probes."
                )
    report.note(
        f"- {checks} checks every {interval:g} s ({rate:.0f} a second); statusbot's figure is "
        "the whole daemon (scheduler, probe, detection, SQLite writes, metrics); "
        "blackbox_exporter's is the exporter serving /probe to a driver in another process; "
        "'aiohttp alone' is the HTTP client statusbot uses, making the same requests at the "
        "same rate in slot-sized bursts in a process of its own (the floor for any design "
        "on this client and asyncio's event loop)."
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(run(args.quick, args.checks, args.interval, args.seconds).markdown())


if __name__ == "__main__":
    main()
