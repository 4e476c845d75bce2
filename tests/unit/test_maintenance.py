"""Maintenance schedule: successive plan() calls with a moving ``now`` and a ``known`` list."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from statusbot.maintenance import WindowSpec, active_components, plan, validate_cron
from statusbot.model import (
    CancelMaintenance,
    EndMaintenance,
    Maintenance,
    MaintenanceStatus,
    ScheduleMaintenance,
    StartMaintenance,
)

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
H = timedelta(hours=1)


def one_off(**kw) -> WindowSpec:
    fields = {
        "id": "db-upgrade",
        "title": "Database upgrade",
        "message": "Short read-only phases.",
        "components": ("db",),
        "start": T0 + 48 * H,
        "end": T0 + 50 * H,
    }
    return WindowSpec(**(fields | kw))


def stored(change: ScheduleMaintenance, id: int) -> Maintenance:
    """What the store would make of a ScheduleMaintenance."""
    return Maintenance(
        id=id,
        title=change.title,
        message=change.message,
        components=change.components,
        starts_at=change.starts_at,
        ends_at=change.ends_at,
        status=MaintenanceStatus.SCHEDULED,
        source=change.source,
    )


def test_one_off_window_is_scheduled_once_then_started_then_ended():
    spec = one_off()
    known: list[Maintenance] = []
    assert plan([spec], known, T0) == []  # more than `notice` ahead

    now = T0 + 25 * H
    [scheduled] = plan([spec], known, now)
    assert scheduled == ScheduleMaintenance(
        title="Database upgrade",
        message="Short read-only phases.",
        components=("db",),
        starts_at=T0 + 48 * H,
        ends_at=T0 + 50 * H,
        source="config:db-upgrade@2026-11-24T07:00:00+00:00/2026-11-24T09:00:00+00:00",
        at=now,
    )
    known = [stored(scheduled, id=3)]
    assert plan([spec], known, now) == []  # announced once
    assert plan([spec], known, T0 + 48 * H - timedelta(seconds=1)) == []

    now = T0 + 48 * H
    assert plan([spec], known, now) == [StartMaintenance(3, now)]
    known = [replace(known[0], status=MaintenanceStatus.IN_PROGRESS)]
    assert plan([spec], known, now + H) == []

    now = T0 + 50 * H
    assert plan([spec], known, now) == [EndMaintenance(3, now)]
    known = [replace(known[0], status=MaintenanceStatus.COMPLETED)]
    assert plan([spec], known, now) == []
    assert plan([spec], [], now) == []  # over: never scheduled again


def test_recurring_weekly_window_in_berlin_crosses_dst():
    spec = WindowSpec(
        id="weekly",
        title="Weekly patching",
        message="",
        components=("api",),
        cron="0 6 * * 0",
        duration=2 * H,
        timezone="Europe/Berlin",
        notice=timedelta(days=14),
    )
    now = datetime(2026, 3, 21, 12, 0, tzinfo=UTC)
    changes = plan([spec], [], now)
    starts = [c.starts_at for c in changes if isinstance(c, ScheduleMaintenance)]
    # 06:00 Berlin is 05:00 UTC in winter time and 04:00 UTC once DST began (2026-03-29)
    assert starts == [
        datetime(2026, 3, 22, 5, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 4, 0, tzinfo=UTC),
    ]
    assert [c.source for c in changes if isinstance(c, ScheduleMaintenance)] == [
        "config:weekly@2026-03-22T05:00:00+00:00/2026-03-22T07:00:00+00:00",
        "config:weekly@2026-03-29T04:00:00+00:00/2026-03-29T06:00:00+00:00",
    ]
    assert all(c.starts_at.tzinfo is UTC for c in changes if isinstance(c, ScheduleMaintenance))
    known = [stored(c, id=i) for i, c in enumerate(changes) if isinstance(c, ScheduleMaintenance)]
    assert plan([spec], known, now) == []


def test_recurring_occurrence_already_running_is_scheduled_but_a_finished_one_is_not():
    spec = WindowSpec(
        id="nightly",
        title="Backups",
        message="",
        components=("db",),
        cron="0 2 * * *",
        duration=H,
        notice=timedelta(hours=1),
    )
    now = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
    [change] = plan([spec], [], now)
    assert isinstance(change, ScheduleMaintenance)
    assert change.starts_at == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert plan([spec], [], datetime(2026, 11, 22, 3, 0, tzinfo=UTC)) == []


def test_cli_maintenance_is_started_and_ended_cancelled_is_left_alone():
    cli = Maintenance(
        id=9,
        title="Network work",
        message="",
        components=("api", "web"),
        starts_at=T0,
        ends_at=T0 + H,
        status=MaintenanceStatus.SCHEDULED,
        source="cli",
    )
    assert plan([], [cli], T0 - timedelta(minutes=1)) == []
    assert plan([], [cli], T0) == [StartMaintenance(9, T0)]
    assert plan([], [cli], T0 + H) == [EndMaintenance(9, T0 + H)]  # never started: still ended
    cancelled = replace(cli, status=MaintenanceStatus.CANCELLED)
    assert plan([], [cancelled], T0) == []
    assert plan([], [cancelled], T0 + H) == []


def test_plan_is_ordered_by_start():
    late = Maintenance(
        id=1,
        title="late",
        message="",
        components=("a",),
        starts_at=T0 - H,
        ends_at=T0 + H,
        status=MaintenanceStatus.SCHEDULED,
        source="cli",
    )
    early = replace(late, id=2, starts_at=T0 - 3 * H, ends_at=T0 - H, source="cli-2")
    spec = one_off(start=T0 - 2 * H, end=T0 + H)
    changes = plan([spec], [late, early], T0)
    assert [type(c).__name__ for c in changes] == [
        "EndMaintenance",
        "ScheduleMaintenance",
        "StartMaintenance",
    ]


def test_active_components():
    m = Maintenance(
        id=1,
        title="t",
        message="",
        components=("api", "db"),
        starts_at=T0,
        ends_at=T0 + H,
        status=MaintenanceStatus.SCHEDULED,
        source="cli",
    )
    assert active_components([m], T0 - timedelta(seconds=1)) == set()
    assert active_components([m], T0) == {"api", "db"}
    assert active_components([replace(m, status=MaintenanceStatus.IN_PROGRESS)], T0) == {
        "api",
        "db",
    }
    assert active_components([replace(m, status=MaintenanceStatus.COMPLETED)], T0) == set()
    assert active_components([replace(m, status=MaintenanceStatus.CANCELLED)], T0) == set()
    assert active_components([m], T0 + H) == set()


def test_validate_cron():
    assert validate_cron("0 6 * * 0", "Europe/Berlin") is None
    error = validate_cron("61 * * * *", "UTC")
    assert error is not None
    assert "61 * * * *" in error
    assert validate_cron("* * *", "UTC") is not None
    assert validate_cron("0 6 * * 8", "UTC") is not None
    assert "time zone" in (validate_cron("0 6 * * 0", "Mars/Olympus") or "")


def test_cron_weekdays_count_from_sunday_like_crontab():
    def starts(cron: str) -> list[int]:
        spec = WindowSpec(
            id="w",
            title="t",
            message="",
            components=("api",),
            cron=cron,
            duration=H,
            notice=timedelta(days=7),
        )
        monday = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
        changes = plan([spec], [], monday)
        return [c.starts_at.isoweekday() for c in changes if isinstance(c, ScheduleMaintenance)]

    assert starts("0 3 * * 1-5") == [1, 2, 3, 4, 5]  # Monday to Friday
    assert starts("0 3 * * 0") == [7]  # Sunday
    assert starts("0 3 * * 7") == [7]
    assert starts("0 3 * * sat,sun") == [6, 7]


def test_editing_a_window_in_the_config_cancels_the_old_announcement_and_makes_a_new_one():
    now = T0 + 47 * H
    [first] = plan([one_off()], [], now)
    assert isinstance(first, ScheduleMaintenance)
    known = [stored(first, 1)]
    moved = one_off(start=T0 + 60 * H, end=T0 + 61 * H)
    later = T0 + 47 * H + timedelta(minutes=30)  # before the old window starts
    changes = plan([moved], known, later)
    assert [type(c).__name__ for c in changes] == ["CancelMaintenance", "ScheduleMaintenance"]
    assert changes[0] == CancelMaintenance(1, later)
    assert changes[1].starts_at == T0 + 60 * H  # type: ignore[union-attr]


def test_removing_a_window_from_the_config_cancels_it_unless_it_already_runs():
    [first] = plan([one_off()], [], T0 + 47 * H)
    known = [stored(first, 1)]
    assert plan([], known, T0 + 47 * H) == [CancelMaintenance(1, T0 + 47 * H)]
    running = [replace(known[0], status=MaintenanceStatus.IN_PROGRESS)]
    assert plan([], running, T0 + 49 * H) == []


def test_changing_a_recurring_window_cancels_its_announced_occurrences():
    weekly = one_off(start=None, end=None, cron="0 3 * * sun", duration=2 * H, notice=200 * H)
    changes = plan([weekly], [], T0)
    assert changes
    known = [stored(c, n) for n, c in enumerate(changes, 1)]  # type: ignore[arg-type]
    assert plan([weekly], known, T0) == []
    shorter = replace(weekly, duration=H)
    again = plan([shorter], known, T0)
    assert {type(c).__name__ for c in again} == {"CancelMaintenance", "ScheduleMaintenance"}
