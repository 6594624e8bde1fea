"""The pages' usage figures that need no store: the window asked for and the idle holders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub_ext.service.activity import ServerActivity
from hub_ext.service.records import LeaseRecord
from hub_ext.service.usage_series import idle_holders, window

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def lease(user: str, flavor: str, started_minutes_ago: int) -> LeaseRecord:
    started = NOW - timedelta(minutes=started_minutes_ago)
    return LeaseRecord(user, user, "", flavor, 1, None, None, started)


def test_window_is_one_of_the_offered_ones() -> None:
    assert window("30") == 30 and window(None) == 14
    assert window("1000") == 14 and window("x") == 14


def test_idle_holders_longest_first_counting_from_last_busy_or_the_grant() -> None:
    leases = [lease("busy", "t4", 120), lease("silent", "t4", 90), lease("idle", "a100", 60)]
    leases.append(lease("cpu", "cpu", 600))  # no accelerator: never listed
    leases.append(lease("working", "t4", 300))  # its latest report was busy: not idle now
    activity = {
        ("working", ""): ServerActivity(last_report=NOW, last_busy=NOW),
        ("busy", ""): ServerActivity(last_report=NOW, last_busy=NOW - timedelta(minutes=1)),
        ("idle", ""): ServerActivity(last_report=NOW, last_busy=None),
    }
    rows = idle_holders(leases, activity, NOW, {"t4", "a100"})
    assert [(r.user, round(r.idle_seconds / 60), r.reported) for r in rows] == [
        ("silent", 90, False),
        ("idle", 60, True),
        ("busy", 1, True),
    ]
    assert len(idle_holders(leases, activity, NOW, {"t4", "a100"}, top=1)) == 1
