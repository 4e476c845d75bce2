"""TLS expiry probe: does the certificate verify, and how long until it expires?

Follows REFERENCE.md "Reading TLS expiry": a verified handshake gives ``peercert["notAfter"]``.
When verification fails the check is DOWN with the verifier's reason, and a second, non-verifying
handshake reads the certificate's DER (``getpeercert()`` is ``{}`` without verification) through
cryptography's x509 parser, so the reason can still say when it expires.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, FilePath

from statusbot.model import Outcome
from statusbot.probes.base import CheckBase, ProbeContext
from statusbot.probes.tcp import close_quietly, connect_error, host_port

_DAY = 86_400.0


class TlsCheck(CheckBase):
    """Up while the certificate verifies and expires in more than ``warn_days`` days."""

    type: Literal["tls"] = Field(description="Check type: TLS certificate validity and expiry.")
    host: str = Field(min_length=1, description="Host name or IP address to connect to.")
    port: int = Field(default=443, ge=1, le=65535, description="TCP port of the TLS service.")
    server_name: str | None = Field(
        default=None,
        min_length=1,
        description="Name sent as SNI and verified against the certificate; default: host.",
    )
    warn_days: int = Field(
        default=14, ge=0, description="Degraded when the certificate expires within this many days."
    )
    ca_file: FilePath | None = Field(
        default=None, description="PEM bundle to trust instead of the system CAs."
    )

    def target(self) -> str:
        where = f"tls://{host_port(self.host, self.port)}"
        return where if self.server_name is None else f"{where} ({self.server_name})"


def verify_message(err: BaseException) -> str:
    """The verifier's own words ("self-signed certificate"), never a traceback."""
    message = getattr(err, "verify_message", None) or getattr(err, "reason", None) or str(err)
    return str(message).rstrip(".")


def expiry_text(not_after: datetime, now: datetime) -> str:
    """ "expires in 3 days (2026-11-25)" / "expires in 5h (…)" / "expired 2 days ago (…)"."""
    left = (not_after - now).total_seconds()
    date = not_after.date().isoformat()
    if left <= 0:
        return f"expired {_span(-left)} ago ({date})"
    return f"expires in {_span(left)} ({date})"


def _span(seconds: float) -> str:
    if seconds < _DAY:
        hours = int(seconds // 3600)
        return f"{hours}h" if hours else f"{int(seconds // 60)}m"
    days = round(seconds / _DAY)
    return f"{days} day" if days == 1 else f"{days} days"


async def probe(spec: TlsCheck, ctx: ProbeContext) -> Outcome:
    """Handshake with verification, then judge ``notAfter`` against ``ctx.clock()``."""
    sni = spec.server_name or spec.host
    started = time.perf_counter()
    try:
        _reader, writer = await asyncio.open_connection(
            spec.host, spec.port, ssl=ctx.tls.get(True, spec.ca_file), server_hostname=sni
        )
    except ssl.SSLCertVerificationError as exc:
        latency = time.perf_counter() - started
        reason = f"certificate verify failed: {verify_message(exc)}"
        not_after = await _unverified_not_after(spec, ctx, sni)
        if not_after is not None:
            reason += f"; it {expiry_text(not_after, ctx.clock())}"
        return Outcome.down(reason, latency)
    except ssl.SSLError as exc:
        return Outcome.down(
            f"TLS handshake with {spec.target()} failed: {verify_message(exc)}",
            time.perf_counter() - started,
        )
    except TimeoutError:
        raise
    except OSError as exc:
        return Outcome.down(connect_error(exc, spec.host, spec.port))
    latency = time.perf_counter() - started
    try:
        cert = writer.get_extra_info("peercert") or {}
        not_after_text = cert.get("notAfter")
    finally:
        await close_quietly(writer)
    if not isinstance(not_after_text, str):
        return Outcome.down(f"{spec.target()} sent no certificate expiry", latency)
    not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after_text), UTC)
    return judge(not_after, ctx.clock(), spec.warn_days, latency)


def judge(not_after: datetime, now: datetime, warn_days: int, latency: float | None) -> Outcome:
    """DOWN once expired, DEGRADED within ``warn_days``, UP otherwise."""
    reason = f"certificate {expiry_text(not_after, now)}"
    left = (not_after - now).total_seconds()
    if left <= 0:
        return Outcome.down(reason, latency)
    if left < warn_days * _DAY:
        return Outcome.degraded(reason, latency)
    return Outcome.up(reason, latency)


async def _unverified_not_after(spec: TlsCheck, ctx: ProbeContext, sni: str) -> datetime | None:
    """Reconnect without verification and parse the leaf's DER; None if that fails too."""
    try:
        _reader, writer = await asyncio.open_connection(
            spec.host, spec.port, ssl=ctx.tls.get(False, None), server_hostname=sni
        )
    except (OSError, ValueError):
        return None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return None
        from cryptography import x509  # noqa: PLC0415 - 8 MB; only daemons with TLS checks

        return x509.load_der_x509_certificate(der).not_valid_after_utc
    except ValueError:
        return None
    finally:
        await close_quietly(writer)
