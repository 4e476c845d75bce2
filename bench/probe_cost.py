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
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fleet import Daemon, Nginx, checks_done, free_port, running, wait_port, write_config
from report import Report, cpu_seconds

from statusbot.schedule import slot_for

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


FLOOR_WARM_UP = 2.0

FLOOR = f"""
import asyncio, resource, ssl, sys, time
import aiohttp
WARM_UP = {FLOOR_WARM_UP}
url, cafile, rate, seconds, slot = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:6])
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
            span = WARM_UP if phase == "warm-up" else seconds
            ok, tasks, n = 0, [], 0
            start, used = time.monotonic(), cpu()
            # as the daemon does: the checks of a slot start together
            while (due := start + n / rate) < start + span:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                while start + n / rate <= due + slot and start + n / rate < start + span:
                    tasks.append(asyncio.create_task(one(session)))
                    n += 1
            await asyncio.gather(*tasks)
    print(cpu() - used, ok)
asyncio.run(main())
"""


def _floor_process(
    target: str, cert: Path, *, rate: float, seconds: float, slot: float
) -> subprocess.Popen:
    """aiohttp alone in its own process, making the same requests at the same rate as the
    daemon: what the HTTP client costs before statusbot adds anything. It prints its CPU
    seconds and requests ok over ``seconds``, after FLOOR_WARM_UP seconds of warm-up; the
    requests of each ``slot`` seconds start together, as the daemon starts a slot's checks."""
    return subprocess.Popen(
        [sys.executable, "-c", FLOOR, target, str(cert), str(rate), str(seconds), str(slot)],
        stdout=subprocess.PIPE,
        text=True,
    )


def floor_cost(
    target: str, cert: Path, *, rate: float, seconds: float, slot: float
) -> tuple[float, int]:
    """(CPU seconds, requests ok) of aiohttp alone, with nothing else running."""
    return _floor_result(_floor_process(target, cert, rate=rate, seconds=seconds, slot=slot))


def _floor_result(proc: subprocess.Popen) -> tuple[float, int]:
    """Wait for aiohttp alone to finish: (CPU seconds, requests ok) of its measured run."""
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"aiohttp alone failed (exit {proc.returncode})")
    used, ok = out.split()
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


@dataclass(frozen=True)
class Measured:
    cpu: float  # CPU seconds of the daemon over the measured seconds
    runs: float  # check runs it counted in them
    failures: float  # of which not UP
    paired: float  # CPU-s / 1,000 checks of the daemon while aiohttp alone ran beside it
    paired_floor: float  # CPU-s / 1,000 requests of aiohttp alone over the same seconds
    target_cpu: float  # CPU seconds of the target (nginx) over the measured seconds, alone


