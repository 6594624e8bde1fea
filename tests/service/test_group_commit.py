"""Group commit in the repository, on SQLite and PostgreSQL: concurrent changes share
transactions, each caller still gets its own result or error, a cancelled caller's change is
kept, and nothing acknowledged is lost when the process is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service.records import LeaseRecord, LineEntry
from hub_ext.service.store import Repository, make_engine

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def lease(lease_id: str, user: str, server: str = "") -> LeaseRecord:
    return LeaseRecord(lease_id, user, server, "a100", 1, "physics", None, NOW)


def report(user: str) -> dict[str, object]:
    return {"user": user, "server": "", "timestamp": NOW, "devices": 1, "busy": 1}


class Commits:
    """Counts the transactions committed on an engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "commit", self._commit)

    def _commit(self, _conn: Connection) -> None:
        self.count += 1


async def test_concurrent_changes_share_a_few_transactions(engine: AsyncEngine) -> None:
    store = Repository(engine)
    commits = Commits(engine)
    leases = [lease(f"{i:032x}", f"u{i}") for i in range(200)]
    await asyncio.gather(
        *(store.start_lease(x) for x in leases),
        *(store.add_activity(report(f"u{i}")) for i in range(200)),
    )
    assert commits.count <= 4, f"400 changes took {commits.count} transactions"
    for x in leases:
        x.namespace, x.pod, x.bound_at = "users", f"jupyter-{x.user}", NOW
    await asyncio.gather(*(store.bind_lease(x) for x in leases))
    assert commits.count <= 8
    stored = {x.id: x for x in await store.active_leases()}
    assert len(stored) == 200 and all(x.pod == f"jupyter-{x.user}" for x in stored.values())
    assert len(await store.last_busy()) == 200


async def test_each_caller_of_a_shared_batch_gets_its_own_result(engine: AsyncEngine) -> None:
    store = Repository(engine)
    held = [lease(f"a{i:031x}", f"held{i}") for i in range(5)]
    await asyncio.gather(*(store.start_lease(x) for x in held))
    entries = [LineEntry(f"q{i:031x}", f"held{i}", "", "a100", 1, NOW) for i in range(2)]
    await asyncio.gather(*(store.enqueue(e) for e in entries))
    fresh = [lease(f"b{i:031x}", f"new{i}") for i in range(40)]
    taken = [lease(f"c{i:031x}", f"held{i}") for i in range(5)]  # their servers hold one
    served = LineEntry(f"q{9:031x}", "new99", "", "a100", 1, NOW)
    await store.enqueue(served)
    results = await asyncio.gather(
        *(store.start_lease(x) for x in fresh),
        store.start_lease(taken[0], served=entries[0]),
        *(store.start_lease(x) for x in taken[1:]),
        store.start_lease(lease("d" * 32, "new99"), served=served),
        return_exceptions=True,
    )
    assert results[:40] == [None] * 40
    assert all(isinstance(r, IntegrityError) for r in results[40:45]), results[40:45]
    assert results[45] is None
    active = {x.id for x in await store.active_leases()}
    assert active == {x.id for x in held + fresh} | {"d" * 32}
    # The failed change left nothing behind: its entry is still in line; the served one left.
    assert [e.id for e in await store.waiting()] == [e.id for e in entries]


async def test_a_cancelled_callers_change_is_committed_before_the_next_of_its_rows(
    engine: AsyncEngine,
) -> None:
    store = Repository(engine)
    first = lease("1" * 32, "ada")
    asking = asyncio.create_task(store.start_lease(first))
    await asyncio.sleep(0)  # asked: the grant is in memory, so its row must follow
    asking.cancel()
    first.ended_at, first.end_reason = NOW, "released"
    await store.end_lease(first)  # waits for the start's commit, cancelled or not
    stored = await store.lease(first.id)
    assert stored is not None and stored.end_reason == "released"
    assert asking.cancelled()


def writer_child(url: str) -> subprocess.Popen[str]:
    """A process that starts leases, 50 at a time, and prints each one's id once committed."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.service.ack_writer", url],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )


def lines(proc: subprocess.Popen[str]) -> Iterator[str]:
    assert proc.stdout is not None
    yield from (line.strip() for line in proc.stdout)


async def test_nothing_acknowledged_is_lost_when_the_process_is_killed(
    engine: AsyncEngine, store_url: str
) -> None:
    child = writer_child(store_url)
    acked: list[str] = []
    try:
        for line in lines(child):
            acked.append(line)
            if len(acked) == 300:
                child.send_signal(signal.SIGKILL)  # mid-batch: more are being committed
                break
        acked += [line for line in lines(child) if line]  # acknowledged before it died
    finally:
        child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    reopened = make_engine(store_url)
    try:
        stored = {x.id for x in await Repository(reopened).active_leases()}
    finally:
        await reopened.dispose()
    assert len(acked) >= 300
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged leases were lost"
