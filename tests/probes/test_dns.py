"""DNS probe against a UDP DNS server on 127.0.0.1 that answers from the test's zone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from statusbot.model import Outcome, State
from statusbot.probes import DnsCheck, ProbeContext, run_check

ZONE: dict[tuple[str, str], list[str]] = {
    ("api.test.", "A"): ["192.0.2.10", "192.0.2.11"],
    ("api.test.", "AAAA"): ["2001:db8::10"],
    ("www.test.", "CNAME"): ["api.test."],
    ("test.", "MX"): ["10 Mail.Test.", "20 backup.test."],
}


class ZoneServer(asyncio.DatagramProtocol):
    """Answers from ZONE; NXDOMAIN for unknown names; REFUSED / silence for two special names."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
        if name == "silent.test.":
            return
        response = dns.message.make_response(query)
        if name == "refused.test.":
            response.set_rcode(dns.rcode.REFUSED)
        elif not any(known == name for known, _ in ZONE):
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif values := ZONE.get((name, rdtype)):
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, "IN", rdtype, values)
            )
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(ZoneServer, local_addr=("127.0.0.1", 0))
    yield f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    transport.close()


async def probe(spec: DnsCheck, ctx: ProbeContext) -> Outcome:
    """Through run_check: a resolver retries until the runner's deadline, never forever."""
    return await run_check(spec, ctx, timeout=2)


def check(server: str, name: str, **fields: object) -> DnsCheck:
    return DnsCheck.model_validate(
        {"type": "dns", "query_name": name, "resolver": [server], **fields}
    )


async def test_a_record_with_expected_addresses_is_up(server: str, ctx: ProbeContext) -> None:
    outcome = await probe(check(server, "api.test", expect=["192.0.2.11"]), ctx)
    assert outcome.state is State.UP
    assert outcome.reason == "A api.test → 192.0.2.10, 192.0.2.11"
    assert outcome.latency is not None


async def test_missing_expected_value_is_down(server: str, ctx: ProbeContext) -> None:
    outcome = await probe(check(server, "api.test", expect=["192.0.2.10", "192.0.2.99"]), ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason == "A api.test: expected 192.0.2.99, got 192.0.2.10, 192.0.2.11"


async def test_aaaa_compares_addresses_not_spellings(server: str, ctx: ProbeContext) -> None:
    spec = check(server, "api.test", record="aaaa", expect=["2001:DB8:0::10"])
    assert (await probe(spec, ctx)).state is State.UP


async def test_cname_and_mx_compare_host_names_loosely(server: str, ctx: ProbeContext) -> None:
    cname = await probe(check(server, "www.test", record="CNAME", expect=["API.test"]), ctx)
    assert (cname.state, cname.reason) == (State.UP, "CNAME www.test → api.test")
    mx = await probe(check(server, "test.", record="MX", expect=["mail.test."]), ctx)
    assert (mx.state, mx.reason) == (State.UP, "MX test. → backup.test, mail.test")


async def test_nxdomain_and_no_answer_are_down(server: str, ctx: ProbeContext) -> None:
    nx = await probe(check(server, "nope.test"), ctx)
    assert (nx.state, nx.reason) == (State.DOWN, "NXDOMAIN: nope.test does not exist")
    empty = await probe(check(server, "www.test"), ctx)
    assert (empty.state, empty.reason) == (State.DOWN, "no A record for www.test")


async def test_refusing_server_is_down(server: str, ctx: ProbeContext) -> None:
    outcome = await probe(check(server, "refused.test"), ctx)
    assert outcome.state is State.DOWN
    assert outcome.reason.startswith("no DNS server answered A refused.test: ")
    assert "REFUSED" in outcome.reason


async def test_silent_server_hits_the_deadline(server: str, ctx: ProbeContext) -> None:
    outcome = await run_check(check(server, "silent.test"), ctx, timeout=0.3)
    assert (outcome.state, outcome.reason) == (State.DOWN, "no answer within 0.3s")


def test_resolver_entries_parse() -> None:
    spec = DnsCheck.model_validate(
        {
            "type": "dns",
            "query_name": "x",
            "resolver": ["192.0.2.1", "::1", "[::1]:5353", "127.0.0.1:53"],
        }
    )
    assert spec.servers() == (("192.0.2.1", 53), ("::1", 53), ("::1", 5353), ("127.0.0.1", 53))
