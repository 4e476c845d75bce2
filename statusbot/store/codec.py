"""Conversions between model values and column values (epoch ms, state codes, JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from statusbot.model import State

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

STATE_CODES: dict[State, int] = {
    State.UP: 0,
    State.DEGRADED: 1,
    State.DOWN: 2,
    State.MAINTENANCE: 3,
    State.UNKNOWN: 4,
}
"""result.state codes. Never renumber: stored rows depend on them."""
CODE_STATES = {code: state for state, code in STATE_CODES.items()}


def to_ms(at: datetime) -> int:
    """Aware datetime → integer epoch milliseconds (sub-millisecond part truncated)."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: the store needs aware UTC datetimes")
    return (at - EPOCH) // MS


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds → aware UTC datetime."""
    return EPOCH + timedelta(milliseconds=ms)


def opt_from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def opt_to_ms(at: datetime | None) -> int | None:
    return None if at is None else to_ms(at)


def dumps(payload: dict[str, object]) -> str:
    """Compact, stable JSON for event payloads (non-ASCII kept readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def loads(text: str) -> dict[str, object]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("event payload is not a JSON object")
    return value


def unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, first occurrence kept."""
    return list(dict.fromkeys(items))