def statusbot_cost(
    directory: Path,
    target: str,
    nginx: Nginx,
    *,
    checks: int,
    interval: float,
    seconds: float,
) -> Measured:
    """The daemon over ``seconds`` after warm-up, alone; then again while aiohttp alone makes
    the same requests in a process beside it, so that both are measured on the same host
    minute (this host's speed drifts by a third over an evening, for every process alike)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "config.yaml"
    write_config(
        config,
        checks=checks,
        interval=interval,
        timeout=min(5.0, interval / 2),
        url=target,
        ca_file=nginx.cert,
        listen=f"127.0.0.1:{port}",
    )
    daemon = Daemon(config, port)
    with running(daemon):
        wait_port(port, 60)
        time.sleep(interval + 2)  # every check has run once: imports and first rounds are done
        m0, c0, n0 = daemon.metrics(), daemon.cpu(), nginx.cpu()
        time.sleep(seconds)
        c1, m1, n1 = daemon.cpu(), daemon.metrics(), nginx.cpu()
        floor = _floor_process(
            target,
            nginx.cert,
            rate=checks / interval,
            seconds=seconds,
            slot=slot_for(interval, checks),
        )
        time.sleep(FLOOR_WARM_UP)
        p0, q0 = daemon.metrics(), daemon.cpu()
        floor_cpu, floor_ok = _floor_result(floor)
        q1, p1 = daemon.cpu(), daemon.metrics()
        if not daemon.alive():
            raise SystemExit(f"the daemon died; see {daemon.log}")
    failures = sum(
        m1.get(k, 0) - m0.get(k, 0) for k in m1 if k.startswith("statusbot_check_failures_total")
    )
    return Measured(
        cpu=c1 - c0,
        runs=checks_done(m1) - checks_done(m0),
        failures=failures,
        paired=per_1000(q1 - q0, checks_done(p1) - checks_done(p0)),
        paired_floor=per_1000(floor_cpu, floor_ok),
        target_cpu=n1 - n0,
    )


def tls_floor_cost(nginx: Nginx, seconds: float) -> tuple[float, int]:
    """(CPU seconds, connections) of ``openssl s_time -new`` against nginx's HTTPS port: a full
    TLS handshake, certificate verified, and a GET per connection, in C and nothing else. No
    client on this host's OpenSSL can do an HTTPS check for less."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    address, span = f"127.0.0.1:{nginx.https_port}", str(max(1, round(seconds)))
    verified = ["-CAfile", str(nginx.cert), "-verify", "1"]
    done = subprocess.run(
        [
            "openssl",
            "s_time",
            "-connect",
            address,
            "-new",
            "-time",
            span,
            "-www",
            "/health",
            *verified,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # "4388 connections in 3.02s; 1452.98 connections/user sec, bytes read 636260"
    line = next(x for x in done.stdout.splitlines() if " connections in " in x)
    return cpu, int(line.split()[0])


def per_1000(cpu: float, n: float) -> float:
    return cpu / n * 1000 if n else float("inf")


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
                ours = statusbot_cost(
                    root / f"sb-{scheme}",
                    target,
                    nginx,
                    checks=checks,
                    interval=interval,
                    seconds=seconds,
                )
                n0 = nginx.cpu()
                bb_cpu, bb_ok, bb_failed = blackbox_cost(
                    root, target, nginx.cert, rate=rate, seconds=seconds
                )
                nginx_bb = nginx.cpu() - n0
                floor_cpu, floor_ok = floor_cost(
                    target, nginx.cert, rate=rate, seconds=seconds, slot=slot_for(interval, checks)
                )
                floor = per_1000(floor_cpu, floor_ok)
                cost = per_1000(ours.cpu, ours.runs)
                theirs = per_1000(bb_cpu, bb_ok)
                goal = GOALS[scheme]
                report.row(
                    f"statusbot, {scheme.upper()}",
                    f"{cost:.2f} CPU-s / 1,000 ({ours.runs:.0f} checks in {seconds:g} s, "
                    f"{ours.failures:.0f} not up)",
                    f"≤ {goal}",
                    cost <= goal and ours.failures == 0,
                )
                report.row(
                    f"blackbox_exporter, {scheme.upper()}",
                    f"{theirs:.2f} CPU-s / 1,000 ({bb_ok} probes ok, {bb_failed} failed)",
                )
                report.row(
                    f"aiohttp alone, {scheme.upper()}",
                    f"{floor:.2f} CPU-s / 1,000 ({floor_ok} requests ok)",
                )
                if scheme == "https":
                    c_cpu, c_conns = tls_floor_cost(nginx, seconds)
                    report.row(
                        "TLS in C alone (openssl s_time -new), HTTPS",
                        f"{per_1000(c_cpu, c_conns):.2f} CPU-s / 1,000 ({c_conns} connections)",
                    )
                report.row(
                    f"statusbot − aiohttp alone, side by side, {scheme.upper()}",
                    f"{ours.paired - ours.paired_floor:+.2f} CPU-s / 1,000 (statusbot "
                    f"{ours.paired:.2f}, aiohttp alone {ours.paired_floor:.2f}, same seconds)",
                )
                report.row(
                    f"statusbot ÷ blackbox_exporter, {scheme.upper()}",
                    f"{cost / theirs:.2f}",
                    "< 1",
                    cost < theirs,
                )
                nginx_sb = per_1000(ours.target_cpu, ours.runs)
                report.note(
                    f"- {scheme.upper()}: nginx itself used {nginx_sb:.2f} "
                    f"CPU-s per 1,000 statusbot checks and "
                    f"{per_1000(nginx_bb, bb_ok):.2f} per 1,000 blackbox probes."
                )
    report.note(
        f"- {checks} checks every {interval:g} s ({rate:.0f} a second); statusbot's figure is "
        "the whole daemon (scheduler, probe, detection, SQLite writes, metrics); "
        "blackbox_exporter's is the exporter serving /probe to a driver in another process; "
        "'aiohttp alone' is the HTTP client statusbot uses, making the same requests at the "
        "same rate in slot-sized bursts in a process of its own (the floor for any design "
        "on this client and asyncio's event loop); 'side by side' runs the daemon and aiohttp "
        "alone at once for the same seconds, so that what statusbot adds to its client is "
        "measured on the same host minute (this host's speed drifts by a third over an "
        "evening, for every process alike); 'TLS in C alone' is OpenSSL's own benchmark "
        "client making full handshakes (certificate verified) with a GET, as fast as it "
        "can: what this host's OpenSSL charges for an HTTPS check before any HTTP client, "
        "language or scheduler."
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
