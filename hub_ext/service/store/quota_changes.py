"""Changes of group quotas and flavor access in SQL: each recorded in one transaction,
through the repository."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from .commits import Write
from .json_text import table_of, text_of
from .models import QuotaChangeRow
from .repository import Repository

INSERT_CHANGE = insert(QuotaChangeRow)


@dataclass(frozen=True)
class QuotaChange:
    """Who changed a group's quota table or flavor access table (``subject``: "quotas" or
    "flavors"), when, from what to what (None: the config file's quotas, the catalog's groups)."""

    group: str
    changed_by: str
    changed_at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    subject: str = "quotas"


class QuotaChanges:
    """The record of quota changes (appended to, never changed)."""

    def __init__(self, repository: Repository) -> None:
        self.repo = repository

    async def record(self, change: QuotaChange) -> None:
        values = {
            "group": change.group,
            "changed_by": change.changed_by,
            "changed_at": change.changed_at,
            "before": text_of(change.before),
            "after": text_of(change.after),
            "subject": change.subject,
        }
        await self.repo.write([f"quotas:{change.group}"], Write(INSERT_CHANGE, values))

    async def recent(self, limit: int = 50) -> list[QuotaChange]:
        """The latest changes, newest first."""
        query = (
            select(QuotaChangeRow)
            .order_by(QuotaChangeRow.changed_at.desc(), QuotaChangeRow.id.desc())
            .limit(limit)
        )
        async with self.repo._reads() as session:
            return [
                QuotaChange(
                    group=row.group,
                    changed_by=row.changed_by,
                    changed_at=row.changed_at,
                    before=table_of(row.before),
                    after=table_of(row.after),
                    subject=row.subject,
                )
                for row in await session.scalars(query)
            ]
