"""Time from a target going down to its incident, against the detection window.

Runs the real daemon (subprocess) against a loopback HTTP target that really closes its port,
several times, and reports for each outage: seconds from "down" to the incident's opening,
and that as a share of the window fail_after × interval + interval (issue 2's bound).
Also the time from recovery to resolution (resolve_after 0s). Outages follow each other within
seconds here, which the flap rule would rightly hold in the worse state; the bench raises
flap_threshold so that each outage is measured on its own.

    .venv/bin/python bench/detection_latency.py [--trials 5] [--interval 1] [--fail-after 2]
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

from statusbot.store import Store


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
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--fail-after", type=int, default=2)
    args = parser.parse_args()
    window = args.fail_after * args.interval + args.interval
    server = serve()
    port = server.server_address[1]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config = directory / "config.yaml"
        config.write_text(
            f"""
defaults: {{interval: {args.interval}s, timeout: {args.interval / 2}s,
            fail_after: {args.fail_after}, recover_after: 2}}
incidents: {{resolve_after: 0s}}
detection: {{flap_threshold: 1000}}
components: [{{id: api, name: API, checks: [{{type: http, url: "http://127.0.0.1:{port}/"}}]}}]
storage: {{url: "sqlite:///{directory}/statusbot.db"}}
"""
        )
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "statusbot",
                "run",
                "-c",
                str(config),
                "--log-level",
                os.environ.get("BENCH_LOG", "warning"),
            ],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        store = Store.open(f"sqlite:///{directory}/statusbot.db")

        def incidents():
            with store.read() as tx:
                return tx.incidents()

        def state():
            with store.read() as tx:
                return tx.component_states().get("api", (None, None))[0]

        detect, resolve = [], []
        try:
            poll("the first results", lambda: str(state()) == "up")
            for n in range(args.trials):
                time.sleep(args.interval * (n % 3) / 3)  # vary the phase against the schedule
                server.shutdown()
                server.server_close()
                down_at = datetime.now(UTC)
                opened = poll(
                    "an incident", lambda n=n: len(incidents()) == n + 1 and incidents()[0]
                )
                detect.append((opened.opened_at - down_at).total_seconds())
                server = serve(port)
                up_at = datetime.now(UTC)
                done = poll("the resolution", lambda: not incidents()[0].is_open and incidents()[0])
                resolve.append((done.resolved_at - up_at).total_seconds())
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            store.close()
            server.shutdown()
    print(
        f"interval {args.interval:g}s · fail_after {args.fail_after} · window {window:g}s "
        f"(fail_after × interval + interval) · {args.trials} outages"
    )
    for n, (d, r) in enumerate(zip(detect, resolve, strict=True), 1):
        print(
            f"  outage {n}: incident after {d:5.2f}s = {d / window:4.0%} of the window; "
            f"resolved {r:5.2f}s after recovery"
        )
    print(
        f"median detection {statistics.median(detect):.2f}s, worst {max(detect):.2f}s "
        f"({max(detect) / window:.0%} of the window)"
    )


if __name__ == "__main__":
    main()
