"""Time from a target going down to the first post on the Mastodon test server.

Runs the real daemon (subprocess) against a loopback HTTP target that really closes its port,
with a Mastodon channel pointing at the test server of tests/support (in this process, its own
thread). For each outage: seconds from "down" to the incident's opening in the store, and to
the first status the server received, against the detection window ``fail_after × interval``;
the goal is the post within the window + 1 s. Also the time from recovery to resolution
(resolve_after 0s). Outages follow each other within seconds here, which the flap rule would
rightly hold in the worse state; the bench raises flap_threshold so that each is measured alone.

    .venv/bin/python bench/detection_latency.py [--trials 6] [--interval 1] [--fail-after 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from report import ROOT, Report

from statusbot.store import Store

TOKEN = "bench-mastodon-token-0123456789"


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


def serve(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def poll(what, fn, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def run(quick: bool = False, trials: int = 6, interval: float = 1.0, fail_after: int = 2):
    if quick:
        trials = 2
    sys.path.insert(0, str(ROOT))
    from tests.support.mastodon_server import MastodonServer  # noqa: PLC0415

    window = fail_after * interval
    mastodon = MastodonServer(token=TOKEN)
    masto_url, stop_masto = mastodon.start_in_thread()
    server = serve()
    port = server.server_address[1]
    report = Report(
        "Detection: from a target going down to the first Mastodon post",
        f"bench/detection_latency.py --trials {trials} --interval {interval:g} "
        f"--fail-after {fail_after}",
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config = directory / "config.yaml"
        config.write_text(
            f"""
defaults: {{interval: {interval}s, timeout: {interval / 2}s,
            fail_after: {fail_after}, recover_after: 2}}
incidents: {{resolve_after: 0s}}
detection: {{flap_threshold: 1000}}
components: [{{id: api, name: API, checks: [{{type: http, url: "http://127.0.0.1:{port}/"}}]}}]
channels: {{mastodon: {{api_base_url: "{masto_url}", access_token: "${{env:MASTO_TOKEN}}"}}}}
storage: {{url: "sqlite:///{directory}/statusbot.db"}}
"""
        )
        daemon = subprocess.Popen(
            [sys.executable, "-m", "statusbot", "run", "-c", str(config), "--log-level", "warning"],
            env={**os.environ, "PYTHONUNBUFFERED": "1", "MASTO_TOKEN": TOKEN},
            cwd=ROOT,
        )
        store = Store.open(f"sqlite:///{directory}/statusbot.db")

        def incidents():
            with store.read() as tx:
                return tx.incidents()

        def state():
            with store.read() as tx:
                return tx.component_states().get("api", (None, None))[0]

        detect, posted, resolve = [], [], []
        try:
            poll("the first results", lambda: str(state()) == "up", 120)
            for n in range(trials):
                time.sleep(interval * (n % 3) / 3)  # vary the phase against the schedule
                before = len(mastodon.statuses)
                server.shutdown()
                server.server_close()
                down_at = datetime.now(UTC)
                opened = poll(
                    "an incident", lambda n=n: len(incidents()) == n + 1 and incidents()[0]
                )
                detect.append((opened.opened_at - down_at).total_seconds())
                first = poll("a post", lambda b=before: mastodon.statuses[b:])[0]
                posted.append((first.created_at - down_at).total_seconds())
                server = serve(port)
                up_at = datetime.now(UTC)
                done = poll("the resolution", lambda: not incidents()[0].is_open and incidents()[0])
                resolve.append((done.resolved_at - up_at).total_seconds())
                poll("the resolution post", lambda b=before: len(mastodon.statuses) >= b + 2)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            store.close()
            server.shutdown()
            stop_masto()
    worst = max(posted)
    report.row(
        "down → first post on the Mastodon test server",
        f"median {statistics.median(posted):.2f} s, worst {worst:.2f} s "
        f"(window {window:g} s; {trials} outages)",
        f"≤ window + 1 s = {window + 1:g} s",
        worst <= window + 1,
    )
    report.row(
        "down → incident opened in the store",
        f"median {statistics.median(detect):.2f} s, worst {max(detect):.2f} s",
    )
    report.row(
        "recovery → incident resolved (resolve_after 0 s, recover_after 2)",
        f"median {statistics.median(resolve):.2f} s, worst {max(resolve):.2f} s",
    )
    report.note(
        f"- interval {interval:g} s, fail_after {fail_after}: the second failing run confirms "
        "the outage, so detection takes between (fail_after − 1) × interval and "
        "fail_after × interval after the port closes, depending on the phase."
    )
    report.note(
        "- per outage (down → incident / → post): "
        + ", ".join(f"{d:.2f}/{p:.2f} s" for d, p in zip(detect, posted, strict=True))
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--fail-after", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(run(args.quick, args.trials, args.interval, args.fail_after).markdown())


if __name__ == "__main__":
    main()
