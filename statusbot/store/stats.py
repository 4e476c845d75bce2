"""Small result types the store returns besides the domain types of ``statusbot.model``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from statusbot.model import DeliveryStatus


@dataclass(frozen=True, slots=True)
class DayStats:
    """One check's runs on one UTC day. Latencies in seconds (None when nothing answered)."""

    day: date
    up: int
    degraded: int
    down: int
    latency_avg: float | None = None
    latency_max: float | None = None

    @property
    def total(self) -> int:
        return self.up + self.degraded + self.down

    @property
    def uptime(self) -> float | None:
        """Share of runs that were not DOWN (degraded counts as up); None without runs."""
        return (self.up + self.degraded) / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """One channel's deliveries: how many in each status and the oldest pending one's age."""

    channel: str
    counts: dict[DeliveryStatus, int] = field(default_factory=dict)
    oldest_pending_at: datetime | None = None

    def count(self, status: DeliveryStatus) -> int:
        return self.counts.get(status, 0)


@dataclass(frozen=True, slots=True)
class PruneStats:
    """What one ``roll_up_and_prune`` did (row counts) and up to when raw data is rolled up."""

    hourly_rows: int
    daily_rows: int
    raw_deleted: int
    hourly_deleted: int
    daily_deleted: int
    rolled_until: datetime
