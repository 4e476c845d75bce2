"""A fleet of targets and checks for the benchmarks, every part a real process on loopback.

* ``Nginx``: Debian's nginx answering ``200 ok`` over HTTP and HTTPS (a self-signed certificate
  made here), one worker, no access log — the "local target in another process".
* ``Tarpit``: a process that accepts connections and never answers: a slow, deadline-bound target.
* a closed port: a down target (connection refused).
* ``write_config``: a statusbot config with N checks spread over those targets.
* ``Daemon``: ``statusbot run`` as a subprocess, with its CPU time, RSS and ``/metrics``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from report import cpu_seconds, status_mb

ROOT = Path(__file__).resolve().parent.parent
STATUSBOT = [sys.executable, "-m", "statusbot"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:g}s")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (EC P-256), and its key."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "statusbot bench")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Nginx:
    """Debian's nginx on two loopback ports; ``cert`` is also the CA file for clients."""

    def __init__(self, directory: Path, workers: int = 1) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise SystemExit("nginx is not installed (Debian: apt-get install nginx-light)")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.cert, key = self_signed(directory)
        self.http_port, self.https_port = free_port(), free_port()
        conf = directory / "nginx.conf"
        temp = "".join(
            f"  {kind}_temp_path {directory}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf.write_text(
            f"""daemon off;
master_process on;
worker_processes {workers};
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
{temp}  keepalive_timeout 5s;
  server {{
    listen 127.0.0.1:{self.http_port} backlog=4096;
    location / {{ return 200 "ok\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{self.https_port} ssl backlog=4096;
    ssl_certificate {self.cert};
    ssl_certificate_key {key};
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""
        )
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(directory), "-e", str(directory / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.http_port)
        wait_port(self.https_port)

    def cpu(self) -> float:
        """CPU seconds of the master and its workers."""
        total = cpu_seconds(self.proc.pid)
        for child in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if _ppid(int(child.name)) == self.proc.pid:
                    total += cpu_seconds(int(child.name))
        return total

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


TARPIT = """
import asyncio, sys
async def hold(reader, writer):
    try:
        await reader.read(65536)
        await asyncio.sleep(3600)
    except Exception:
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(hold, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


class Tarpit:
    """Accepts connections, reads the request and never answers: checks hit their deadline."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", TARPIT, str(self.port)])
        wait_port(self.port)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def write_config(
    path: Path,
    *,
    checks: int,
    interval: float,
    timeout: float,
    url: str,
    ca_file: Path | None = None,
    slow_url: str | None = None,
    slow: float = 0.0,
    down_url: str | None = None,
    down: float = 0.0,
    per_component: int = 10,
    listen: str | None = None,
) -> dict[str, int]:
    """A config with ``checks`` HTTP checks, ``per_component`` to a component; the first
    ``slow`` share go to ``slow_url``, the next ``down`` share to ``down_url``. Returns how
    many checks of each kind."""
    n_slow, n_down = round(checks * slow), round(checks * down)
    lines = [
        f"defaults: {{interval: {interval:g}s, timeout: {timeout:g}s, fail_after: 2, "
        "recover_after: 2}",
        # a fleet where a tenth is down at once is the scenario, not a sign that our own
        # network is gone: keep the mass-failure guard out of the measurement
        "detection: {mass_failure_fraction: 1.0}",
        f"storage: {{url: 'sqlite:///{path.parent}/statusbot.db'}}",
        f"site: {{output_dir: '{path.parent}/site'}}",
    ]
    if listen:
        lines.append(f"http: {{listen: '{listen}'}}")
    lines.append("components:")
    ca = f", ca_file: '{ca_file}'" if ca_file else ""
    for c in range(0, checks, per_component):
        lines.append(f"  - {{id: c{c}, name: Component {c}, checks: [")
        for n in range(c, min(checks, c + per_component)):
            target = slow_url if n < n_slow else down_url if n < n_slow + n_down else url
            lines.append(f"      {{type: http, id: k{n}, url: '{target}?n={n}'{ca}}},")
        lines.append("    ]}")
    path.write_text("\n".join(lines) + "\n")
    return {"up": checks - n_slow - n_down, "slow": n_slow, "down": n_down}


class Daemon:
    """``statusbot run`` as a subprocess."""

    def __init__(self, config: Path, listen_port: int | None = None, env: dict | None = None):
        self.port = listen_port
        self.log = config.parent / "daemon.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*STATUSBOT, "run", "-c", str(config), "--log-level", "warning"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def rss(self) -> float:
        return status_mb(self.proc.pid)

    def peak_rss(self) -> float:
        return status_mb(self.proc.pid, "VmHWM")

    def metrics(self) -> dict[str, float]:
        """The daemon's /metrics as {"name{labels}": value}."""
        assert self.port
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[key] = float(value)
        return out

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def checks_done(metrics: dict[str, float]) -> float:
    """Check runs that ended (any outcome), from the daemon's result counter."""
    return sum(v for k, v in metrics.items() if k.startswith("statusbot_checks_total"))


@contextlib.contextmanager
def running(*things: object) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in reversed(things):
            with contextlib.suppress(Exception):
                thing.stop()  # type: ignore[attr-defined]
