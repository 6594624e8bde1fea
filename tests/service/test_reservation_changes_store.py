"""The record of reservation changes (SQLite and PostgreSQL): the core records each creation,
change and cancel with who, when and from what to what, in the reservation's own transaction;
a refused change records nothing; reads filter by group."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service.reservation_rules import ReservationError
from hub_ext.service.store.reservation_changes import ReservationChange, ReservationChanges
from tests.service.helpers import Clock, FixedCapacity, make_core

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
GROUPS = {"hack": ["h1", "h2", "h3"], "bio": ["dee"]}


async def test_create_change_and_cancel_are_recorded_newest_first(engine: AsyncEngine) -> None:
    clock = Clock(T0)
    core = make_core(engine, GROUPS, capacity=FixedCapacity(a100=4), clock=clock)
    await core.load()
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    res = await core.create_reservation("Lab", "hack", "a100", 2, False, start, end, "org")
    clock.now = T0 + timedelta(minutes=5)
    later = start + timedelta(minutes=30)
    await core.update_reservation(res.id, name="Lab day", start=later, per_member=True, by="boss")
    other = await core.create_reservation("Bio", "bio", "a100", 1, False, start, end, "org2")
    clock.now = T0 + timedelta(minutes=10)
    await core.delete_reservation(res.id, by="org")
    with pytest.raises(ReservationError):  # refused: nothing is recorded
        await core.update_reservation(other.id, end=T0 - timedelta(hours=1), by="org2")

    changes = ReservationChanges(core.store)
    hack = await changes.recent({"hack"})
    assert [(c.action, c.changed_by, c.changed_at) for c in hack] == [
        ("cancelled", "org", T0 + timedelta(minutes=10)),
        ("changed", "boss", T0 + timedelta(minutes=5)),
        ("created", "org", res.created_at),
    ]
    cancelled, changed, created = hack
    assert created.before is None and created.after is not None
    assert created.after["end"] == "2026-03-01T12:00:00Z" and created.after["count"] == 2
    assert changed.differences() == [
        ("name", "Lab", "Lab day"),
        ("start", "2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z"),
        ("size", "2 devices", "one device per member"),
    ]
    assert cancelled.after is None and cancelled.name == "Lab day"
    assert {c.reservation_id for c in hack} == {res.id}
    assert [c.group for c in await changes.recent({"bio"})] == ["bio"]
    assert await changes.recent(set()) == []
    assert len(await changes.recent()) == 4 and len(await changes.recent(limit=2)) == 2
    await core.store.close()


async def test_a_reservation_write_that_fails_records_no_change(engine: AsyncEngine) -> None:
    clock = Clock(T0)
    core = make_core(engine, GROUPS, capacity=FixedCapacity(a100=4), clock=clock)
    await core.load()
    res = await core.create_reservation(
        "Lab", "hack", "a100", 1, False, T0, T0 + timedelta(hours=1), "org"
    )
    again = replace(res, name="Twice")  # the same id: its insert fails
    record = ReservationChange.of("mallory", T0, None, again)
    with pytest.raises(IntegrityError):
        await core.store.add_reservation(again, record.write())
    changes = await ReservationChanges(core.store).recent()
    assert [(c.action, c.changed_by) for c in changes] == [("created", "org")]
    await core.store.close()
