"""DNS probe: does ``query_name`` resolve, and does the answer hold every expected value?

The check's spec lives here; the lookup (dnspython) lives in ``probes.dnsquery`` and is imported
with the first DNS check that runs, so a daemon without DNS checks does not carry dnspython
(2.4 MB of its resident memory).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from statusbot.model import Outcome
from statusbot.probes.base import CheckBase, ProbeContext

Server = tuple[str, int]


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


async def probe(spec: DnsCheck, ctx: ProbeContext) -> Outcome:
    """Resolve once; DOWN on NXDOMAIN, no answer, failing servers or a missing value."""
    from statusbot.probes import dnsquery  # noqa: PLC0415 - dnspython only when it is used

    return await dnsquery.probe(spec, ctx)
