"""A stopped spawn gives back what it was granted: unit tests of the interrupt paths and the
post-stop hook (fast; the same paths run through the real hub in test_stop_mid_spawn.py)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from jupyterhub import orm

from hub_ext.admission import Entitlement, LeaseDecision
from hub_ext.catalog import Flavor
from tests.spawner.test_spawner_unit import make_spawner


class SlowGrants:
    """An admission policy that grants every request after ``delay`` seconds and records
    what is given back (the service's side of the race, without its HTTP)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.granted: list[str] = []
        self.released: list[str] = []
        self.left: list[tuple[str, str]] = []

    async def request_lease(
        self, user: str, groups: list[str], server: str, flavor: Flavor, count: int, wait: bool
    ) -> LeaseDecision:
        await asyncio.sleep(self.delay)
        lease_id = f"L-{len(self.granted) + 1}"
        self.granted.append(lease_id)
        return LeaseDecision(granted=True, lease_id=lease_id)

    async def bind_lease(self, lease_id: str, namespace: str, pod: str) -> None:
        return None

    async def release_lease(self, lease_id: str) -> None:
        await asyncio.sleep(0.01)
        self.released.append(lease_id)

    async def leave_queue(self, user: str, server: str) -> None:
        self.left.append((user, server))

    async def entitlements(self, user: str, groups: list[str]) -> dict[str, Entitlement]:
        return {}


def spawner_with(policy: SlowGrants) -> Any:
    spawner = make_spawner()
    spawner.user = SimpleNamespace(name="ada", groups=[])
    spawner._policies[(spawner.admission_policy_class, id(spawner.config))] = policy
    return spawner


async def test_a_grant_that_arrives_after_the_stop_is_released() -> None:
    policy = SlowGrants(delay=0.2)
    spawner = spawner_with(policy)
    spawner.user_options = {"flavor": "t4"}
    await spawner.load_user_options()
    admit = asyncio.ensure_future(spawner._admit(spawner._selection, time.monotonic() + 30))
    await asyncio.sleep(0.05)  # the request is at the service
    admit.cancel()
    await asyncio.gather(admit, return_exceptions=True)
    await asyncio.sleep(0.5)
    assert policy.granted == ["L-1"]
    assert policy.released == ["L-1"]


async def test_a_second_cancel_does_not_stop_the_give_back() -> None:
    policy = SlowGrants(delay=0.2)
    spawner = spawner_with(policy)
    spawner.user_options = {"flavor": "t4", "wait": True}
    await spawner.load_user_options()
    admit = asyncio.ensure_future(spawner._admit(spawner._selection, time.monotonic() + 30))
    await asyncio.sleep(0.05)
    admit.cancel()  # JupyterHub cancels the spawn ...
    await asyncio.sleep(0.01)
    admit.cancel()  # ... and the spawner's stop() cancels it again
    await asyncio.gather(admit, return_exceptions=True)
    await asyncio.sleep(0.5)
    assert policy.released == policy.granted == ["L-1"]


async def test_post_stop_hook_releases_the_lease_and_forgets_the_options() -> None:
    policy = SlowGrants(delay=0)
    spawner = spawner_with(policy)
    spawner.orm_spawner = orm.Spawner(name="", user_options={"flavor": "t4", "count": 2})
    spawner.user_options = {"flavor": "t4", "count": 2}
    await spawner.load_user_options()
    spawner._lease_id = "L-9"
    await spawner.run_post_stop_hook()
    assert policy.released == ["L-9"]
    assert spawner.orm_spawner.user_options == {}
    assert spawner._selection is None and spawner._lease_id is None
    state = spawner.get_state()
    assert "accelhub" not in state
