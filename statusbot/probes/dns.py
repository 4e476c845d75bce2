"""DNS probe: does ``query_name`` resolve, and does the answer hold every expected value?

Resolvers are built once per distinct ``resolver`` list and cached at module level (building one
reads /etc/resolv.conf for the system resolver). They never cache answers and retry until the
runner's deadline ends the query, so a silent server reads "no answer within 10s".
"""

from __future__ import annotations

import ipaddress
import time
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from statusbot.model import Outcome
from statusbot.probes.base import CheckBase, ProbeContext

Server = tuple[str, int]
_LIFETIME = 3600.0  # the runner's asyncio.timeout ends a query long before this
_resolvers: dict[tuple[Server, ...], dns.asyncresolver.Resolver] = {}


def parse_server(text: str) -> Server:
    """ "192.0.2.53", "192.0.2.53:5353", "2001:db8::53" or "[2001:db8::53]:5353" → (ip, port)."""
    host, port = text.strip(), 53
    if host.startswith("["):
        host, sep, rest = host[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad resolver {text!r} (use IP, IP:PORT or [IPv6]:PORT)")
        if rest:
            port = _port(rest[1:], text)
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = _port(port_text, text)
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        raise ValueError(f"bad resolver {text!r}: not an IP address") from None


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"bad resolver {whole!r}: port must be 1-65535")
    return int(text)


def normalise(value: str) -> str:
    """Compare form: IP addresses canonical, names lower-case without the trailing dot."""
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value.lower().rstrip(".")


class DnsCheck(CheckBase):
    """Up when ``query_name`` has ``record`` records including every value in ``expect``."""

    type: Literal["dns"] = Field(description="Check type: a DNS lookup.")
    # Not "name": CheckBase.name is the check's human label.
    query_name: str = Field(min_length=1, description="Name to look up, e.g. api.example.com.")
    record: Literal["A", "AAAA", "CNAME", "MX"] = Field(
        default="A", description="Record type to ask for."
    )
    expect: list[str] = Field(
        default_factory=list,
        description="Values that must all be in the answer (addresses, or host names for "
        "CNAME/MX; case and trailing dot ignored). Empty: any answer will do.",
    )
    resolver: list[str] = Field(
        default_factory=list,
        description='Servers to ask, "IP" or "IP:PORT"; empty: the system resolver.',
    )

    @field_validator("resolver")
    @classmethod
    def _servers_parse(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                parse_server(entry)
            except ValueError as exc:
                raise PydanticCustomError("resolver", str(exc)) from None
        return value

    @field_validator("record", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def servers(self) -> tuple[Server, ...]:
        return tuple(parse_server(entry) for entry in self.resolver)

    def target(self) -> str:
        return f"{self.record} {self.query_name}"


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
