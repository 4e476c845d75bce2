"""HTTP(S) probe: one request through the shared aiohttp session, judged against ``expect``.

Order of judgement: transport errors → status → body_contains → body_regex → json → latency.
The body is read up to ``max_body`` bytes (never more), so a huge response cannot exhaust memory,
and header values (which may be secrets) never appear in a reason.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from http.cookies import BaseCookie, SimpleCookie
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractCookieJar
from aiohttp.typedefs import LooseCookies
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, FilePath, field_validator
from pydantic_core import PydanticCustomError
from yarl import URL

from statusbot.model import Outcome
from statusbot.probes.base import CheckBase, ProbeContext
from statusbot.probes.tcp import connect_error
from statusbot.probes.tls import verify_message
from statusbot.values import Duration, Secret

MIB = 1024 * 1024
MAX_REDIRECTS = 10
# The deadline belongs to run_check (asyncio.timeout); aiohttp's own 5-minute default is disabled
# so one clock decides "no answer within …" for every probe.
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None)
_STEP = re.compile(r"(?P<dot>\.)?(?:(?P<key>[^.\[\]]+)|\[(?P<index>\d+)\])")
_MISSING = object()
_NO_URL = URL()
USER_AGENT = "statusbot (+https://github.com/statusbot)"
_RUN_JAR: ContextVar[aiohttp.CookieJar | None] = ContextVar("statusbot_run_jar", default=None)


class RunCookies(aiohttp.DummyCookieJar):
    """Cookies that live for one check run, as blackbox_exporter gives each probe a new jar.

    A redirect chain within a run carries them (a "set a cookie, then come back" bounce
    works), but no run sees another's: one check's login can never make another check pass,
    and nothing piles up across thousands of targets. A run's jar exists only once a response
    sets a cookie; ``one_run()`` scopes it to the current task.
    """

    def update_cookies(self, cookies: LooseCookies, response_url: URL = _NO_URL) -> None:
        jar = _RUN_JAR.get()
        if jar is None:
            jar = aiohttp.CookieJar(unsafe=True)  # checks often name an IP address
            _RUN_JAR.set(jar)
        jar.update_cookies(cookies, response_url)

    def update_cookies_from_headers(self, headers: Sequence[str], response_url: URL) -> None:
        # DummyCookieJar drops them; the base class parses them into update_cookies
        AbstractCookieJar.update_cookies_from_headers(self, headers, response_url)

    def filter_cookies(self, request_url: URL) -> BaseCookie[str]:
        jar = _RUN_JAR.get()
        return SimpleCookie() if jar is None else jar.filter_cookies(request_url)


@contextmanager
def one_run() -> Iterator[None]:
    """Within this block, cookies set by responses belong to this run alone."""
    token = _RUN_JAR.set(None)
    try:
        yield
    finally:
        _RUN_JAR.reset(token)


def make_session(limit: int = 256) -> aiohttp.ClientSession:
    """One session for every HTTP check: a fresh connection per check (what tests connect),
    and cookies only within one run (``RunCookies``)."""
    connector = aiohttp.TCPConnector(force_close=True, limit=limit, enable_cleanup_closed=True)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=RunCookies(),
        headers={"User-Agent": USER_AGENT},
        auto_decompress=True,
    )


def parse_json_path(path: str) -> tuple[str | int, ...]:
    """``"a.b[0].c"`` → ``("a", "b", 0, "c")``; ValueError on anything else."""
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _STEP.match(path, pos)
        key = match["key"] if match else None
        if (
            match is None
            or (key is not None and (match["dot"] is None) != (pos == 0))
            or (key is None and match["dot"])
        ):
            raise ValueError(f"bad JSON path {path!r} at position {pos} (write it like a.b[0].c)")
        steps.append(key if key is not None else int(match["index"]))
        pos = match.end()
    if not steps:
        raise ValueError("empty JSON path (write it like a.b[0].c)")
    return tuple(steps)


def _compile_regex(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return re.compile(value)
    except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296}, 2000 nested (
        error = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise PydanticCustomError(
            "regex", "bad regular expression: {error}", {"error": error}
        ) from None


class JsonExpect(BaseModel):
    """The JSON value at ``path`` must equal ``equals`` (true ≠ 1; 1 = 1.0)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    path: str = Field(description='Where to look, e.g. "status" or "checks[0].state".')
    equals: Any = Field(description="The expected JSON value (string, number, bool, null, …).")

    @field_validator("path")
    @classmethod
    def _path_parses(cls, value: str) -> str:
        parse_json_path(value)
        return value


