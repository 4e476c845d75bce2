"""The DNS lookup behind ``probes.dns`` (dnspython), imported when a DNS check first runs.

Resolvers are built once per distinct ``resolver`` list and cached at module level (building one
reads /etc/resolv.conf for the system resolver). They never cache answers and retry until the
runner's deadline ends the query, so a silent server reads "no answer within 10s".
"""

from __future__ import annotations

import time

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from statusbot.model import Outcome
from statusbot.probes.base import ProbeContext
from statusbot.probes.dns import DnsCheck, Server, normalise

_LIFETIME = 3600.0  # the runner's asyncio.timeout ends a query long before this
_resolvers: dict[tuple[Server, ...], dns.asyncresolver.Resolver] = {}


def get_resolver(servers: tuple[Server, ...]) -> dns.asyncresolver.Resolver:
    """The cached resolver for ``servers`` (empty: the system's)."""
    resolver = _resolvers.get(servers)
    if resolver is None:
        if servers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in servers]
        else:
            resolver = dns.asyncresolver.Resolver()
        resolver.lifetime = _LIFETIME
        resolver.cache = None
        _resolvers[servers] = resolver
    return resolver


def answer_values(answer: dns.resolver.Answer, record: str) -> list[str]:
    """The answer as sorted comparable strings: addresses, CNAME targets, MX exchanges."""
    if answer.rrset is None:
        return []
    values = []
    for rdata in answer.rrset:
        if record == "MX":
            values.append(rdata.exchange.to_text())
        elif record == "CNAME":
            values.append(rdata.target.to_text())
        else:
            values.append(rdata.to_text())
    return sorted({normalise(value) for value in values})  # stable reasons: rrsets are sets


async def probe(spec: DnsCheck, ctx: ProbeContext) -> Outcome:
    """Resolve once; DOWN on NXDOMAIN, no answer, failing servers or a missing value."""
    what = spec.target()
    started = time.perf_counter()
    try:
        answer = await get_resolver(spec.servers()).resolve(
            spec.query_name, spec.record, search=False, raise_on_no_answer=True
        )
    except dns.exception.DNSException as exc:
        answered = not isinstance(exc, dns.exception.Timeout)
        return Outcome.down(failure(exc, spec), _since(started) if answered else None)
    latency = _since(started)
    got = answer_values(answer, spec.record)
    missing = [value for value in spec.expect if normalise(value) not in got]
    shown = ", ".join(got[:5]) + (", …" if len(got) > 5 else "")
    if missing:
        return Outcome.down(
            f"{what}: expected {', '.join(missing)}, got {shown or 'nothing'}", latency
        )
    return Outcome.up(f"{what} → {shown}", latency)


def failure(exc: dns.exception.DNSException, spec: DnsCheck) -> str:
    """Why the lookup failed, in words."""
    what = spec.target()
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return f"NXDOMAIN: {spec.query_name} does not exist"
    if isinstance(exc, dns.resolver.NoAnswer):
        return f"no {spec.record} record for {spec.query_name}"
    if isinstance(exc, dns.resolver.NoNameservers):
        return f"no DNS server answered {what}: {_why(exc)}"
    if isinstance(exc, dns.exception.Timeout):
        return f"no answer from DNS for {what}"
    return f"DNS lookup of {what} failed: {type(exc).__name__}: {exc}"


def _since(started: float) -> float:
    return time.perf_counter() - started


def _why(exc: dns.resolver.NoNameservers) -> str:
    """The servers' answers ("127.0.0.1:5353 answered REFUSED"), short."""
    errors = exc.kwargs.get("errors") or []
    parts = []
    for error in errors[:3]:
        server, port, answer = error[0], error[2], error[3]
        parts.append(f"{server}:{port} {answer}" if isinstance(answer, str) else f"{server}:{port}")
    return "; ".join(parts) or "all servers failed"
