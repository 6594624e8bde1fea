"""Offload jobs in SQL: each change one transaction, through the repository's write path."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from ..offload.record import JobRecord
from .commits import Write
from .models import JobRow
from .repository import Repository

INSERT_JOB = insert(JobRow)
UPDATE_JOB = update(JobRow).where(JobRow.id == bindparam("row_id"))

# Columns a job's progress through its life changes (the inputs never change).
_MUTABLE = (
    "state",
    "reason",
    "message",
    "started_at",
    "ended_at",
    "exit",
    "energy_wh",
)


def job_from_row(row: JobRow) -> JobRecord:
    return JobRecord(
        id=row.id,
        user=row.user,
        group=row.group,
        name=row.name,
        site=row.site,
        site_reason=row.site_reason or "",
        flavor=row.flavor,
        count=row.count,
        cell_id=row.cell_id,
        setup=row.setup,
        parameters=json.loads(row.parameters),
        resources=json.loads(row.resources),
        image=row.image,
        input_sha256=row.input_sha256,
        namespace=row.namespace,
        pod=row.pod,
        submitted_at=row.submitted_at,
        state=row.state,
        reason=row.reason,
        message=row.message,
        started_at=row.started_at,
        ended_at=row.ended_at,
        exit=row.exit,
        progress=(row.progress_cell, row.progress_of)
        if row.progress_cell is not None and row.progress_of is not None
        else None,
        energy_wh=row.energy_wh,
        has_result=row.result is not None,
    )


def _values(job: JobRecord) -> dict[str, Any]:
    values = {name: getattr(job, name) for name in _MUTABLE}
    values["progress_cell"], values["progress_of"] = job.progress or (None, None)
    return values


class JobStore:
    """Reads and changes of offload jobs (one transaction per change, in order per job)."""

    def __init__(self, repository: Repository) -> None:
        self.repo = repository

    async def add(self, job: JobRecord, notebook: dict[str, Any]) -> None:
        values = {
            **_values(job),
            "id": job.id,
            "user": job.user,
            "group": job.group,
            "name": job.name,
            "site": job.site,
            "site_reason": job.site_reason,
            "flavor": job.flavor,
            "count": job.count,
            "cell_id": job.cell_id,
            "setup": job.setup,
            "parameters": json.dumps(job.parameters),
            "resources": json.dumps(job.resources),
            "image": job.image,
            "input_sha256": job.input_sha256,
            "notebook": json.dumps(notebook),
            "namespace": job.namespace,
            "pod": job.pod,
            "submitted_at": job.submitted_at,
        }
        await self.repo.write([f"job:{job.id}"], Write(INSERT_JOB, values))

    async def save(
        self, job: JobRecord, result: dict[str, Any] | None = None, logs: str | None = None
    ) -> None:
        """Store a job's state (and, once it ends, its executed notebook and logs)."""
        values = _values(job)
        if result is not None:
            values["result"] = json.dumps(result)
        if logs is not None:
            values["logs"] = logs
        await self.repo.write([f"job:{job.id}"], Write(UPDATE_JOB, {**values, "row_id": job.id}))

    async def get(self, job_id: str) -> JobRecord | None:
        async with self.repo._reads() as session:
            row = await session.get(JobRow, job_id)
            return job_from_row(row) if row is not None else None

    async def open_jobs(self) -> list[JobRecord]:
        query = select(JobRow).where(JobRow.ended_at.is_(None))
        async with self.repo._reads() as session:
            return [job_from_row(row) for row in await session.scalars(query)]

    async def recent(self, user: str | None = None, limit: int = 200) -> list[JobRecord]:
        """Jobs, newest first, of one user or everyone."""
        query = select(JobRow).order_by(JobRow.submitted_at.desc()).limit(limit)
        if user is not None:
            query = query.where(JobRow.user == user)
        async with self.repo._reads() as session:
            return [job_from_row(row) for row in await session.scalars(query)]

    async def group_since(self, group: str, since: datetime) -> list[JobRecord]:
        """A group's jobs submitted since a time (for its device-hours)."""
        query = select(JobRow).where(JobRow.group == group, JobRow.submitted_at >= since)
        async with self.repo._reads() as session:
            return [job_from_row(row) for row in await session.scalars(query)]

    async def logs(self, job_id: str) -> str | None:
        async with self.repo._reads() as session:
            return await session.scalar(select(JobRow.logs).where(JobRow.id == job_id))

    async def notebook(self, job_id: str, column: str) -> dict[str, Any] | None:
        """The submitted ('notebook') or executed ('result') notebook of a job."""
        query = select(getattr(JobRow, column)).where(JobRow.id == job_id)
        async with self.repo._reads() as session:
            text = await session.scalar(query)
        return json.loads(text) if text else None
