"""The group-commit writer: batching, failure isolation, ordering, a free event loop while the
database is busy, and background WAL checkpoints on SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service import statements as st
from hub_ext.service.db import StoreURLError, make_engine, migrate
from hub_ext.service.models import ActivityRow, LeaseRow
from hub_ext.service.writer import Op, Writer
from tests.service.postgres import PostgresServer

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def activity(user: str) -> Op:
    values = {"user": user, "server": "", "timestamp": NOW, "devices": 1, "busy": 1}
    return Op(st.INSERT_ACTIVITY, values)


def lease(lease_id: str, user: str) -> Op:
    values: dict[str, Any] = {
        "id": lease_id,
        "user": user,
        "server": "",
        "flavor": "a100",
        "count": 1,
        "group": None,
        "reservation_id": None,
        "active_key": f"{user}/",
        "started_at": NOW,
    }
    return Op(st.INSERT_LEASE, values, (f"lease:{lease_id}", f"key:{user}/"))


def end(lease_id: str, user: str) -> Op:
    params = {"id": lease_id, "ended_at": NOW, "end_reason": "released", "end_message": None}
    return Op(st.END_LEASE, params, (f"lease:{lease_id}", f"key:{user}/"))


async def count(engine: AsyncEngine, column: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count(column)))).scalar_one())


async def test_concurrent_writes_share_transactions_and_all_land(engine: AsyncEngine) -> None:
    writer = Writer(engine)
    writer.start()
    try:
        await asyncio.gather(*(writer.write([activity(f"u{i}")]) for i in range(300)))
    finally:
        await writer.stop()
    assert await count(engine, ActivityRow.id) == 300
    assert 1 <= writer.batches < 300 / 5


async def test_a_failing_write_fails_only_its_caller(engine: AsyncEngine) -> None:
    writer = Writer(engine)
    writer.start()
    try:
        await writer.write([lease("a" * 32, "ada")])
        results = await asyncio.gather(
            writer.write([lease("b" * 32, "bob")]),
            writer.write([lease("c" * 32, "ada")]),  # ada's server already holds a lease
            writer.write([activity("cy")]),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], IntegrityError)
    assert await count(engine, LeaseRow.id) == 2
    assert await count(engine, ActivityRow.id) == 1


async def test_writes_to_one_row_apply_in_order_within_a_batch(engine: AsyncEngine) -> None:
    writer = Writer(engine)
    writer.start()
    try:
        # Start, end, and start again the same server's lease in one batch: the second start
        # only fits after the end has cleared the first lease's active key.
        await asyncio.gather(
            writer.write([lease("1" * 32, "ada")]),
            writer.write([end("1" * 32, "ada")]),
            writer.write([lease("2" * 32, "ada")]),
        )
    finally:
        await writer.stop()
    async with engine.connect() as conn:
        rows = (await conn.execute(select(LeaseRow.id, LeaseRow.ended_at))).all()
    assert {(row_id[0], ended is None) for row_id, ended in rows} == {("1", False), ("2", True)}
    assert writer.batches == 1


async def test_a_locked_database_does_not_stall_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    await migrate(engine)
    writer = Writer(engine)
    writer.start()
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        write = asyncio.create_task(writer.write([activity("ada")]))
        await asyncio.sleep(0.5)
        assert not write.done()  # waiting for the lock ...
        blocker.execute("COMMIT")
        await asyncio.wait_for(write, 10)  # ... and committed once it is free
    finally:
        ticker.cancel()
        blocker.close()
        await writer.stop()
        await engine.dispose()
    assert activity_rows(path) == 1
    assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.3f} s"


def wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def activity_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM activity").fetchone()[0])


async def wal_size_after_batches(
    path: Path, pause: float, idle: float = 3600, longest: float = 3600
) -> tuple[int, int, int]:
    """WAL bytes after 40 batches (`pause` seconds apart) and after stopping; checkpoints."""
    engine = make_engine(f"sqlite:///{path}")
    await migrate(engine)
    writer = Writer(engine, checkpoint_idle_seconds=idle, checkpoint_max_seconds=longest)
    writer.start()
    try:
        for batch in range(40):
            await asyncio.gather(*(writer.write([activity(f"u{batch}-{i}")]) for i in range(50)))
            await asyncio.sleep(pause)
        running = wal_bytes(path)
        checkpoints = writer.checkpoints
    finally:
        await writer.stop()
    stopped = wal_bytes(path)
    await engine.dispose()
    return running, stopped, checkpoints


async def test_sqlite_wal_is_checkpointed_when_writes_pause(tmp_path: Path) -> None:
    # The writer's connection never checkpoints on commit; without the background checkpoint
    # the WAL grows with every batch, with it the WAL is reused.
    unchecked, _, none = await wal_size_after_batches(tmp_path / "a.sqlite", pause=0.02)
    checked, stopped, some = await wal_size_after_batches(
        tmp_path / "b.sqlite", pause=0.02, idle=0.01
    )
    assert none == 0 and some > 0
    assert checked < unchecked / 3, (checked, unchecked)
    assert stopped == 0  # the final checkpoint truncates the WAL


async def test_sqlite_wal_is_checkpointed_under_unbroken_writes(tmp_path: Path) -> None:
    # Writes never pause for the idle threshold, so only the longest-interval rule checkpoints.
    unchecked, _, _ = await wal_size_after_batches(tmp_path / "a.sqlite", pause=0)
    checked, _, some = await wal_size_after_batches(tmp_path / "b.sqlite", pause=0, longest=0.01)
    assert some > 0
    assert checked < unchecked / 2, (checked, unchecked)


async def test_a_write_after_stop_commits_directly(tmp_path: Path) -> None:
    # Stopping the writer does not strand later writes: they commit on their own.
    engine = make_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    await migrate(engine)
    writer = Writer(engine)
    writer.start()
    await writer.stop()
    await writer.write([activity("ada")])
    await engine.dispose()
    assert activity_rows(tmp_path / "s.sqlite") == 1


def test_an_in_memory_sqlite_store_is_refused() -> None:
    with pytest.raises(StoreURLError, match="outlive the service"):
        make_engine("sqlite://")


@pytest.mark.postgres
async def test_the_writer_reconnects_after_postgres_drops_its_connection(
    postgres: PostgresServer,
) -> None:
    engine = make_engine(postgres.url(postgres.create_database()))
    await migrate(engine)
    writer = Writer(engine)
    writer.start()
    try:
        await writer.write([activity("ada")])
        async with engine.begin() as conn:  # as a server restart or an idle timeout would
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        with pytest.raises(OperationalError):
            await writer.write([activity("bob")])  # the batch in flight fails, with a reason
        await writer.write([activity("cy")])  # the next one gets a fresh connection
    finally:
        await writer.stop()
    assert await count(engine, ActivityRow.id) == 2
    await engine.dispose()
