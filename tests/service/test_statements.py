"""Batched statements: rows written as one multi-row statement read back exactly as the ORM
writes them, big batches split below the variable limit, the last update of a row wins, and
left-out columns get their defaults; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service import statements as st
from hub_ext.service.models import LeaseRow, ReservationRow
from hub_ext.service.writer import Op, Writer

CEST = timezone(timedelta(hours=2))
START = datetime(2026, 7, 1, 11, 30, 15, 123456, tzinfo=CEST)


def lease_values(index: int) -> dict[str, Any]:
    return {
        "id": f"{index:032x}",
        "user": f"user{index}",
        "server": "" if index % 2 else f"srv-{index}",
        "flavor": "a100-1g.5gb",
        "count": index % 3 + 1,
        "group": None if index % 4 else "cms",
        "reservation_id": None,
        "active_key": f"user{index}/",
        "started_at": START.replace(microsecond=index % 2) + timedelta(seconds=index),
        "expires_at": None if index % 5 else START + timedelta(hours=8),
        "end_message": 'l\'été "🎉"' if index == 7 else None,
    }


async def write_all(engine: AsyncEngine, ops: list[Op]) -> Writer:
    """Hand every op to a started writer at once, so that they share batches."""
    writer = Writer(engine)
    writer.start()
    try:
        await asyncio.gather(*(writer.write([op]) for op in ops))
    finally:
        await writer.stop()
    return writer


async def rows(engine: AsyncEngine, table: Any) -> dict[str, dict[str, Any]]:
    async with engine.connect() as conn:
        found = (await conn.execute(select(table))).mappings().all()
    return {row["id"]: dict(row) for row in found}


async def test_batched_rows_read_back_as_the_orm_writes_them(engine: AsyncEngine) -> None:
    batched = [lease_values(i) for i in range(1, 41)]
    await write_all(engine, [Op(st.INSERT_LEASE, values) for values in batched])
    by_orm = [lease_values(i) | {"id": f"o{i:031x}", "active_key": f"orm{i}/"} for i in range(41)]
    async with engine.begin() as conn:
        await conn.execute(insert(LeaseRow), by_orm)
    stored = await rows(engine, LeaseRow)
    for values in batched:
        mine, theirs = stored[values["id"]], stored["o" + values["id"][1:]]
        differ = {"id", "active_key"}
        assert {k: v for k, v in mine.items() if k not in differ} == {
            k: v for k, v in theirs.items() if k not in differ
        }
        # Aware datetimes in any zone come back as the same instant, in UTC.
        assert mine["started_at"] == values["started_at"]
        assert mine["started_at"].tzinfo == UTC
    assert stored[f"{7:032x}"]["end_message"] == 'l\'été "🎉"'
    # Byte for byte: SQLite compares stored datetimes as text.
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT id, started_at FROM leases"))
        raw = {row_id: started for row_id, started in result}
    for values in batched:
        assert raw[values["id"]] == raw["o" + values["id"][1:]]


async def test_a_batch_beyond_the_variable_limit_is_split_and_lands_whole(
    engine: AsyncEngine,
) -> None:
    values = [lease_values(i) for i in range(1, 301)]
    rendered = list(st.INSERT_LEASE.render(engine.dialect, values))
    assert len(rendered) > 1
    assert all(len(params) <= st.MAX_VARIABLES for _, params in rendered)
    writer = Writer(engine)
    writer.start()
    try:
        await writer.write([Op(st.INSERT_LEASE, v, (f"lease:{v['id']}",)) for v in values])
    finally:
        await writer.stop()
    assert writer.batches == 1
    assert set(await rows(engine, LeaseRow)) == {v["id"] for v in values}


async def test_the_last_update_of_a_row_in_a_batch_wins(engine: AsyncEngine) -> None:
    await write_all(engine, [Op(st.INSERT_LEASE, lease_values(i)) for i in (1, 2)])
    now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)

    def bind(index: int, pod: str) -> Op:
        values = {"id": f"{index:032x}", "namespace": "users", "pod": pod}
        return Op(st.BIND_LEASE, values | {"bound_at": now, "expires_at": None})

    batch = [bind(1, "first"), bind(2, "other"), bind(1, "second")]
    # A set-based UPDATE naming a row twice may apply either change: the statement carries
    # only the last one.
    [(_, params)] = st.BIND_LEASE.render(engine.dialect, [op.params for op in batch])
    assert len(params) == 2 * len(st.BIND_LEASE.params)
    assert "second" in params and "first" not in params
    writer = await write_all(engine, batch)
    assert writer.batches == 1
    stored = await rows(engine, LeaseRow)
    assert stored[f"{1:032x}"]["pod"] == "second"
    assert stored[f"{2:032x}"]["pod"] == "other"
    assert stored[f"{2:032x}"]["bound_at"] == now


async def test_ending_a_lease_clears_its_active_key(engine: AsyncEngine) -> None:
    await write_all(engine, [Op(st.INSERT_LEASE, lease_values(i)) for i in (1, 2, 3)])
    ended = datetime(2026, 7, 1, 13, 0, tzinfo=UTC)
    ends = [
        Op(st.END_LEASE, {"id": f"{i:032x}", "ended_at": ended, "end_reason": "released"})
        for i in (1, 3)
    ]
    await write_all(engine, ends)
    stored = await rows(engine, LeaseRow)
    assert [stored[f"{i:032x}"]["active_key"] for i in (1, 2, 3)] == [None, "user2/", None]
    assert stored[f"{1:032x}"]["ended_at"] == ended
    assert stored[f"{1:032x}"]["end_message"] is None
    assert stored[f"{2:032x}"]["ended_at"] is None


async def test_left_out_columns_get_their_defaults(engine: AsyncEngine) -> None:
    start = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    values = {
        "id": "r" * 32,
        "name": "Hackathon",
        "group": "hack",
        "flavor": "t4",
        "count": 4,
        "start": start,
        "end": start + timedelta(hours=8),
        "created_by": "org",
        "created_at": start,
    }  # per_member (default False) and deleted_at (NULL) left out
    await write_all(engine, [Op(st.INSERT_RESERVATION, values)])
    stored = (await rows(engine, ReservationRow))["r" * 32]
    assert stored["per_member"] is False
    assert stored["deleted_at"] is None
    assert stored["end"] == start + timedelta(hours=8)
