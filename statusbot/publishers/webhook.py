"""Webhook: one signed JSON POST per delivery, to any HTTP receiver.

The body (UTF-8 JSON, sent byte for byte as signed)::

    {"id": 41, "idempotency_key": "statusbot:5e1f0c3a9b27d04c81f6a2e3", "event": "incident.updated",
     "event_id": 7, "at": "2026-11-22T07:10:00+00:00", "incident_id": 12, "maintenance_id": null,
     "text": "<rendered text>", "link": "https://status.example.com/incidents/12" | null,
     "payload": {<the event's payload>}, "reply_to": "<previous post id in this thread>" | null}

Signature, when ``secret`` is set (the scheme Stripe and Slack use)::

    X-Statusbot-Timestamp: <unix seconds>
    X-Statusbot-Signature: sha256=<hex HMAC-SHA256(key=secret UTF-8, msg=timestamp + "." + body)>

A receiver recomputes the HMAC over the raw body bytes, compares in constant time
(``hmac.compare_digest``) and rejects timestamps older than a few minutes (``verify()`` does all
three). Every request also carries ``Idempotency-Key`` (same on every retry of a delivery) and
``X-Statusbot-Delivery``/``X-Statusbot-Event``: receivers deduplicate retries with them.

A 2xx answer whose JSON has an ``id`` (and optionally a ``url``) names the post; replies then
point at it. Otherwise the post is ``webhook:<delivery id>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator

from statusbot.model import Clock, utcnow
from statusbot.publishers.base import ChannelBase, Failure, Limit, Message, PostRef, PublishError
from statusbot.values import Duration, Secret

SIGNATURE_HEADER = "X-Statusbot-Signature"
TIMESTAMP_HEADER = "X-Statusbot-Timestamp"
MAX_TEXT = 100_000  # no limit of its own; keeps a runaway template in check


class WebhookChannel(ChannelBase):
    """An HTTP endpoint that receives every announcement as JSON."""

    url: Secret = Field(
        description="http(s) URL to POST to. A Secret: webhook URLs often carry a token."
    )
    secret: Secret | None = Field(
        None, description="Shared key: sign each request with HMAC-SHA256 (X-Statusbot-Signature)."
    )
    headers: dict[str, Secret] = Field(
        default_factory=dict, description="Extra request headers, e.g. Authorization."
    )
    timeout: Duration = Field(timedelta(seconds=10), description="Whole-request deadline.")
    connect_timeout: Duration = Field(timedelta(seconds=3), description="Connect deadline.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: Secret) -> Secret:
        parts = urlsplit(value.reveal())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook url must be http:// or https:// with a host")
        return value


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Statusbot-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: datetime, tolerance: int = 300
) -> bool:
    """For receivers: the signature matches and the timestamp is within ``tolerance`` seconds."""
    try:
        age = abs(now.timestamp() - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookPublisher:
    """POSTs each delivery to ``settings.url`` (aiohttp, one session)."""

    kind: ClassVar[str] = "webhook"

    def __init__(self, settings: WebhookChannel, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        parts = urlsplit(settings.url.reveal())
        self._where = f"{parts.scheme}://{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )

    def __repr__(self) -> str:
        return f"WebhookPublisher({self._where})"

    async def limit(self) -> Limit:
        """No limit of the channel's own: 100,000 code points."""
        return Limit(MAX_TEXT, len)

    async def publish(self, msg: Message, reply_to: PostRef | None) -> PostRef:
        """POST ``msg`` as JSON. Raises PublishError."""
        body = self.body(msg, reply_to)
        try:
            async with self._client().post(
                self.settings.url.reveal(),
                data=body,
                headers=self._headers(msg, body),
                allow_redirects=False,
            ) as response:
                answer = await response.read()
                if 200 <= response.status < 300:
                    return _post_ref(msg, answer)
                raise self._refusal(response)
        except aiohttp.ConnectionTimeoutError:
            raise self._error("connect timeout", Failure.TRANSIENT) from None
        except aiohttp.ClientConnectorError as exc:  # nothing was sent
            raise self._error(f"cannot connect ({type(exc).__name__})", Failure.TRANSIENT) from None
        except TimeoutError:
            why = f"no answer within {self.settings.timeout.total_seconds():g}s"
            raise self._error(why, Failure.AMBIGUOUS) from None
        except aiohttp.ClientError as exc:  # sent, the answer was lost
            raise self._error(type(exc).__name__, Failure.AMBIGUOUS) from None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @staticmethod
    def body(msg: Message, reply_to: PostRef | None) -> bytes:
        """The exact bytes POSTed (and signed) for ``msg``."""
        event = msg.event
        document = {
            "id": msg.delivery_id,
            "idempotency_key": msg.idempotency_key,
            "event": str(event.kind),
            "event_id": event.id,
            "at": event.at.isoformat(),
            "incident_id": event.incident_id,
            "maintenance_id": event.maintenance_id,
            "text": msg.text,
            "link": msg.link,
            "payload": event.payload,
            "reply_to": reply_to.id if reply_to else None,
        }
        return json.dumps(document, ensure_ascii=False, default=str).encode()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.settings.timeout.total_seconds(),
                sock_connect=self.settings.connect_timeout.total_seconds(),
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    def _headers(self, msg: Message, body: bytes) -> dict[str, str]:
        """Configured headers first; ours win on a clash (the signature cannot be overridden)."""
        headers = {name: value.reveal() for name, value in self.settings.headers.items()}
        timestamp = str(int(self._clock().timestamp()))
        headers |= {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "statusbot",
            "Idempotency-Key": msg.idempotency_key,
            "X-Statusbot-Delivery": str(msg.delivery_id),
            "X-Statusbot-Event": str(msg.event.kind),
            TIMESTAMP_HEADER: timestamp,
        }
        if self.settings.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.settings.secret.reveal(), timestamp, body)
        return headers

    def _refusal(self, response: aiohttp.ClientResponse) -> PublishError:
        status = response.status
        what = f"{status} {response.reason or ''}".strip()
        if status == 429:
            return self._error(what, Failure.RATE_LIMITED, retry_at=self._retry_at(response))
        if status in (401, 403):
            return self._error(what, Failure.AUTH)
        if status in (408, 425) or status >= 500:
            return self._error(what, Failure.TRANSIENT)
        if 300 <= status < 400:
            return self._error(f"{what}: point url at the final address", Failure.REJECTED)
        return self._error(what, Failure.REJECTED)  # 404, 410 (gone), 400, 413, …

    def _retry_at(self, response: aiohttp.ClientResponse) -> datetime | None:
        """Retry-After as seconds or an HTTP date; None if missing or unreadable."""
        value = response.headers.get("Retry-After", "").strip()
        if value.isdigit():
            return self._clock() + timedelta(seconds=int(value))
        try:
            at = parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError):
            return None
        return at.replace(tzinfo=at.tzinfo or UTC) if at else None

    def _error(self, why: str, failure: Failure, **extra: Any) -> PublishError:
        return PublishError(f"webhook {self._where}: {why}", failure, **extra)


def _post_ref(msg: Message, answer: bytes) -> PostRef:
    """The receiver's ``{"id": …, "url": …}`` if it sent one, else ``webhook:<delivery id>``."""
    try:
        data = json.loads(answer) if answer else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("id"), str | int) and data["id"] != "":
        url = data.get("url")
        return PostRef(id=str(data["id"]), url=url if isinstance(url, str) else None)
    return PostRef(id=f"webhook:{msg.delivery_id}")
