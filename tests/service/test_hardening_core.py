"""Hardening of the service's core on SQLite and PostgreSQL: periodic jobs survive bad rows,
stored times never outrun the service clock, per-user caps count every device, reservation
windows are bounded, usage stops at the query's end, busy servers are spared, CSV is inert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.catalog import Flavor
from hub_ext.service.accounting import usage, usage_csv
from hub_ext.service.activity import ActivityTracker, ServerActivity
from hub_ext.service.core import AdmissionCore, ReservationError
from hub_ext.service.ledger import Grant, Refusal
from hub_ext.service.reclaim import Reclaimer
from hub_ext.service.records import LeaseRecord
from hub_ext.service.store import Repository
from tests.service.helpers import Clock, gpu, make_core

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
IDLERS = {"idlers": {"*": {"devices": 10, "per_user": 3}}}


def granted(decision: Any) -> LeaseRecord:
    assert isinstance(decision, Grant), decision
    return decision.lease


async def reclaimer(core: AdmissionCore, minutes: float = 10) -> tuple[Reclaimer, list[str]]:
    stopped: list[str] = []

    async def stop(user: str, server: str) -> None:
        stopped.append(user)

    tracker = ActivityTracker(core.store)
    return Reclaimer(core, tracker, stop, idle_timeout_minutes=minutes), stopped


async def test_reclaim_goes_on_past_a_row_from_year_9999(engine: AsyncEngine) -> None:
    clock = Clock(T0)
    core = make_core(engine, {"idlers": ["bad", "idle"]}, IDLERS, clock=clock)
    await core.load()
    granted(await core.admit("bad", "", "a100", 1))
    granted(await core.admit("idle", "", "a100", 1))
    reclaim, stopped = await reclaimer(core)
    reclaim.activity.servers[("bad", "")] = ServerActivity(last_report=FAR, last_busy=FAR)
    await reclaim.activity.report("idle", "", T0, [{"busy": False}])
    clock.now = T0 + timedelta(minutes=11)
    ended = await reclaim.tick(clock.now)  # raised OverflowError for everyone before the fix
    assert [lease.user for lease in ended] == ["idle"] and stopped == ["idle"]
    assert {lease.user for lease in core.ledger.leases.values()} == {"bad"}


async def test_expiry_goes_on_past_a_lease_that_fails(engine: AsyncEngine) -> None:
    clock = Clock(T0)
    core = make_core(engine, {"idlers": ["bad", "good"]}, IDLERS, clock=clock)
    await core.load()
    for user in ("bad", "good"):
        granted(await core.admit(user, "", "a100", 1)).expires_at = T0 + timedelta(minutes=1)

    def hook(lease: LeaseRecord) -> None:
        if lease.user == "bad":
            raise RuntimeError("a broken row")

    core.on_lease_end.append(hook)
    clock.now = T0 + timedelta(minutes=2)
    ended = await core.expire()
    assert [lease.user for lease in ended] == ["good"]
    assert not core.ledger.leases


async def test_stored_future_activity_counts_as_now(engine: AsyncEngine) -> None:
    store = Repository(engine)
    for when in (datetime(2030, 1, 1, tzinfo=UTC), FAR):
        row = {"user": "ada", "server": "", "timestamp": when, "devices": 1, "busy": 1}
        await store.add_activity({**row, "utilization_avg": None, "memory_used_bytes": None})
    tracker = ActivityTracker(store)
    await tracker.load(T0)
    state = tracker.servers[("ada", "")]
    assert state.last_busy == T0 and state.last_report == T0


async def test_busy_reports_spare_a_server_whose_lease_is_old(engine: AsyncEngine) -> None:
    clock = Clock(T0)
    core = make_core(engine, {"idlers": ["busy", "idle"]}, IDLERS, clock=clock)
    await core.load()
    granted(await core.admit("busy", "", "a100", 1))
    granted(await core.admit("idle", "", "a100", 1))
    reclaim, stopped = await reclaimer(core, minutes=10)
    for minute in range(0, 31, 5):  # both report for half an hour; only one is ever busy
        await reclaim.activity.report("busy", "", T0 + timedelta(minutes=minute), [{"busy": True}])
        await reclaim.activity.report("idle", "", T0 + timedelta(minutes=minute), [{"busy": False}])
    clock.now = T0 + timedelta(minutes=31)  # 31 minutes past both starts: 10 would do
    await reclaim.tick(clock.now)
    assert stopped == ["idle"]
    assert [lease.user for lease in core.ledger.leases.values()] == ["busy"]


def slice_(slug: str) -> Flavor:
    return Flavor(slug=slug, display_name=slug, kind="mig", resource=f"nvidia.com/mig-{slug}")


FLAVORS = [gpu("rtx5000"), slice_("1g.10gb"), slice_("2g.20gb")]


async def test_per_user_cap_counts_devices_across_flavors_and_servers(engine: AsyncEngine) -> None:
    core = make_core(engine, {}, default_quota={"*": {"per_user": 1}}, flavors=FLAVORS)
    await core.load()
    granted(await core.admit("solo", "one", "rtx5000", 1))
    for server, slug in (("two", "1g.10gb"), ("three", "2g.20gb")):
        refused = await core.admit("solo", server, slug, 1)
        assert isinstance(refused, Refusal) and refused.reason == "user_cap", refused
        assert refused.in_use.user == 1 and "1 of your 1 devices" in refused.message


async def test_per_user_cap_per_flavor_when_configured(engine: AsyncEngine) -> None:
    core = make_core(engine, {}, default_quota={"*": {"per_user": 1}}, flavors=FLAVORS)
    core.policy.per_user_scope = "flavor"
    await core.load()
    for server, slug in (("one", "rtx5000"), ("two", "1g.10gb"), ("three", "2g.20gb")):
        granted(await core.admit("solo", server, slug, 1))
    refused = await core.admit("solo", "four", "rtx5000", 1)
    assert isinstance(refused, Refusal) and refused.reason == "user_cap"


@pytest.mark.parametrize(
    ("flavor", "start", "end", "words"),
    [
        ("cpu", T0, T0 + timedelta(hours=2), "no accelerator"),
        ("a100", datetime(1, 1, 1, tzinfo=UTC), FAR, "within 366 days"),
        ("a100", T0, T0 + timedelta(days=400), "within 366 days"),
    ],
)
async def test_reservations_are_bounded(
    engine: AsyncEngine, flavor: str, start: datetime, end: datetime, words: str
) -> None:
    cpu = Flavor(slug="cpu", display_name="CPU", kind="cpu")
    core = make_core(engine, {"hack": ["h1"]}, flavors=[gpu(), cpu], clock=Clock(T0))
    await core.load()
    with pytest.raises(ReservationError, match=words):
        await core.create_reservation("r", "hack", flavor, 1, False, start, end, "org")
    assert await core.store.live_reservations(T0) == []


async def test_usage_stops_at_the_end_of_the_query(engine: AsyncEngine) -> None:
    clock = Clock(T0)
    core = make_core(engine, {"idlers": ["ada"]}, IDLERS, clock=clock)
    await core.load()
    granted(await core.admit("ada", "", "a100", 2))  # still running at `now`
    now = T0 + timedelta(hours=5)
    rows = await usage(core.store, T0, T0 + timedelta(hours=1), "user", now)
    assert [(r["user"], r["device_hours"]) for r in rows] == [("ada", 2.0)]


def test_csv_cells_that_look_like_formulas_are_neutralised() -> None:
    names = ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx", "plain"]
    rows = [{"user": name, "device_hours": 1.0, "leases": 1} for name in names]
    lines = usage_csv(rows, "user").split("\n")[1:-1]
    cells = [line.split(",")[0].strip('"') for line in lines]
    assert cells == ["'=1+1", "'+cmd", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain"]
