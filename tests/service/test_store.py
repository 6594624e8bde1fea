"""The store on SQLite and PostgreSQL: migrations match the models; accounting sums
device-hours and utilisation for any period, as JSON rows and CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service.accounting import usage, usage_csv
from hub_ext.service.activity import ActivityTracker
from hub_ext.service.store import Repository, make_engine, migrate
from hub_ext.service.store.engine import alembic_config
from hub_ext.service.store.models import metadata
from tests.service.helpers import Clock, make_core

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_upgrading_a_first_release_store_keeps_leases_and_the_one_lease_rule(
    store_url: str,
) -> None:
    engine = make_engine(store_url)
    lease = (
        'INSERT INTO leases (id, "user", server, flavor, count, active_key, started_at) '
        "VALUES (:id, 'ada', '', 'a100', 1, :key, '2026-03-02 08:00:00')"
    )
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0001"))
            await conn.execute(text(lease), {"id": "a" * 32, "key": "ada/"})
            await conn.execute(text(lease), {"id": "b" * 32, "key": None})  # an ended one
        await migrate(engine)
        async with engine.connect() as conn:
            ids = (await conn.execute(text("SELECT id FROM leases ORDER BY id"))).scalars()
            assert list(ids) == ["a" * 32, "b" * 32]
            assert (
                await conn.run_sync(
                    lambda c: list(compare_metadata(MigrationContext.configure(c), metadata))
                )
                == []
            )
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text(lease), {"id": "c" * 32, "key": "ada/"})
        async with engine.begin() as conn:  # ended leases never clash
            await conn.execute(text(lease), {"id": "d" * 32, "key": None})
    finally:
        await engine.dispose()


async def test_usage_by_user_group_flavor_with_utilisation(engine: AsyncEngine) -> None:
    clock = Clock(T0)
    core = make_core(
        engine,
        {"physics": ["ada", "bob"]},
        {"physics": {"*": {"devices": 10, "per_user": 2}}},
        clock=clock,
    )
    await core.load()
    ada = await core.admit("ada", "", "a100", 2)
    bob = await core.admit("bob", "", "a100", 1)
    tracker = ActivityTracker(Repository(engine))
    for minute in range(0, 60, 10):
        await tracker.report(
            "ada",
            "",
            T0 + timedelta(minutes=minute),
            [
                {"busy": True, "utilization_avg": 80.0, "memory_used_bytes": 1, "energy_wh": 25},
                {"busy": False, "utilization_avg": 20.0, "memory_used_bytes": 1, "energy_wh": 15},
            ],
        )
    clock.now = T0 + timedelta(hours=1)
    await core.release(ada.lease.id)  # type: ignore[union-attr]
    clock.now = T0 + timedelta(hours=3)
    await core.release(bob.lease.id)  # type: ignore[union-attr]
    now = T0 + timedelta(hours=5)
    by_user = await usage(core.store, T0, now, "user", now)
    assert [(r["user"], r["device_hours"]) for r in by_user] == [("ada", 2.0), ("bob", 3.0)]
    assert by_user[0]["gpu_utilization_avg"] == 50.0
    assert by_user[0]["busy_device_hours"] == 1.0
    assert by_user[1]["gpu_utilization_avg"] is None
    assert by_user[0]["energy_kwh"] == 0.24  # six reports of 25 + 15 Wh
    assert by_user[1]["energy_kwh"] is None  # bob's server reported nothing
    by_group = await usage(core.store, T0, now, "group", now)
    assert by_group == [
        {
            "group": "physics",
            "device_hours": 5.0,
            "leases": 2,
            "busy_device_hours": 1.0,
            "gpu_utilization_avg": 50.0,
            "energy_kwh": 0.24,
        }
    ]
    window = await usage(core.store, T0 + timedelta(hours=2), now, "flavor", now)
    assert window[0]["device_hours"] == 1.0  # only bob's last hour falls in the window
    csv = usage_csv(by_user, "user")
    header = "user,device_hours,leases,busy_device_hours,gpu_utilization_avg,energy_kwh"
    assert csv.splitlines()[0] == header
    assert csv.splitlines()[1] == "ada,2.0,1,1.0,50.0,0.24"
    assert csv.splitlines()[2] == "bob,3.0,1,,,"
