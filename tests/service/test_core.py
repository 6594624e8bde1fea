"""Admission core on SQLite and PostgreSQL: quotas, caps, reservations, the line, restarts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service import views
from hub_ext.service.ledger import Grant, Refusal
from hub_ext.service.store import Repository
from tests.service.helpers import Clock, FixedCapacity, gpu, make_core

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
GROUPS = {"physics": ["ada", "bob", "cy"], "hack": ["h1", "h2", "h3"], "bio": ["dee"]}
QUOTAS = {"physics": {"a100": {"devices": 2, "per_user": 1}}, "bio": {"*": {"devices": 4}}}


async def test_quota_refusal_names_reason_and_use(engine: AsyncEngine) -> None:
    core = make_core(engine, GROUPS, QUOTAS)
    await core.load()
    assert isinstance(await core.admit("ada", "", "a100", 1), Grant)
    assert isinstance(await core.admit("bob", "", "a100", 1), Grant)
    refused = await core.admit("cy", "", "a100", 1)
    assert isinstance(refused, Refusal)
    assert refused.reason == "quota"
    assert refused.in_use.group == 2 and refused.in_use.group_quota == 2
    assert "physics" in refused.message and refused.retry_after_seconds


async def test_per_user_cap_and_idempotence(engine: AsyncEngine) -> None:
    core = make_core(engine, GROUPS, QUOTAS)
    await core.load()
    first = await core.admit("ada", "", "a100", 1)
    again = await core.admit("ada", "", "a100", 1)
    assert isinstance(first, Grant) and isinstance(again, Grant)
    assert again.reused and again.lease.id == first.lease.id
    capped = await core.admit("ada", "second", "a100", 1)
    assert isinstance(capped, Refusal) and capped.reason == "user_cap"
    assert capped.in_use.to_json() == {
        "user": 1,
        "group": 1,
        "group_quota": 2,
        "user_cap": 1,
        "free": None,
    }


async def test_default_quota_for_users_in_no_group(engine: AsyncEngine) -> None:
    core = make_core(engine, GROUPS, QUOTAS, default_quota={"a100": {"devices": 1, "per_user": 1}})
    await core.load()
    assert isinstance(await core.admit("stranger", "", "a100", 1), Grant)
    refused = await core.admit("other", "", "a100", 1)
    assert isinstance(refused, Refusal) and refused.reason == "quota"
    unknown = await core.admit("other", "", "nope", 1)
    assert isinstance(unknown, Refusal) and unknown.reason == "unknown_flavor"


async def test_group_properties_override_config(engine: AsyncEngine) -> None:
    props = {"physics": {"accelhub": {"quotas": {"a100": {"devices": 1, "per_user": 1}}}}}
    core = make_core(engine, GROUPS, QUOTAS, properties=props)
    await core.load()
    assert isinstance(await core.admit("ada", "", "a100", 1), Grant)
    refused = await core.admit("bob", "", "a100", 1)
    assert isinstance(refused, Refusal) and refused.in_use.group_quota == 1


async def test_reservation_guarantees_participants_and_refuses_outsiders(
    engine: AsyncEngine,
) -> None:
    clock = Clock(T0)
    quotas = {
        "physics": {"a100": {"devices": 10, "per_user": 1}},
        "hack": {"a100": {"devices": 0, "per_user": 1}},
    }
    core = make_core(engine, GROUPS, quotas, capacity=FixedCapacity(a100=4), clock=clock)
    await core.load()
    res = await core.create_reservation(
        "hackathon", "hack", "a100", None, True, T0, T0 + timedelta(hours=2), "org"
    )
    assert (await views.reservation(core, res)).unclaimed == 3
    # one device is free for everyone else; the other three are held.
    assert isinstance(await core.admit("ada", "", "a100", 1), Grant)
    outsider = await core.admit("bob", "", "a100", 1)
    assert isinstance(outsider, Refusal) and outsider.reason == "reservation"
    for user in ("h1", "h2", "h3"):
        granted = await core.admit(user, "", "a100", 1)
        assert isinstance(granted, Grant) and granted.lease.reservation_id == res.id
        assert granted.lease.expires_at == T0 + timedelta(hours=2)
    assert (await views.reservation(core, res)).unclaimed == 0
    # Expiry: at the end the reserved leases end and the capacity is free again.
    clock.now = T0 + timedelta(hours=2, seconds=1)
    ended = await core.expire()
    assert {lease.user for lease in ended} == {"h1", "h2", "h3"}
    assert isinstance(await core.admit("bob", "", "a100", 1), Grant)


async def test_reservation_before_window_holds_nothing(engine: AsyncEngine) -> None:
    clock = Clock(T0)
    quotas = {"physics": {"a100": {"devices": 10, "per_user": 1}}}
    core = make_core(engine, GROUPS, quotas, capacity=FixedCapacity(a100=3), clock=clock)
    await core.load()
    await core.create_reservation(
        "later", "hack", "a100", 3, False, T0 + timedelta(hours=1), T0 + timedelta(hours=2), "org"
    )
    assert isinstance(await core.admit("ada", "", "a100", 1), Grant)


async def test_waiting_line_is_served_in_order(engine: AsyncEngine) -> None:
    quotas = {"physics": {"a100": {"devices": 10, "per_user": 1}}}
    core = make_core(engine, GROUPS, quotas, capacity=FixedCapacity(a100=1))
    await core.load()
    held = await core.admit("ada", "", "a100", 1)
    assert isinstance(held, Grant)
    bob = await core.admit("bob", "", "a100", 1, wait=True)
    cy = await core.admit("cy", "", "a100", 1, wait=True)
    assert isinstance(bob, Refusal) and bob.queue_position == 1
    assert isinstance(cy, Refusal) and cy.queue_position == 2
    await core.release(held.lease.id)
    served = core.ledger.leases[core.ledger.by_key[("bob", "")]]
    assert served.expires_at is not None  # held for bob until his server starts
    again = await core.admit("bob", "", "a100", 1)
    assert isinstance(again, Grant) and again.lease.id == served.id
    assert core.ledger.queue_position("a100", "cy", "") == 1


async def test_restart_rebuilds_the_ledger(engine: AsyncEngine) -> None:
    core = make_core(engine, GROUPS, QUOTAS)
    await core.load()
    granted = await core.admit("ada", "", "a100", 1)
    assert isinstance(granted, Grant)
    await core.bind(granted.lease.id, "ns", "jupyter-ada")
    await core.admit("bob", "", "a100", 1)
    reborn = make_core(engine, GROUPS, QUOTAS)
    await reborn.load()
    assert reborn.ledger.group_used[("physics", "a100")] == 2
    assert reborn.ledger.leases[granted.lease.id].pod == "jupyter-ada"
    refused = await reborn.admit("cy", "", "a100", 1)
    assert isinstance(refused, Refusal) and refused.reason == "quota"
    await reborn.release(granted.lease.id)
    assert len(await Repository(engine).active_leases()) == 1


def test_identifiers_are_unique_128_bit_hex_in_creation_order() -> None:
    from hub_ext.service.ledger import new_id

    before = int(time.time() * 1000)
    ids = [new_id() for _ in range(5000)]  # spans many 4 KiB reads of randomness
    after = int(time.time() * 1000)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len({i[-8:] for i in ids}) > 4900  # the random tails (used in pod names) differ
    millis = [int(i[:12], 16) for i in ids]
    assert millis == sorted(millis) and before <= millis[0] and millis[-1] <= after


async def test_admission_follows_flavor_access_in_group_properties(engine: AsyncEngine) -> None:
    flavors = [gpu("a100", groups=("ml-experts",))]
    quotas = {"physics": {"*": {"devices": 4, "per_user": 1}}}
    core = make_core(engine, GROUPS, quotas, flavors=flavors)
    await core.load()
    refused = await core.admit("ada", "", "a100", 1)
    assert isinstance(refused, Refusal) and refused.reason == "not_allowed"
    assert refused.message == "a100 is only for members of ml-experts."
    opened = {"physics": {"accelhub": {"flavors": {"a100": "open"}}}}
    core = make_core(engine, GROUPS, quotas, flavors=flavors, properties=opened)
    await core.load()
    assert isinstance(await core.admit("ada", "", "a100", 1), Grant)
    assert (await views.entitlements(core, "bob")).flavors["a100"].allowed
    closed = {"physics": {"accelhub": {"flavors": {"a100": "closed"}}}}
    core = make_core(engine, GROUPS, quotas, flavors=[gpu("a100")], properties=closed)
    await core.load()
    shut = await core.admit("bob", "", "a100", 1)
    assert isinstance(shut, Refusal) and shut.reason == "not_allowed"
    assert shut.message == "a100 is closed to physics by an administrator."
