"""Property: any mix of concurrent admissions and releases never exceeds a quota, cap,
reservation or capacity, on SQLite and on PostgreSQL (checked in memory and in the store)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub_ext.service.ledger import Grant
from hub_ext.service.store import Repository, make_engine, migrate
from tests.service.helpers import FixedCapacity, make_core

USERS = [f"u{i}" for i in range(24)]
GROUPS = {"g0": USERS[:8], "g1": USERS[6:16], "hack": USERS[14:22]}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes a new empty store per hypothesis example."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path / (uuid.uuid4().hex + '.db')}"
    server = request.getfixturevalue("postgres")
    return lambda: server.url(server.create_database())


scenario = st.fixed_dictionaries(
    {
        "g0": st.integers(0, 6),
        "g1": st.integers(0, 6),
        "cap": st.integers(1, 3),
        "total": st.integers(2, 14),
        "reserved": st.integers(0, 6),
        "requests": st.lists(
            st.tuples(
                st.sampled_from(USERS),
                st.sampled_from(["", "a", "b", "c"]),
                st.integers(1, 2),
                st.booleans(),
            ),
            min_size=20,
            max_size=160,
        ),
    }
)


async def run_scenario(url: str, case: dict) -> None:
    engine = make_engine(url, pool_size=20)
    await migrate(engine)
    now = datetime.now(UTC)
    quotas = {
        "g0": {"a100": {"devices": case["g0"], "per_user": case["cap"]}},
        "g1": {"a100": {"devices": case["g1"], "per_user": case["cap"]}},
        "hack": {"a100": {"devices": 0, "per_user": case["cap"]}},
    }
    capacity = FixedCapacity(a100=case["total"])
    core = make_core(
        engine,
        GROUPS,
        quotas,
        default_quota={"a100": {"devices": 2, "per_user": 1}},
        capacity=capacity,
    )
    await core.load()
    reserved = min(case["reserved"], case["total"])
    if reserved:
        await core.create_reservation(
            "r",
            "hack",
            "a100",
            reserved,
            False,
            now - timedelta(minutes=1),
            now + timedelta(hours=1),
            "o",
        )

    async def one(user: str, server: str, count: int, release: bool) -> None:
        decision = await core.admit(user, server, "a100", count, wait=release)
        if isinstance(decision, Grant) and release:
            await asyncio.sleep(0)
            await core.release(decision.lease.id)

    await asyncio.gather(*(one(*r) for r in case["requests"]))
    stored = await Repository(engine).active_leases()
    await engine.dispose()
    assert {lease.id for lease in stored} == set(core.ledger.leases)
    by_group: Counter[str] = Counter()
    by_user: Counter[str] = Counter()
    by_res = 0
    total = 0
    keys = set()
    for lease in core.ledger.leases.values():
        assert lease.key not in keys
        keys.add(lease.key)
        total += lease.count
        if lease.reservation_id:
            by_res += lease.count
        else:
            by_group[lease.group or ""] += lease.count
            by_user[lease.user] += lease.count
    assert by_group["g0"] <= case["g0"]
    assert by_group["g1"] <= case["g1"]
    assert by_group[""] <= 2
    assert by_res <= reserved
    assert total <= case["total"]
    for used in by_user.values():
        assert used <= max(case["cap"], 1)
    # Non-participants never ate into unclaimed reserved devices.
    assert total - by_res <= case["total"] - reserved


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=scenario)
def test_concurrent_admissions_never_over_allocate(
    fresh_url: Callable[[], str], case: dict
) -> None:
    asyncio.run(run_scenario(fresh_url(), case))
