"""Outbox drain rate: how fast the real couriers empty a backlog of pending deliveries.

Fills a fresh store with incidents through ``Tx.apply`` (each incident a thread: opened,
updates, resolved), so that every event has one pending delivery per channel, then runs the
daemon's couriers (``statusbot.delivery.couriers``, wired as ``Runtime`` wires them: one
writer thread for every store call, durable writes) until the backlog is gone, and reports
deliveries per second and this process's CPU per delivery.

* ``mastodon``: the Mastodon publisher (Mastodon.py) posting to the loopback Mastodon API test
  server (``tests/support/mastodon_server.py``), which runs in its own process so that the CPU
  figure is statusbot's alone; every post after a thread's first is a reply to its parent.
* ``console``: the console publisher, writing to /dev/null.

Each run reports where the time went (store calls on the writer thread, the publisher's calls,
rendering); a single 500-post thread shows what thread order costs (only its next post is ever
due, so every post takes a round of its own).

    .venv/bin/python bench/outbox_drain.py [--threads 100] [--posts 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from report import ROOT, Report, cpu_seconds

from statusbot import config as configmod
from statusbot.config import Config
from statusbot.delivery import couriers
from statusbot.model import (
    DeliveryStatus,
    Impact,
    OpenIncident,
    Phase,
    ResolveIncident,
    UpdateIncident,
    utcnow,
)
from statusbot.outbox import Courier
from statusbot.publishers.base import Limit, Message, PostRef
from statusbot.store import Store, Tx

T = TypeVar("T")
TOKEN = "bench-token"
COMPONENTS = 50
UPDATES = (
    "We have identified a faulty deploy of the payments gateway and are rolling it back.",
    "The rollback is done; error rates are dropping. We keep watching the queues.",
    "Queues are drained; we are monitoring the service before we call it resolved.",
)


# --- the Mastodon API server, in a process of its own ---------------------------------------


def serve_mastodon(conn: Connection) -> None:
    """Child process: run the test server until told to stop; report what it received."""
    sys.path.insert(0, str(ROOT))
    from tests.support.mastodon_server import MastodonServer  # noqa: PLC0415

    server = MastodonServer(token=TOKEN)
    url, stop = server.start_in_thread()
    conn.send(url)
    conn.recv()  # the parent is done
    statuses = server.statuses
    ids = {p.id for p in statuses}
    replies = [p for p in statuses if p.in_reply_to_id is not None]
    conn.send(
        {
            "statuses": len(statuses),
            "replies": len(replies),
            "orphans": sum(p.in_reply_to_id not in ids for p in replies),
            "requests": len(server.requests),
        }
    )
    stop()


@contextlib.contextmanager
def mastodon_process() -> Iterator[tuple[str, Callable[[], dict[str, int]]]]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=serve_mastodon, args=(child,), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise SystemExit("the Mastodon test server did not start")
        url = parent.recv()
        done: dict[str, int] = {}

        def finish() -> dict[str, int]:
            if not done:
                parent.send("stop")
                done.update(parent.recv())
            return done

        yield url, finish
        finish()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()


# --- the outbox -------------------------------------------------------------------------------


def config_for(folder: Path, mastodon_url: str | None, console: bool) -> Config:
    channels = []
    if mastodon_url:
        channels.append(f"mastodon: {{api_base_url: '{mastodon_url}', access_token: '{TOKEN}'}}")
    if console:
        channels.append("console: {stream: stdout}")
    lines = [
        "site: {title: Example Status, url: 'https://status.example.com', timezone: UTC}",
        f"channels: {{{', '.join(channels)}}}",
        f"storage: {{url: 'sqlite:///{folder}/statusbot.db'}}",
        "components:",
    ]
    lines += [
        f"  - {{id: svc{n}, name: Service {n}, "
        f"checks: [{{type: tcp, host: 127.0.0.1, port: {10_000 + n}}}]}}"
        for n in range(COMPONENTS)
    ]
    return configmod.from_text("\n".join(lines) + "\n", "bench.yaml", env={})


def fill(store: Store, config: Config, threads: int, posts: int) -> int:
    """``threads`` incidents of ``posts`` events each (opened, updates, resolved), routed to
    the configured channels; returns the number of pending deliveries."""
    start = utcnow() - timedelta(hours=2)
    route = config.channels.route
    for n in range(threads):
        at = start + timedelta(seconds=n)
        component = f"svc{n % COMPONENTS}"
        with store.write(durable=True) as tx:
            incident = tx.apply(
                OpenIncident(
                    f"Service {n % COMPONENTS} is down",
                    Impact.MAJOR,
                    (component,),
                    "We are investigating failed requests.",
                    at,
                    auto=False,
                ),
                route,
            )
            for k in range(posts - 2):
                tx.apply(
                    UpdateIncident(
                        incident.id,
                        at + timedelta(minutes=k + 1),
                        UPDATES[k % len(UPDATES)],
                        phase=Phase.IDENTIFIED,
                    ),
                    route,
                )
            tx.apply(
                ResolveIncident(incident.id, at + timedelta(minutes=posts), "All is well."),
                route,
            )
    with store.read() as tx:
        return len(tx.deliveries(DeliveryStatus.PENDING))


@dataclass
class Clocks:
    """Seconds spent, summed: in store calls (on the writer thread), publishing, rendering."""

    store: float = 0.0
    store_calls: int = 0
    publish: float = 0.0
    render: float = 0.0


class Timed:
    """A publisher that times its calls (everything else delegated)."""

    def __init__(self, inner: Any, clocks: Clocks) -> None:
        self.inner, self.clocks, self.kind = inner, clocks, inner.kind

    async def limit(self) -> Limit:
        t = time.perf_counter()
        try:
            return await self.inner.limit()  # type: ignore[no-any-return]
        finally:
            self.clocks.publish += time.perf_counter() - t

    async def publish(self, msg: Message, reply_to: PostRef | None) -> PostRef:
        t = time.perf_counter()
        try:
            return await self.inner.publish(msg, reply_to)  # type: ignore[no-any-return]
        finally:
            self.clocks.publish += time.perf_counter() - t

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Drain:
    deliveries: int
    seconds: float
    cpu: float
    clocks: Clocks
    sent: int

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds


async def drain(store: Store, config: Config, expected: int) -> Drain:
    """Run the couriers as the daemon does until ``expected`` deliveries are settled."""
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="statusbot-writer")
    loop = asyncio.get_running_loop()
    clocks = Clocks()

    def timed(fn: Callable[[], T]) -> T:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            clocks.store += time.perf_counter() - t
            clocks.store_calls += 1

    async def write(fn: Callable[[Tx], T]) -> T:  # Runtime.write
        def run() -> T:
            with store.write(durable=True) as tx:
                return fn(tx)

        return await loop.run_in_executor(writer, timed, run)

    async def read(fn: Callable[[Tx], T]) -> T:  # Runtime.read
        def run() -> T:
            with store.read() as tx:
                return fn(tx)

        return await loop.run_in_executor(writer, timed, run)

    made: list[Courier] = couriers(config, write, utcnow, read=read)
    for courier in made:
        courier.publisher = Timed(courier.publisher, clocks)  # type: ignore[assignment]
        render = courier.render

        def rendered(*args: Any, _render: Any = render) -> str:
            t = time.perf_counter()
            try:
                return _render(*args)  # type: ignore[no-any-return]
            finally:
                clocks.render += time.perf_counter() - t

        courier.render = rendered
    stop = asyncio.Event()
    cpu0, t0 = cpu_seconds(os.getpid()), time.perf_counter()
    tasks = [asyncio.create_task(c.run(stop)) for c in made]

    def settled() -> int:
        return sum(c.stats.sent + c.stats.duplicates + c.stats.dropped for c in made)

    while settled() < expected:
        if time.perf_counter() - t0 > 600:
            raise SystemExit(f"only {settled()} of {expected} deliveries settled in 10 minutes")
        await asyncio.sleep(0.002)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds(os.getpid()) - cpu0
    stop.set()
    await asyncio.gather(*tasks)
    for c in made:
        await c.publisher.close()
    writer.shutdown()
    failed = sum(c.stats.failed + c.stats.dropped for c in made)
    if failed:
        raise SystemExit(f"{failed} deliveries failed or were dropped")
    return Drain(expected, seconds, cpu, clocks, sum(c.stats.sent for c in made))


def one_run(
    folder: Path, *, threads: int, posts: int, mastodon: bool, console: bool
) -> tuple[Drain, dict[str, int]]:
    folder.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        url, finish = (None, dict) if not mastodon else stack.enter_context(mastodon_process())
        config = config_for(folder, url, console)
        store = stack.enter_context(Store.open(config.storage.url))
        pending = fill(store, config, threads, posts)
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            result = asyncio.run(drain(store, config, pending))
        with store.read() as tx:
            left = len(tx.deliveries(DeliveryStatus.PENDING))
        if left:
            raise SystemExit(f"{left} deliveries still pending")
        server = finish()
    if mastodon and server["statuses"] != threads * posts:
        raise SystemExit(f"the server holds {server['statuses']} posts, not {threads * posts}")
    if mastodon and (server["replies"] != threads * (posts - 1) or server["orphans"]):
        raise SystemExit(f"threads broken: {server}")
    return result, server


@contextlib.contextmanager
def info_logging() -> Iterator[None]:
    """The daemon logs every post at INFO: format those records too (into /dev/null)."""
    root = logging.getLogger()
    with open(os.devnull, "w") as null:
        handler = logging.StreamHandler(null)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
        level = root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)


def run(quick: bool = False, threads: int = 100, posts: int = 5) -> Report:
    wall = time.perf_counter()
    if quick:
        threads, posts = 20, 5
    total = threads * posts
    long_thread = 100 if quick else total
    report = Report(
        "Outbox drain: deliveries per second through the real couriers",
        f"bench/outbox_drain.py --threads {threads} --posts {posts}"
        + (" --quick" if quick else ""),
    )
    runs = [
        (f"Mastodon, {total} posts in {threads} threads of {posts}", threads, posts, True, False),
        (f"console, {total} posts in {threads} threads of {posts}", threads, posts, False, True),
        (
            f"Mastodon + console at once, {total} each ({2 * total} deliveries)",
            threads,
            posts,
            True,
            True,
        ),
        (f"Mastodon, one thread of {long_thread} posts", 1, long_thread, True, False),
    ]
    with tempfile.TemporaryDirectory() as tmp, info_logging():
        for n, (label, t, p, mastodon, console) in enumerate(runs):
            d, server = one_run(
                Path(tmp) / str(n), threads=t, posts=p, mastodon=mastodon, console=console
            )
            c = d.clocks
            report.row(
                label,
                f"{d.rate:.0f} deliveries/s ({d.deliveries} in {d.seconds:.2f} s); "
                f"{d.cpu / d.deliveries * 1000:.1f} CPU-ms per delivery",
            )
            per = 1000 / d.deliveries
            note = (
                f"- {label}: per delivery {d.seconds * per:.1f} ms wall, of which store "
                f"{c.store * per:.1f} ms ({c.store_calls / d.deliveries:.1f} calls on the writer "
                f"thread), publisher {c.publish * per:.1f} ms, rendering {c.render * per:.1f} ms"
            )
            if mastodon:
                note += (
                    f"; the server got {server['requests']} requests and holds "
                    f"{server['statuses']} posts, {server['replies']} of them replies, "
                    "each to its thread's previous post"
                )
            report.note(note + ".")
    report.note(
        "- Couriers as `Runtime` runs them: one per channel, each posting one delivery at a "
        "time (claim → render → post → settle: three durable write transactions and two reads "
        "per delivery, all on the single writer thread the probes' results also use); INFO "
        "logging on (to /dev/null). CPU is this process's (all threads, Mastodon.py's worker "
        "threads included); the Mastodon test server runs in another process."
    )
    report.note(f"- Bench wall time: {time.perf_counter() - wall:.0f} s.")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=100, help="incidents (threads)")
    parser.add_argument("--posts", type=int, default=5, help="posts per thread (≥ 2)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(run(args.quick, args.threads, args.posts).markdown())


if __name__ == "__main__":
    main()