class HttpExpect(BaseModel):
    """What a healthy answer looks like. Everything given must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    status: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        default=None, min_length=1, description="Accepted status codes; default: any 2xx."
    )
    body_contains: str | None = Field(
        default=None, min_length=1, description="Text the body must contain."
    )
    body_regex: Annotated[re.Pattern[str] | None, BeforeValidator(_compile_regex)] = Field(
        default=None, description="Regular expression the body must match (re.search)."
    )
    json_: JsonExpect | None = Field(
        default=None, alias="json", description="A value the JSON body must hold at a path."
    )

    @field_validator("status", mode="before")
    @classmethod
    def _one_status(cls, value: object) -> object:
        return [value] if isinstance(value, int) else value

    def describe_status(self) -> str:
        if self.status is None:
            return "2xx"
        return " or ".join(str(code) for code in self.status)

    def status_ok(self, status: int) -> bool:
        return 200 <= status < 300 if self.status is None else status in self.status


def redact_url(url: str) -> str:
    """``url`` fit for logs, reasons and the database: no password, no query values.

    ``https://user:pw@host/p?token=abc&x=1`` → ``https://***@host/p?token=***&x=***``.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        f"{pair.split('=', 1)[0]}=***" if "=" in pair else pair
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class HttpCheck(CheckBase):
    """Up when ``url`` answers as ``expect`` says, degraded when slower than ``degraded_after``."""

    model_config = ConfigDict(hide_input_in_errors=True)  # inputs may hold secrets

    type: Literal["http"] = Field(description="Check type: an HTTP(S) request.")
    url: str = Field(description="http:// or https:// URL to request.")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = Field(
        default="GET", description="HTTP method."
    )
    headers: dict[str, Secret] = Field(
        default_factory=dict, description="Request headers; values may be ${env:NAME} secrets."
    )
    body: str | None = Field(default=None, description="Request body, sent as is.")
    expect: HttpExpect = Field(
        default_factory=HttpExpect, description="What a healthy answer looks like."
    )
    degraded_after: Duration | None = Field(
        default=None, description="Degraded when the answer takes longer than this."
    )
    verify_tls: bool = Field(default=True, description="Verify the server's certificate.")
    ca_file: FilePath | None = Field(
        default=None, description="PEM bundle to trust instead of the system CAs."
    )
    follow_redirects: bool = Field(
        default=True,
        description=f"Follow redirects (at most {MAX_REDIRECTS}). Cookies set on the way are "
        "sent back within the same run, never kept for the next run or another check.",
    )
    max_body: int = Field(default=MIB, ge=0, description="Read at most this many body bytes.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if "://" not in value:
            raise PydanticCustomError("url", "not a URL (hint: include https://)")
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https"):
            raise PydanticCustomError(
                "url",
                "unsupported scheme {scheme} (use http or https)",
                {"scheme": repr(parts.scheme)},
            )
        if not parts.hostname:
            raise PydanticCustomError("url", "URL has no host")
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def target(self) -> str:
        return redact_url(self.url)


async def probe(spec: HttpCheck, ctx: ProbeContext) -> Outcome:
    """Send the request, read at most ``max_body`` bytes, judge; never raises for the target."""
    started = time.perf_counter()
    try:
        with one_run():
            raw, status, charset = await _fetch(spec, ctx)
    except TimeoutError:
        raise  # the runner's deadline, not ours to describe
    except (aiohttp.ClientError, OSError) as exc:
        return Outcome.down(describe_error(exc, redact_url(spec.url)))
    latency = time.perf_counter() - started
    return judge(spec, status, _decode(raw, charset), latency)


async def _fetch(spec: HttpCheck, ctx: ProbeContext) -> tuple[bytes, int, str | None]:
    """The request of one run: (at most ``max_body`` bytes of body, status, charset)."""
    async with ctx.session.request(
        spec.method,
        spec.url,
        headers={name: value.reveal() for name, value in spec.headers.items()},
        data=spec.body.encode() if spec.body is not None else None,
        ssl=ctx.tls.get(spec.verify_tls, spec.ca_file),
        allow_redirects=spec.follow_redirects,
        max_redirects=MAX_REDIRECTS,
        timeout=_NO_CLIENT_TIMEOUT,
    ) as response:
        return await _read_at_most(response, spec.max_body), response.status, response.charset


def judge(spec: HttpCheck, status: int, body: str, latency: float) -> Outcome:
    """Compare one answer with ``spec.expect`` and ``spec.degraded_after``."""
    expect = spec.expect
    problem: str | None = None
    if not expect.status_ok(status):
        url = redact_url(spec.url)
        problem = f"HTTP {status} from {url} (expected {expect.describe_status()})"
    elif expect.body_contains is not None and expect.body_contains not in body:
        url = redact_url(spec.url)
        problem = f"HTTP {status} from {url} but the body lacks {_short(expect.body_contains)}"
    elif expect.body_regex is not None and not expect.body_regex.search(body):
        url, pattern = redact_url(spec.url), expect.body_regex.pattern
        problem = f"HTTP {status} from {url} but the body does not match /{pattern}/"
    elif expect.json_ is not None:
        problem = _json_problem(expect.json_, body, spec.url)
    if problem is not None:
        return Outcome.down(problem, latency)
    limit = spec.degraded_after.total_seconds() if spec.degraded_after is not None else None
    if limit is not None and latency > limit:
        return Outcome.degraded(f"slow: {_secs(latency)} (degraded above {_secs(limit)})", latency)
    return Outcome.up(f"HTTP {status}", latency)


def describe_error(exc: BaseException, url: str) -> str:  # noqa: PLR0911 (one case per line)
    """A transport failure in words: refused, DNS, TLS verify, disconnected, redirects…"""
    if isinstance(exc, aiohttp.TooManyRedirects):
        return f"too many redirects from {url} (more than {MAX_REDIRECTS})"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"certificate verify failed: {verify_message(exc.certificate_error)} ({url})"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | ssl.SSLError):
        return f"TLS handshake failed with {url}: {verify_message(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return connect_error(exc.os_error, exc.host, exc.port)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"server disconnected without a complete answer ({url})"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"broken response body from {url}: {_first_line(exc)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"bad HTTP response from {url}: {exc.status} {_first_line(exc.message)}".rstrip()
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL {url}"
    if isinstance(exc, ConnectionResetError):
        return f"connection reset while talking to {url}"
    return f"request to {url} failed: {type(exc).__name__}: {_first_line(exc)}"


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    buf = bytearray()
    while len(buf) < limit:
        chunk = await response.content.read(limit - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


def _json_problem(rule: JsonExpect, body: str, url: str) -> str | None:
    """What is wrong with the JSON ``body``, naming ``url`` (redacted here: most answers are
    fine, and redacting costs as much as the rest of judging), or None."""
    try:
        document = json.loads(body)
    except ValueError:
        return f"response from {redact_url(url)} is not JSON"
    found = _lookup(document, parse_json_path(rule.path))
    if found is _MISSING:
        return f"JSON {rule.path} not found in response from {redact_url(url)}"
    if not json_equal(found, rule.equals):
        return (
            f"JSON {rule.path} is {_short(json.dumps(found))} from {redact_url(url)} "
            f"(expected {_short(json.dumps(rule.equals))})"
        )
    return None


def _lookup(node: Any, steps: tuple[str | int, ...]) -> Any:
    for step in steps:
        in_list = isinstance(step, int) and isinstance(node, list) and step < len(node)
        if not (in_list or (isinstance(step, str) and isinstance(node, dict) and step in node)):
            return _MISSING
        node = node[step]
    return node


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 equals 1.0, containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0][:200] if lines else ""


def _secs(seconds: float) -> str:
    """1.8 → "1.8s", 0.1 → "0.1s", 12.345 → "12.35s"."""
    return f"{round(seconds, 2):g}s"
