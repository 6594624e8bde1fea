"""Group offload quotas against the store (SQLite and PostgreSQL): concurrent jobs and
device-hours over the period, charged to the first group with room."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service.directory import GroupInfo, StaticDirectory
from hub_ext.service.offload.gateway import GatewayError, OffloadGateway
from hub_ext.service.offload.record import JobRecord
from hub_ext.service.policy import QuotaPolicy
from hub_ext.service.store import Repository
from hub_ext.service.store.jobs import JobStore
from hub_ext.service.timeutil import utcnow


def record(job_id: str, group: str, hours: float, open_: bool = False) -> JobRecord:
    now = utcnow()
    return JobRecord(
        id=job_id,
        user="ada",
        group=group,
        name="a.ipynb",
        site="vk",
        site_reason="",
        flavor="a100",
        count=2,
        cell_id=None,
        setup="tagged",
        parameters={},
        resources={},
        image="img",
        input_sha256="0" * 64,
        namespace="accelhub",
        pod=f"p-{job_id}",
        submitted_at=now - timedelta(hours=hours + 1),
        state="running" if open_ else "succeeded",
        started_at=now - timedelta(hours=hours),
        ended_at=None if open_ else now,
    )


async def gateway(engine: AsyncEngine, **policy: Any) -> OffloadGateway:
    directory = StaticDirectory(
        {
            "bio": GroupInfo("bio", ["ada"], {}),
            "physics": GroupInfo(
                "physics", ["ada"], {"accelhub": {"offload": {"jobs": 5, "device_hours": 100}}}
            ),
        }
    )
    return OffloadGateway(
        {}, QuotaPolicy(**policy), directory, JobStore(Repository(engine)), cluster=None
    )


async def test_device_hours_are_counted_per_group_over_the_period(engine: AsyncEngine) -> None:
    gw = await gateway(engine, offload_quotas={"bio": {"jobs": 1, "device_hours": 10}})
    store = gw.store
    job = record("a" * 32, "bio", hours=4.0)  # 2 devices x 4 h = 8 device-hours
    await store.add(job, {"cells": []})
    await store.save(job)
    assert await gw._book("ada", ["bio"], 1) == "bio"  # 8 < 10
    more = record("b" * 32, "bio", hours=1.5)  # +3: 11 >= 10
    await store.add(more, {"cells": []})
    await store.save(more)
    # bio is full; physics (its group property) has room and takes the job.
    assert await gw._book("ada", ["bio", "physics"], 1) == "physics"
    with pytest.raises(GatewayError) as refused:
        await gw._book("ada", ["bio"], 1)
    assert refused.value.status == 403
    assert refused.value.message == (
        "Over the offload quota: the group bio has used 11.0 of its 10 offload device-hours "
        "in the last 30 days."
    )
    assert await gw._book("ada", ["bio"], 0) == "bio"  # a job without devices uses none


async def test_concurrent_jobs_are_counted_from_the_open_jobs(engine: AsyncEngine) -> None:
    gw = await gateway(engine, offload_quotas={"bio": {"jobs": 1}})
    running = record("c" * 32, "bio", hours=0.1, open_=True)
    gw.jobs[running.id] = running
    with pytest.raises(GatewayError) as refused:
        await gw._book("ada", ["bio"], 1)
    assert "the group bio already has 1 offload jobs pending or running" in refused.value.message
    # Users in no group with an offload quota: the default, per user.
    gw2 = await gateway(engine, default_offload_quota={"jobs": 1})
    loner = record("d" * 32, "", hours=0.1, open_=True)
    loner.group = None
    gw2.jobs[loner.id] = loner
    with pytest.raises(GatewayError) as alone:
        await gw2._book("ada", [], 1)
    assert "you already have 1 offload jobs pending or running" in alone.value.message
