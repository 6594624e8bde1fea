"""The record of quota changes in the store (SQLite and PostgreSQL), through the repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service.store import Repository
from hub_ext.service.store.quota_changes import QuotaChange, QuotaChanges


async def test_changes_come_back_newest_first_with_both_tables(engine: AsyncEngine) -> None:
    repo = Repository(engine)
    changes = QuotaChanges(repo)
    then = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    first = QuotaChange("bio", "boss", then, None, {"a100": {"devices": 1, "per_user": None}})
    second = QuotaChange("bio", "root", then + timedelta(minutes=5), first.after, None)
    third = QuotaChange("bio", "boss", second.changed_at, None, {"a100": "open"}, "flavors")
    await changes.record(first)
    await changes.record(second)
    await changes.record(third)
    assert await changes.recent() == [third, second, first]
    assert await changes.recent(limit=1) == [third]
    assert first.subject == "quotas"
    await repo.close()
