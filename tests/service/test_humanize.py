"""Figures as the pages show them: relative hints, human units, quotas as sentences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub_ext.service import humanize

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def test_moments_carry_a_utc_text_and_a_relative_hint() -> None:
    ends = humanize.moment(NOW + timedelta(hours=6), NOW, "ends in")
    assert ends is not None and ends.relative == "ends in 6 h"
    assert ends.text == "27 Nov 2026, 20:00 UTC" and ends.iso == "2026-11-27T20:00:00Z"
    began = humanize.moment("2026-11-27T13:57:00.123456Z", NOW)
    assert began is not None and began.relative == "3 min ago" and "." not in began.text
    assert humanize.moment(NOW - timedelta(days=3), NOW, past="ended")
    assert humanize.moment(None, NOW) is None


def test_quantities_in_human_units_and_unknowns_say_why() -> None:
    assert humanize.device_hours(0.25) == "0.25 device-hours"
    assert humanize.device_hours(3.0) == "3 device-hours"
    assert humanize.device_hours(1234.4) == "1,234 device-hours"
    assert humanize.energy(0.35, "x") == "350 Wh" and humanize.energy(2.44, "x") == "2.4 kWh"
    assert humanize.percent(None, "not reported") == "not reported"
    assert humanize.count(None, "not waiting") == "not waiting"


def test_small_figures_of_a_server_that_just_ran_never_read_as_zero() -> None:
    """A server's first reports: a few seconds of device time, a fraction of a watt-hour."""
    assert humanize.device_hours(0.003) == "under 0.01 device-hours"
    assert humanize.device_hours(0.0056) == "0.01 device-hours"
    assert humanize.energy(0.00031, "x") == "0.3 Wh"
    assert humanize.energy(0.00002, "x") == "under 0.1 Wh"
    assert humanize.energy(0.004, "x") == "4 Wh" and humanize.energy(0.0123, "x") == "12 Wh"
    assert humanize.energy(0.0, "x") == "0 Wh"


def test_quotas_read_as_sentences() -> None:
    rows = humanize.quota_rows(
        {"a100": {"devices": 2, "per_user": 1}, "*": {"devices": None, "per_user": 1}},
        {"a100": "NVIDIA A100"},
    )
    assert rows == [
        ("NVIDIA A100", "2 devices for the group, at most 1 per member"),
        ("every other flavor", "no limit for the group, at most 1 per member"),
    ]
    assert humanize.quota_rows({"*": {"devices": 4, "per_user": 2}}, {}) == [
        ("every flavor", "4 devices for the group, at most 2 per member")
    ]
