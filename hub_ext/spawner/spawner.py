"""AcceleratorSpawner: KubeSpawner with flavors, strict options, admission and clear waits."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from kubespawner import KubeSpawner
from kubespawner.clients import shared_client
from traitlets import Any as AnyTrait
from traitlets import Bool, CaselessStrEnum, Float, List, Type, Unicode, default

from ..admission import AdmissionPolicy, AdmissionUnavailable, LeaseDecision
from ..capacity import CapacityPolicy
from ..catalog import AcceleratorCatalog
from ..flavor_access import GROUP_PROPERTY_KEY, GroupAccess
from ..flavors import Placement
from ..inventory import ClusterInventory
from .errors import SpawnRefused
from .group_volumes import group_areas
from .offer import render_offer
from .options import OptionsError, Selection, options_from_form, validate_options
from .pending import timeout_message
from .progress import spawn_progress, waiting_for
from .shaping import shape_pod
from .tokens import server_token_scopes
from .waiting import LeaseRequest, release_quietly, uninterruptible

STATE_KEY = "accelhub"


class AcceleratorSpawner(KubeSpawner):
    """KubeSpawner that offers accelerator flavors, asks the hub service for a lease and
    explains in plain words what a pending spawn is waiting for."""

    admission_policy_class = Type(
        CapacityPolicy,
        klass=object,
        config=True,
        help="Class deciding who gets which accelerator: hub_ext.admission.ServicePolicy (the "
        "hub service: quotas, caps, reservations, the waiting line) or "
        "hub_ext.capacity.CapacityPolicy (the default: free capacity alone, no quotas). "
        "One instance is shared by all spawners of the hub.",
    )
    admission_wait = Bool(
        True,
        config=True,
        help="Let users choose to wait in line (the form's 'Wait in line' box, the REST option "
        "wait: true) until start_timeout when no device is free; False refuses at once.",
    )
    unavailable_flavors = CaselessStrEnum(
        ["show", "hide"],
        "show",
        config=True,
        help="How the spawn form shows a flavor the cluster has no device of (e.g. whole A100s "
        "while every A100 is partitioned): 'show' greys it out saying it is not available on "
        "this cluster, 'hide' leaves it out.",
    )
    admission_poll_seconds = Float(
        5.0,
        config=True,
        help="Seconds between lease requests while waiting in line (keep it well below the "
        "service's AccelhubService.queue_stale_seconds, or the place in line is lost).",
    )
    inventory_namespaces = List(
        Unicode(),
        [],
        config=True,
        help="Namespaces whose pods the inventory counts; empty leaves the choice to "
        "ClusterInventory.namespaces (by default every namespace).",
    )
    inventory_sync_seconds = Float(
        3.0,
        config=True,
        help="Seconds the first form render waits for the inventory's first list.",
    )
    progress_interval = Float(
        1.0, config=True, help="Seconds between progress checks while a spawn is pending."
    )
    timeout_margin = Float(
        3.0,
        config=True,
        help="Seconds before start_timeout at which the spawner gives up on its own, so the "
        "message says what it waited for.",
    )
    group_property_key = Unicode(
        GROUP_PROPERTY_KEY,
        config=True,
        help="Key of a JupyterHub group's properties holding accelhub settings; its 'flavors' "
        "entry opens or closes flavors to the group (keep it equal to the service's "
        "QuotaPolicy.group_property_key).",
    )
    catalog = AnyTrait(help="The AcceleratorCatalog (built from config).")

    _policies: ClassVar[dict[tuple[Any, ...], AdmissionPolicy]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._selection: Selection | None = None
        self._lease: LeaseDecision | None = None
        self._lease_id: str | None = None
        self._last_flavor: str | None = None  # the flavor this server last started with
        self._refused_flavor: str | None = None  # the flavor of a refusal not yet shown
        self._request: LeaseRequest | None = None
        self._status: str | None = None
        self._phase = "idle"

    @default("catalog")
    def _default_catalog(self) -> AcceleratorCatalog:
        return AcceleratorCatalog(config=self.config)

    @default("options_form")
    def _default_options_form(self) -> Any:
        return self._render_options_form_async

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return _apply_user_options

    @default("server_token_scopes")
    def _default_server_token_scopes(self) -> Any:
        return server_token_scopes

    # -- shared collaborators -------------------------------------------------------------------

    @property
    def policy(self) -> AdmissionPolicy:
        """The hub-wide admission policy."""
        key = (self.admission_policy_class, id(self.config))
        policy: AdmissionPolicy | None = self._policies.get(key)
        if policy is None:
            factory: Any = self.admission_policy_class
            extra = {"inventory": self.inventory} if issubclass(factory, CapacityPolicy) else {}
            policy = factory(config=self.config, log=self.log, **extra)
            self._policies[key] = policy
        return policy

    def inventory(self) -> ClusterInventory:
        """The hub-wide cluster inventory (started on first use)."""
        scope = list(self.inventory_namespaces)
        return ClusterInventory.shared(
            self.catalog.all(),
            lambda: shared_client("CoreV1Api"),
            key=(self.k8s_api_host,),
            **({"namespaces": scope} if scope else {}),
            config=self.config,
            log=self.log,
        )

    def user_groups(self) -> list[str]:
        """Names of the user's JupyterHub groups."""
        groups = getattr(self.user, "groups", None) or []
        return [getattr(g, "name", str(g)) for g in groups]

    def group_access(self) -> GroupAccess:
        """The user's groups with the flavors their properties open or close (read from the
        hub's ORM at each call, so an admin's change applies to the next form and spawn)."""
        groups = getattr(self.user, "groups", None) or []
        return GroupAccess.of(
            {getattr(g, "name", str(g)): getattr(g, "properties", None) for g in groups},
            self.group_property_key,
        )

    # -- options ---------------------------------------------------------------------------------

    def _validate(self, options: Mapping[str, Any] | None) -> Selection:
        try:
            return validate_options(options, self.catalog, self.group_access(), self.image)
        except OptionsError as err:
            raise SpawnRefused(str(err), reason=err.reason, status_code=400) from None

    async def run_options_from_form(self, form_data: Mapping[str, Any]) -> dict[str, Any]:
        """Form POST -> validated canonical options (a bad form re-renders with the message)."""
        return self._validate(options_from_form(form_data)).to_options()

    def options_from_query(self, query_data: Mapping[str, Any]) -> dict[str, Any]:
        """``/hub/spawn?flavor=...`` -> validated canonical options."""
        return self._validate(options_from_form(query_data)).to_options()

    async def load_user_options(self) -> None:
        """Validate ``user_options`` (form or REST) from scratch; nothing from earlier spawns."""
        self._selection = self._validate(self.user_options)

    # -- form ------------------------------------------------------------------------------------

    async def _render_options_form_async(self, spawner: Any = None) -> str:
        return await render_offer(self)

    @property
    def last_flavor(self) -> str | None:
        """The flavor this server last started with (the form pre-selects it)."""
        return self._last_flavor

    def take_refused_flavor(self) -> str | None:
        """The flavor of the start just refused, once: the form shown with the refusal
        keeps the user's choice even when its devices are all taken (to wait in line)."""
        refused, self._refused_flavor = self._refused_flavor, None
        return refused

    # -- admission -------------------------------------------------------------------------------

    async def _admit(self, selection: Selection, deadline: float) -> LeaseDecision:
        """A lease for this spawn, waiting in line when the user chose to (and may)."""
        self._phase = "admission"
        self._request = LeaseRequest(
            self.policy,
            self.user.name,
            self.user_groups(),
            self.name,
            selection,
            self.admission_wait,
            self.admission_poll_seconds,
            self.log,
        )
        return await self._request.run(deadline)

    async def _release(self) -> None:
        lease_id, self._lease_id, self._lease = self._lease_id, None, None
        if lease_id:
            await uninterruptible(release_quietly(self.policy, lease_id, self.log))

    async def _bind(self) -> None:
        if not self._lease_id:
            return
        try:
            await self.policy.bind_lease(self._lease_id, self.namespace, self.pod_name)
        except AdmissionUnavailable as err:
            self.log.warning("could not bind lease %s: %s", self._lease_id, err)

    # -- lifecycle -------------------------------------------------------------------------------

    async def _start(self) -> Any:
        started = time.monotonic()
        budget = max(self.start_timeout - self.timeout_margin, 1.0)
        deadline = started + budget
        self._lease = self._lease_id = self._request = self._status = None
        self._pvc_exists = False  # ensure the home claim at every start (an admin may delete it)
        with contextlib.suppress(Exception):
            self.inventory()  # started once per hub: pending messages read it
        await self.load_user_options()
        selection = self._selection
        assert selection is not None
        self._last_flavor = selection.flavor.slug  # pre-selected on the next form
        try:
            self._lease = await self._admit(selection, deadline)
            self._lease_id = self._lease.lease_id
            self._phase = "pod"
            remaining = max(deadline - time.monotonic(), 1.0)
            try:
                return await asyncio.wait_for(super()._start(), remaining)
            except TimeoutError:
                pod = self._pod()
                node = (pod or {}).get("spec", {}).get("nodeName") if pod else None
                raise SpawnRefused(
                    timeout_message(
                        selection.flavor,
                        selection.count,
                        time.monotonic() - started,
                        self._status or self.pending_status(),
                        node,
                    ),
                    reason="timeout",
                    status_code=503,
                ) from None
        except BaseException as error:
            if isinstance(error, SpawnRefused):  # the form shown with the refusal keeps it
                self._refused_flavor = selection.flavor.slug
            await self._release()
            raise
        finally:
            self._phase = "done"

    async def _make_create_pod_request(self, pod: Any, request_timeout: float) -> bool:
        created = bool(await super()._make_create_pod_request(pod, request_timeout))
        if created:
            await self._bind()
        return created

    async def get_pod_manifest(self) -> Any:
        """KubeSpawner's pod, shaped for the selected flavor and the granted lease."""
        pod = await super().get_pod_manifest()
        selection = self._selection or self._validate(self.user_options)
        placement = await self._placement(selection)
        return await group_areas(self, shape_pod(pod, selection, self._lease, placement))

    async def _placement(self, selection: Selection) -> Placement | None:
        """Where the pod goes when nodes of several shapes serve its flavor (None: the first)."""
        if len(selection.flavor.placements) == 1:
            return None
        try:
            inventory = self.inventory()
            if not inventory.synced:
                await inventory.wait_synced(self.inventory_sync_seconds)
        except Exception as err:
            self.log.warning("inventory unavailable to place the pod: %s", err)
            return None
        if not inventory.synced:
            return None
        return inventory.state.choose_placement(selection.flavor, selection.count)

    async def stop(self, now: bool = False) -> None:
        """Stop the pod, give the lease back, leave the line and forget this spawn's options."""
        start = getattr(self, "_start_future", None)
        if self._phase == "admission" and start is not None and not start.done():
            start.cancel()  # a stopped spawn stops waiting, which leaves the line
            with contextlib.suppress(BaseException):
                await start
        try:
            await super().stop(now)
        finally:
            await self._release()
            if self._request is not None and self._request.in_line:
                await self._request.leave()
            self._forget_options()

    async def run_post_stop_hook(self) -> None:
        """After every stop, also of spawns that never made a pod: release and forget."""
        await self._release()
        self._forget_options()
        result = super().run_post_stop_hook()
        if inspect.isawaitable(result):
            await result

    def _forget_options(self) -> None:
        """Drop saved user_options so the next spawn starts from the defaults."""
        orm = getattr(self, "orm_spawner", None)
        if orm is not None and getattr(orm, "user_options", None):
            orm.user_options = {}
        self._selection = None

    def get_state(self) -> dict[str, Any]:
        """KubeSpawner's state plus the lease this server holds."""
        state = dict(super().get_state())
        ours = {"lease": self._lease_id, "last_flavor": self._last_flavor}
        ours = {k: v for k, v in ours.items() if v}
        if ours:  # the last flavor outlives a stop (clear_state keeps it): the form's default
            state[STATE_KEY] = ours
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore the lease id after a hub restart."""
        super().load_state(state)
        ours = state.get(STATE_KEY) or {}
        self._lease_id = ours.get("lease") or self._lease_id
        last = ours.get("last_flavor")
        self._last_flavor = last if isinstance(last, str) else self._last_flavor

    def get_env(self) -> dict[str, str]:
        """KubeSpawner's env plus where the server reports GPU activity (for idle reclaim)
        and reaches the hub service (for offload)."""
        env: dict[str, str] = dict(super().get_env())
        url = getattr(self.policy, "activity_url", "")
        if url:
            env.setdefault("ACCELHUB_ACTIVITY_URL", url)
        service = getattr(self.policy, "user_url", "")
        if service:
            env.setdefault("ACCELHUB_SERVICE_URL", service)
        return env

    # -- progress --------------------------------------------------------------------------------

    def _pod(self) -> dict[str, Any] | None:
        reflector = getattr(self, "pod_reflector", None)
        if reflector is None:
            return None
        pod: dict[str, Any] | None = reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        return pod

    def pending_status(self) -> str | None:
        """What the spawn is waiting for right now, in plain words."""
        return waiting_for(self, self._selection, self._phase, self._request)

    def note_status(self, status: str) -> None:
        """Remember the last status shown, for the timeout's message."""
        self._status = status

    def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Plain-words progress: admission, queue, scheduler, node, then the pod's events."""
        return spawn_progress(self)


def _apply_user_options(spawner: AcceleratorSpawner, user_options: Mapping[str, Any]) -> None:
    """JupyterHub's apply hook: options are validated (and refused with a 400) in
    ``load_user_options`` instead, which logs a sentence rather than a traceback."""
