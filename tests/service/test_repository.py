"""The repository: one transaction per change, a failed change leaves nothing behind, writers
wait for a locked SQLite without stalling the event loop, and PostgreSQL connections that the
server dropped are replaced."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service.records import LeaseRecord, LineEntry
from hub_ext.service.store import Repository, StoreURLError, make_engine, migrate
from tests.service.postgres import PostgresServer

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def lease(lease_id: str, user: str, server: str = "") -> LeaseRecord:
    return LeaseRecord(lease_id, user, server, "a100", 1, "physics", None, NOW)


def report(user: str) -> dict[str, object]:
    return {"user": user, "server": "", "timestamp": NOW, "devices": 1, "busy": 1}


async def test_concurrent_changes_all_land(engine: AsyncEngine) -> None:
    store = Repository(engine)
    await asyncio.gather(
        *(store.start_lease(lease(f"{i:032x}", f"u{i}")) for i in range(100)),
        *(store.add_activity(report(f"u{i}")) for i in range(100)),
    )
    assert len(await store.active_leases()) == 100
    assert len(await store.last_busy()) == 100


async def test_a_failed_change_is_rolled_back_whole_and_fails_only_its_caller(
    engine: AsyncEngine,
) -> None:
    store = Repository(engine)
    entry = LineEntry("q" * 32, "ada", "", "a100", 1, NOW)
    await store.enqueue(entry)
    await store.start_lease(lease("a" * 32, "ada"))
    results = await asyncio.gather(
        store.start_lease(lease("b" * 32, "bob")),
        store.start_lease(lease("c" * 32, "ada"), served=entry),  # ada's server holds one
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], IntegrityError)
    assert {x.id for x in await store.active_leases()} == {"a" * 32, "b" * 32}
    assert [e.id for e in await store.waiting()] == [entry.id]  # the entry did not leave


async def test_an_ended_lease_frees_its_server_and_can_be_adopted_again(
    engine: AsyncEngine,
) -> None:
    store = Repository(engine)
    first = lease("1" * 32, "ada")
    await store.start_lease(first)
    first.ended_at, first.end_reason = NOW, "released"
    await store.end_lease(first)
    second = lease("2" * 32, "ada")
    await store.start_lease(second)  # the active key was cleared
    ended = await store.lease(first.id)
    assert ended is not None and ended.end_reason == "released"
    second.ended_at, second.end_reason = NOW, "released"
    await store.end_lease(second)
    await store.adopt_lease(first)  # a running pod still holds it: active again
    assert [x.id for x in await store.active_leases()] == [first.id]


async def test_a_locked_sqlite_store_does_not_stall_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    await migrate(engine)
    store = Repository(engine)
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
        write = asyncio.create_task(store.add_activity(report("ada")))
        await asyncio.sleep(0.5)
        assert not write.done()  # waiting for the lock ...
        assert await store.active_leases() == []  # ... while reads go on
        blocker.execute("COMMIT")
        await asyncio.wait_for(write, 10)  # ... and committed once it is free
    finally:
        ticker.cancel()
        blocker.close()
    assert len(await store.last_busy()) == 1
    await engine.dispose()
    assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.3f} s"


def test_an_in_memory_sqlite_store_is_refused() -> None:
    with pytest.raises(StoreURLError, match="outlive the service"):
        make_engine("sqlite://")


@pytest.mark.postgres
async def test_changes_go_on_after_postgres_drops_the_connections(
    postgres: PostgresServer,
) -> None:
    engine = make_engine(postgres.url(postgres.create_database()))
    await migrate(engine)
    store = Repository(engine)
    try:
        await store.add_activity(report("ada"))
        async with engine.begin() as conn:  # as a server restart or an idle timeout would
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        await store.add_activity(report("bob"))  # a fresh connection, checked before use
        assert {user for user, _, _ in await store.last_busy()} == {"ada", "bob"}
    finally:
        await engine.dispose()


async def test_changes_of_one_row_commit_in_the_order_asked(engine: AsyncEngine) -> None:
    # Asked at once, as a release can come while the grant is still committing: the end waits
    # for the start, and the server's next lease waits for the end (one active lease each).
    store = Repository(engine)
    first, second = lease("1" * 32, "ada"), lease("2" * 32, "ada")
    first.ended_at, first.end_reason = NOW, "released"
    await asyncio.gather(
        store.start_lease(first), store.end_lease(first), store.start_lease(second)
    )
    assert [x.id for x in await store.active_leases()] == [second.id]
    ended = await store.lease(first.id)
    assert ended is not None and ended.end_reason == "released"
