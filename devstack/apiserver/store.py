"""The object store: the in-process API every devstack controller and the HTTP layer use.

All objects are plain JSON-like dicts, exactly as on the wire. Everything runs on one
asyncio loop; methods never block. Resources are named by plural (`pods`, `nodes`,
`jobs`, `priorityclasses`, `events`...). Errors are `ApiError` (see `errors.py`) with the
status, reason and message a real API server would return.

Controller contract (scheduler, kubelet, job controller)::

    pod = await store.get("pods", "web-0", namespace="default")
    items, rv = store.list("pods", label_selector="app=web", field_selector="spec.nodeName=")
    async for event_type, obj in store.watch("pods", resource_version=str(rv)):
        ...  # ADDED / MODIFIED / DELETED; the iterator ends when the watch is closed
             # (overflow of a slow consumer, or store shutdown): re-list or re-watch.
    await store.bind_pod("default", "web-0", "node-a")              # the scheduler
    await store.patch("pods", "web-0", {"status": {...}}, "merge", namespace="default",
                      subresource="status")                          # the kubelet
    await store.delete("pods", "web-0", namespace="default", grace_period_seconds=0)
                                                                     # kubelet confirms
    await record_event(store, pod, "Scheduled", "Successfully assigned ...",
                       source_component="default-scheduler")   # controllers/events.py
    store.register_log_source(kubelet)                               # serves pods/log

Objects returned are private copies; callers may mutate them freely.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from devstack.apiserver import defaults, validation
from devstack.apiserver import patch as patching
from devstack.apiserver.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    gone,
    invalid,
    not_found,
)
from devstack.apiserver.logs import LogSource
from devstack.apiserver.meta import (
    deep_copy,
    generate_name,
    meta,
    new_uid,
    now,
    timestamp,
)
from devstack.apiserver.registry import DEFAULT_REGISTRY, Registry, ResourceType
from devstack.apiserver.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from devstack.apiserver.tokens import TokenIssuer
from devstack.apiserver.watch import Watcher, WatchEvent

Obj = dict[str, Any]
ObjList = list[Obj]
Key = tuple[str, str]  # (namespace or "", name)

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PATCH_TYPES = {
    "merge": "merge",
    "application/merge-patch+json": "merge",
    "json": "json",
    "application/json-patch+json": "json",
    "strategic": "strategic",
    "application/strategic-merge-patch+json": "strategic",
    "apply": "apply",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}


class ObjectStore:
    """In-memory API objects with resourceVersions, watches, deletion and garbage collection.

    `history_size` bounds the per-resource event ring used to resume watches (older
    resourceVersions get 410 Expired); `watch_queue_size` bounds each watcher's backlog.
    `force_delete_after_grace` removes terminating pods whose kubelet never confirmed.
    """

    def __init__(
        self,
        registry: Registry = DEFAULT_REGISTRY,
        *,
        history_size: int = 5000,
        watch_queue_size: int = 10000,
        force_delete_after_grace: bool = True,
    ) -> None:
        self.registry = registry
        self.history_size = history_size
        self.watch_queue_size = watch_queue_size
        self.force_delete_after_grace = force_delete_after_grace
        self._rv = 1000
        self._data: dict[str, dict[Key, Obj]] = {k: {} for k in registry.storage_keys()}
        self._history: dict[str, deque[WatchEvent]] = {k: deque() for k in self._data}
        self._floor: dict[str, int] = dict.fromkeys(self._data, self._rv)
        self._watchers: dict[str, set[Watcher]] = {k: set() for k in self._data}
        self._dependents: dict[str, set[tuple[str, str, str]]] = {}
        self._uids: dict[str, tuple[str, str, str]] = {}
        # uid -> field manager -> last applied configuration (server-side apply).
        self._applied: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.log_sources: list[LogSource] = []
        self.tokens = TokenIssuer()  # ServiceAccount tokens (kubelet and API server)
        for ns in DEFAULT_NAMESPACES:
            self._create_sync(registry.by_name("namespaces"), {"metadata": {"name": ns}}, None)
        for ns in DEFAULT_NAMESPACES:
            self._ensure_default_sa(ns)

    # ---- introspection ----------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The current global resourceVersion."""
        return self._rv

    def resource_type(self, resource: str) -> ResourceType:
        """The registry entry for an in-process resource name, or 404 ApiError."""
        try:
            return self.registry.by_name(resource)
        except KeyError:
            raise ApiError(
                404, "NotFound", "the server could not find the requested resource"
            ) from None

    def register_log_source(self, source: LogSource) -> None:
        """Register a kubelet's log source for `pods/NAME/log`."""
        if source not in self.log_sources:
            self.log_sources.append(source)

    def unregister_log_source(self, source: LogSource) -> None:
        """Remove a log source."""
        if source in self.log_sources:
            self.log_sources.remove(source)

    # ---- reads -----------------------------------------------------------------------

    async def get(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        """One object by name; 404 ApiError `pods "x" not found`."""
        return deep_copy(self.get_raw(resource, name, namespace))

    def get_raw(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        """The stored object itself (shared: do not mutate)."""
        rt = self.resource_type(resource)
        obj = self._data[rt.key].get(self._key(rt, name, namespace))
        if obj is None:
            raise not_found(rt.plural, name, rt.group)
        return obj

    def _key(self, rt: ResourceType, name: str, namespace: str | None) -> Key:
        return (self._namespace_for(rt, namespace, {}), name)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[ObjList, int]:
        """Matching objects (copies, sorted by namespace/name) and the list resourceVersion."""
        items, rv = self.list_raw(resource, namespace, label_selector, field_selector)
        return [deep_copy(o) for o in items], rv

    def list_raw(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
    ) -> tuple[ObjList, int]:
        """Like `list` but returns the shared stored objects (do not mutate)."""
        rt = self.resource_type(resource)
        labels, fields = self._selectors(rt, label_selector, field_selector)
        ns = namespace if rt.namespaced else None
        if ns is None and rt.namespaced:
            ns = fields.get("metadata.namespace")
        name = fields.get("metadata.name")
        store = self._data[rt.key]
        if name is not None and ns is not None:
            one = store.get((ns, name))
            candidates = [one] if one is not None else []
        else:
            candidates = list(store.values())
        out = []
        for obj in candidates:
            md = obj["metadata"]
            if ns is not None and md.get("namespace") != ns:
                continue
            if labels.requirements and not labels.matches(md.get("labels")):
                continue
            if fields.requirements and not fields.matches(obj):
                continue
            out.append(obj)
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return out, self._rv

    def _selectors(
        self,
        rt: ResourceType,
        label_selector: str | LabelSelector | None,
        field_selector: str | FieldSelector | None,
    ) -> tuple[LabelSelector, FieldSelector]:
        labels = (
            label_selector
            if isinstance(label_selector, LabelSelector)
            else parse_label_selector(label_selector)
        )
        fields = (
            field_selector
            if isinstance(field_selector, FieldSelector)
            else parse_field_selector(field_selector, rt.field_selectors, rt.kind)
        )
        return labels, fields

    # ---- watches ---------------------------------------------------------------------

    def open_watch(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
        *,
        send_initial_events: bool | None = None,
        queue_size: int | None = None,
    ) -> Watcher:
        """Register a watcher now (used by the HTTP layer; see `watch` for semantics).

        Raises 410 ApiError `too old resource version` when `resource_version` is older
        than the retained history.
        """
        rt = self.resource_type(resource)
        labels, fields = self._selectors(rt, label_selector, field_selector)
        watcher = Watcher(
            rt.key,
            namespace if rt.namespaced else None,
            labels,
            fields,
            queue_size or self.watch_queue_size,
        )
        rv_text = (resource_version or "").strip()
        try:
            rv = int(rv_text) if rv_text else 0
        except ValueError:
            raise bad_request(
                f'invalid resource version: strconv.ParseUint: parsing "{rv_text}": invalid syntax'
            ) from None
        initial = send_initial_events if send_initial_events is not None else rv == 0
        if initial:
            # Current objects are replayed as ADDED, bounded only by the store size.
            watcher.maxsize = max(watcher.maxsize, len(self._data[rt.key]) + watcher.maxsize)
            items, _ = self.list_raw(resource, watcher.namespace, labels, fields)
            for obj in items:
                watcher.push(
                    "ADDED", WatchEvent("ADDED", obj, None, int(obj["metadata"]["resourceVersion"]))
                )
            if send_initial_events:
                watcher.initial_end_rv = self._rv
        else:
            if rv < self._floor[rt.key]:
                raise gone(f"too old resource version: {rv} ({self._floor[rt.key] + 1})")
            for ev in self._history[rt.key]:
                if ev.rv > rv:
                    watcher.offer(ev)
        watcher.on_close = self._forget_watcher
        self._watchers[rt.key].add(watcher)
        return watcher

    def _forget_watcher(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.key, set()).discard(watcher)

    async def watch(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[tuple[str, Obj]]:
        """Yield `(event_type, object_copy)` for ADDED/MODIFIED/DELETED changes.

        `resource_version` None/""/"0" first yields every current object as ADDED; "N"
        replays changes after N (410 ApiError if N is too old). Selector changes are
        translated like a real server (an object leaving the selection is DELETED).
        The iterator ends if the watch overflows or the store closes.
        """
        watcher = self.open_watch(
            resource, namespace, resource_version, label_selector, field_selector
        )
        try:
            while True:
                item = await watcher.next()
                if item is None:
                    return
                etype, ev = item
                yield etype, deep_copy(ev.obj)
        finally:
            watcher.close()

    def compact(self) -> None:
        """Forget the watch history, as a restarted API server's watch cache does: a watch
        resumed from any resourceVersion older than the current one gets 410 Expired (open
        watches go on)."""
        for key, history in self._history.items():
            history.clear()
            self._floor[key] = self._rv

    def close(self) -> None:
        """Close every watch and cancel background work (called at shutdown)."""
        for watchers in self._watchers.values():
            for w in list(watchers):
                w.close()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()

    # ---- creates ---------------------------------------------------------------------

    async def create(
        self,
        resource: str,
        obj: Obj,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        internal: bool = True,
    ) -> Obj:
        """Create an object; fills uid, resourceVersion, timestamps and defaults.

        `namespace` (for namespaced resources) defaults to the object's, then `default`.
        Errors: 409 AlreadyExists, 404 for a missing namespace, 422 Invalid.
        """
        rt = self.resource_type(resource)
        return deep_copy(
            self._create_sync(rt, deep_copy(obj), namespace, dry_run=dry_run, internal=internal)
        )

    def _create_sync(
        self,
        rt: ResourceType,
        obj: Obj,
        namespace: str | None,
        *,
        dry_run: bool = False,
        internal: bool = True,
    ) -> Obj:
        md = meta(obj)
        obj["kind"] = rt.kind
        obj["apiVersion"] = rt.api_version
        if rt.namespaced:
            ns = namespace or md.get("namespace") or "default"
            if md.get("namespace") and md["namespace"] != ns:
                raise bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request"
                )
            md["namespace"] = ns
            self._check_namespace_open(rt, ns, md.get("name") or "")
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            for _ in range(10):
                candidate = generate_name(str(md["generateName"]))
                if (md.get("namespace", ""), candidate) not in self._data[rt.key]:
                    md["name"] = candidate
                    break
        for system in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
            "managedFields",
        ):
            md.pop(system, None)
        defaults.apply_create_defaults(rt, obj, self)
        validation.validate_create(rt, obj)
        key = (md.get("namespace", ""), md["name"])
        if key in self._data[rt.key]:
            raise already_exists(rt.plural, md["name"], rt.group)
        md["uid"] = new_uid()
        if rt.plural == "jobs":
            defaults.finish_job(obj, md["uid"])
        md["creationTimestamp"] = timestamp()
        if rt.has_generation:
            md["generation"] = 1
        if dry_run:
            md["resourceVersion"] = str(self._rv)
            return obj
        self._commit(rt, obj, None, "ADDED")
        if rt.plural == "namespaces":
            self._ensure_default_sa(md["name"])
        return obj

    def _check_namespace_open(self, rt: ResourceType, ns: str, name: str) -> None:
        nso = self._data["namespaces"].get(("", ns))
        if nso is None:
            raise not_found("namespaces", ns)
        if nso["metadata"].get("deletionTimestamp"):
            raise forbidden(
                rt.plural,
                name,
                f"unable to create new content in namespace {ns} because it is being terminated",
                rt.group,
            )

    def _ensure_default_sa(self, ns: str) -> None:
        sa_type = self.registry.by_name("serviceaccounts")
        if (
            "namespaces" in self._data
            and ("", ns) in self._data["namespaces"]
            and (ns, "default") not in self._data[sa_type.key]
        ):
            self._create_sync(sa_type, {"metadata": {"name": "default"}}, ns)

    # ---- updates ---------------------------------------------------------------------

    async def replace(
        self,
        resource: str,
        obj: Obj,
        namespace: str | None = None,
        subresource: str | None = None,
        *,
        dry_run: bool = False,
        internal: bool = True,
    ) -> Obj:
        """PUT semantics: replace the whole object (or only its status with `status`).

        A `metadata.resourceVersion` that is not current gives 409 Conflict. On the main
        resource, status changes are ignored for types with a status subresource.
        """
        rt = self.resource_type(resource)
        obj = deep_copy(obj)
        md = meta(obj)
        name = md.get("name") or ""
        if not name:
            raise invalid(
                rt.kind,
                "",
                [validation.required("metadata.name", "name or generateName is required")],
            )
        ns = self._namespace_for(rt, namespace, md)
        old = self._data[rt.key].get((ns, name))
        if old is None:
            raise not_found(rt.plural, name, rt.group)
        return deep_copy(
            self._update(rt, old, obj, subresource, dry_run=dry_run, internal=internal)
        )

    async def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        patch_type: str,
        namespace: str | None = None,
        subresource: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        force: bool = False,
        internal: bool = True,
    ) -> Obj:
        """Apply a patch. `patch_type`: `merge`, `json`, `strategic`, `apply` or the
        matching content type. `patch` is the decoded body (dict, or list for JSON patch).
        Server-side apply (`apply`) creates the object when missing.
        """
        rt = self.resource_type(resource)
        kind = PATCH_TYPES.get(patch_type)
        if kind is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted "
                "media types include: application/json-patch+json, "
                "application/merge-patch+json, application/apply-patch+yaml, "
                "application/strategic-merge-patch+json",
            )
        ns = self._namespace_for(rt, namespace, {})
        old = self._data[rt.key].get((ns, name))
        if old is None:
            if kind == "apply" and subresource is None:
                new = patching.apply_patch(rt, {}, patch, kind, field_manager, force)
                md = meta(new)
                if md.get("name") and md["name"] != name:
                    raise bad_request(
                        f"the name of the object ({md['name']}) does not match "
                        f"the name on the URL ({name})"
                    )
                md["name"] = name
                created = self._create_sync(rt, new, namespace, dry_run=dry_run, internal=internal)
                if not dry_run:
                    self._applied[created["metadata"]["uid"]] = {
                        field_manager or "": deep_copy(patch)
                    }
                return deep_copy(created)
            raise not_found(rt.plural, name, rt.group)
        current = deep_copy(old)
        if kind == "apply" and isinstance(patch, dict):
            previous = self._applied.get(old["metadata"]["uid"], {}).get(field_manager or "")
            if previous is not None:
                schema = patching.schemas.kind_schema(rt.group, rt.version, rt.kind)
                removal = patching.removed_fields(previous, patch, schema)
                if removal:
                    current = patching.strategic_merge(current, removal, schema)
        new = patching.apply_patch(rt, current, patch, kind, field_manager, force)
        md = meta(new)
        if md.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({md.get('name')}) does not match the "
                f"name on the URL ({name})"
            )
        md["name"] = name
        result = self._update(
            rt, old, new, subresource, dry_run=dry_run, internal=internal, patching=True
        )
        if kind == "apply" and not dry_run and isinstance(patch, dict):
            self._applied.setdefault(old["metadata"]["uid"], {})[field_manager or ""] = deep_copy(
                patch
            )
        return deep_copy(result)

    async def bind_pod(self, namespace: str, name: str, node_name: str) -> Obj:
        """Assign a pod to a node (the `pods/binding` subresource); 409 if already bound."""
        rt = self.registry.by_name("pods")
        old = self._data[rt.key].get((namespace, name))
        if old is None:
            raise not_found("pods", name)
        if old["metadata"].get("deletionTimestamp"):
            raise conflict(
                "pods/binding",
                name,
                detail=f"pod {name} is being deleted, cannot be assigned to a host",
            )
        current = (old.get("spec") or {}).get("nodeName")
        if current:
            raise conflict(
                "pods/binding", name, detail=f'pod {name} is already assigned to node "{current}"'
            )
        new = deep_copy(old)
        new["spec"]["nodeName"] = node_name
        status = new.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": timestamp(),
            }
        )
        status["conditions"] = conds
        return deep_copy(self._commit(rt, new, old, "MODIFIED"))

    def _namespace_for(self, rt: ResourceType, namespace: str | None, md: dict[str, Any]) -> str:
        if not rt.namespaced:
            return ""
        ns = namespace or md.get("namespace") or "default"
        if md.get("namespace") and md["namespace"] != ns:
            raise bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        return str(ns)

    def _update(
        self,
        rt: ResourceType,
        old: Obj,
        new: Obj,
        subresource: str | None,
        *,
        dry_run: bool = False,
        internal: bool = True,
        patching: bool = False,
    ) -> Obj:
        omd, nmd = old["metadata"], meta(new)
        new["kind"] = rt.kind
        new["apiVersion"] = rt.api_version
        if nmd.get("name") != omd["name"]:
            raise bad_request(
                f"the name of the object ({nmd.get('name')}) does not match the "
                f"name on the URL ({omd['name']})"
            )
        rv = nmd.get("resourceVersion")
        if rv not in (None, "") and str(rv) != omd["resourceVersion"]:
            raise conflict(rt.plural, omd["name"], rt.group)
        if nmd.get("uid") not in (None, "", omd["uid"]):
            raise conflict(
                rt.plural,
                omd["name"],
                rt.group,
                detail=f"Precondition failed: UID in precondition: {nmd['uid']}, "
                f"UID in object meta: {omd['uid']}",
            )
        if subresource == "status":
            merged = deep_copy(old)
            merged["status"] = new.get("status", {})
            # Status writers may also touch labels/annotations, as kubelets do.
            for field in ("labels", "annotations"):
                if field in nmd:
                    merged["metadata"][field] = nmd[field]
            new = merged
            nmd = new["metadata"]
        elif subresource not in (None, ""):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        else:
            if rt.has_status:
                if "status" in old:
                    new["status"] = deep_copy(old["status"])
                else:
                    new.pop("status", None)
        for system in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if system in omd:
                nmd[system] = omd[system]
            else:
                nmd.pop(system, None)
        if rt.namespaced:
            nmd["namespace"] = omd["namespace"]
        else:
            nmd.pop("namespace", None)
        nmd.pop("managedFields", None)
        if omd.get("deletionTimestamp") and not validation.finalizers_shrink_only(omd, nmd):
            raise invalid(
                rt.kind,
                omd["name"],
                [
                    validation.forbidden_cause(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted",
                    )
                ],
            )
        defaults.apply_update_defaults(rt, new, old)
        validation.validate_update(rt, new, old, internal=internal)
        nmd["resourceVersion"] = omd["resourceVersion"]
        if new == old:
            return old
        if rt.has_generation and _spec_changed(old, new):
            nmd["generation"] = int(omd.get("generation", 1)) + 1
        if dry_run:
            return new
        if nmd.get("deletionTimestamp") and not nmd.get("finalizers"):
            # Last finalizer removed: the object goes away now.
            grace = nmd.get("deletionGracePeriodSeconds")
            if rt.plural != "pods" or not grace or not (new.get("spec") or {}).get("nodeName"):
                self._commit(rt, new, old, "MODIFIED")
                return self._remove(rt, new)
        return self._commit(rt, new, old, "MODIFIED")

    # ---- deletes ---------------------------------------------------------------------

    async def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        *,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
        internal: bool = True,
    ) -> Obj | None:
        """Delete an object; returns its final state (or None if it was already gone).

        Pods on a node are deleted gracefully: they get deletionTimestamp and
        deletionGracePeriodSeconds and disappear when the kubelet confirms with
        `grace_period_seconds=0` (or after the grace period if no kubelet does).
        Objects with finalizers stay until the finalizers are removed.
        `propagation_policy`: Background (default; Orphan for jobs), Foreground, Orphan.
        """
        rt = self.resource_type(resource)
        ns = self._namespace_for(rt, namespace, {})
        obj = self._data[rt.key].get((ns, name))
        if obj is None:
            raise not_found(rt.plural, name, rt.group)
        if preconditions:
            if preconditions.get("uid") and preconditions["uid"] != obj["metadata"]["uid"]:
                raise conflict(
                    rt.plural,
                    name,
                    rt.group,
                    detail=f"Precondition failed: UID in precondition: "
                    f"{preconditions['uid']}, UID in object meta: "
                    f"{obj['metadata']['uid']}",
                )
            prv = preconditions.get("resourceVersion")
            if prv and str(prv) != obj["metadata"]["resourceVersion"]:
                raise conflict(
                    rt.plural,
                    name,
                    rt.group,
                    detail=f"Precondition failed: ResourceVersion in precondition: "
                    f"{prv}, ResourceVersion in object meta: "
                    f"{obj['metadata']['resourceVersion']}",
                )
        if propagation_policy not in (None, "", "Background", "Foreground", "Orphan"):
            raise invalid(
                "DeleteOptions",
                "",
                [
                    validation.unsupported_cause(
                        "propagationPolicy",
                        propagation_policy,
                        ["Foreground", "Background", "Orphan", "nil"],
                    )
                ],
            )
        if rt.plural == "namespaces" and name in PROTECTED_NAMESPACES:
            raise forbidden("namespaces", name, "this namespace may not be deleted")
        if dry_run:
            return deep_copy(obj)
        result = self._delete_sync(rt, obj, grace_period_seconds, propagation_policy or None)
        return deep_copy(result)

    def _delete_sync(
        self, rt: ResourceType, obj: Obj, grace: int | None, policy: str | None
    ) -> Obj:
        md = obj["metadata"]
        if policy is None:
            policy = "Orphan" if rt.plural == "jobs" else "Background"
        if rt.plural == "namespaces":
            return self._delete_namespace(rt, obj)
        finalizers = list(md.get("finalizers") or [])
        if policy == "Orphan":
            self._orphan_dependents(md["uid"])
        if (
            policy == "Foreground"
            and self._dependents.get(md["uid"])
            and "foregroundDeletion" not in finalizers
        ):
            finalizers.append("foregroundDeletion")
        graceful = 0
        if rt.plural == "pods":
            spec = obj.get("spec") or {}
            phase = (obj.get("status") or {}).get("phase")
            if grace is None:
                grace = int(spec.get("terminationGracePeriodSeconds", 30))
            if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
                grace = 0
            graceful = max(0, grace)
            current = md.get("deletionGracePeriodSeconds")
            if current is not None and current <= graceful:
                graceful = current
        if not finalizers and graceful == 0:
            return self._remove(rt, obj)
        new = deep_copy(obj)
        nmd = new["metadata"]
        if not nmd.get("deletionTimestamp") or rt.plural == "pods":
            when = now()
            if rt.plural == "pods":
                import datetime as _dt

                when = when + _dt.timedelta(seconds=graceful)
            if not nmd.get("deletionTimestamp") or graceful < (
                nmd.get("deletionGracePeriodSeconds") or 0
            ):
                nmd["deletionTimestamp"] = timestamp(when)
        nmd["deletionGracePeriodSeconds"] = graceful
        if finalizers:
            nmd["finalizers"] = finalizers
        if new == obj:
            return obj
        committed = self._commit(rt, new, obj, "MODIFIED")
        if "foregroundDeletion" in finalizers:
            self._spawn(self._collect_foreground(rt, committed))
        if rt.plural == "pods" and graceful > 0 and self.force_delete_after_grace:
            self._schedule_force_delete(rt, committed, graceful + 2)
        return committed

    def _remove(self, rt: ResourceType, obj: Obj) -> Obj:
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        stored = self._data[rt.key].get(key)
        if stored is None:
            return obj
        self._rv += 1
        final = dict(stored)
        final["metadata"] = dict(stored["metadata"], resourceVersion=str(self._rv))
        del self._data[rt.key][key]
        self._index_owners(rt, None, stored)
        self._uids.pop(md["uid"], None)
        self._applied.pop(md["uid"], None)
        timer = self._timers.pop(md["uid"], None)
        if timer is not None:
            timer.cancel()
        self._publish(rt, WatchEvent("DELETED", final, stored, self._rv))
        if rt.plural == "customresourcedefinitions":
            self._drop_custom_resources(stored)
        if self._dependents.get(md["uid"]):
            self._spawn(self._collect_orphans(md["uid"]))
        self._spawn(self._finish_foreground_owners(stored))
        return final

    def _schedule_force_delete(self, rt: ResourceType, obj: Obj, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        uid = obj["metadata"]["uid"]
        old = self._timers.pop(uid, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            self._timers.pop(uid, None)
            loc = self._uids.get(uid)
            if loc is None:
                return
            current = self._data[loc[0]].get((loc[1], loc[2]))
            if current is not None and current["metadata"].get("deletionTimestamp"):
                self._delete_sync(rt, current, 0, "Background")

        self._timers[uid] = loop.call_later(delay, fire)

    async def delete_collection(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        *,
        dry_run: bool = False,
    ) -> ObjList:
        """Delete every matching object; returns their final states."""
        items, _ = self.list_raw(resource, namespace, label_selector, field_selector)
        out = []
        for obj in items:
            md = obj["metadata"]
            with contextlib.suppress(ApiError):
                res = await self.delete(
                    resource,
                    md["name"],
                    md.get("namespace"),
                    grace_period_seconds,
                    propagation_policy,
                    dry_run=dry_run,
                )
                if res is not None:
                    out.append(res)
        return out

    def _delete_namespace(self, rt: ResourceType, obj: Obj) -> Obj:
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        new = deep_copy(obj)
        new["metadata"]["deletionTimestamp"] = timestamp()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        committed = self._commit(rt, new, obj, "MODIFIED")
        self._spawn(self._drain_namespace(committed["metadata"]["name"]))
        return committed

    async def _drain_namespace(self, ns: str) -> None:
        for key in list(self._data):
            rt = self.registry.by_name(key)
            if not rt.namespaced:
                continue
            for (ons, _name), obj in list(self._data[key].items()):
                if ons == ns and not obj["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(ApiError):
                        self._delete_sync(rt, obj, None, "Background")
        while True:
            remaining = sum(
                1
                for key in self._data
                if self.registry.by_name(key).namespaced
                for (ons, _n) in self._data[key]
                if ons == ns
            )
            if not remaining:
                break
            await asyncio.sleep(0.1)
        nsrt = self.registry.by_name("namespaces")
        current = self._data["namespaces"].get(("", ns))
        if current is not None:
            final = deep_copy(current)
            final.setdefault("spec", {})["finalizers"] = []
            committed = self._commit(nsrt, final, current, "MODIFIED")
            self._remove(nsrt, committed)

    # ---- garbage collection ----------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _index_owners(self, rt: ResourceType, new: Obj | None, old: Obj | None) -> None:
        for obj, add in ((old, False), (new, True)):
            if obj is None:
                continue
            md = obj["metadata"]
            loc = (rt.key, md.get("namespace", ""), md["name"])
            for ref in md.get("ownerReferences") or []:
                uid = ref.get("uid")
                if not uid:
                    continue
                if add:
                    self._dependents.setdefault(uid, set()).add(loc)
                else:
                    deps = self._dependents.get(uid)
                    if deps is not None:
                        deps.discard(loc)
                        if not deps:
                            del self._dependents[uid]

    def _orphan_dependents(self, uid: str) -> None:
        for key, ns, name in list(self._dependents.get(uid, ())):
            dep = self._data[key].get((ns, name))
            if dep is None:
                continue
            new = deep_copy(dep)
            refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            self._commit(self.registry.by_name(key), new, dep, "MODIFIED")

    async def _collect_orphans(self, uid: str) -> None:
        """Background GC: delete dependents whose owners are all gone."""
        await asyncio.sleep(0)
        for key, ns, name in list(self._dependents.get(uid, ())):
            dep = self._data[key].get((ns, name))
            if dep is None:
                continue
            refs = dep["metadata"].get("ownerReferences") or []
            alive = [r for r in refs if r.get("uid") != uid and r.get("uid") in self._uids]
            rt = self.registry.by_name(key)
            if alive:
                new = deep_copy(dep)
                new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                self._commit(rt, new, dep, "MODIFIED")
            elif not dep["metadata"].get("deletionTimestamp"):
                with contextlib.suppress(ApiError):
                    self._delete_sync(rt, dep, None, "Background")

    async def _collect_foreground(self, rt: ResourceType, owner: Obj) -> None:
        """Foreground GC: delete dependents, then drop the owner's finalizer."""
        await asyncio.sleep(0)
        uid = owner["metadata"]["uid"]
        for key, ns, name in list(self._dependents.get(uid, ())):
            dep = self._data[key].get((ns, name))
            if dep is not None and not dep["metadata"].get("deletionTimestamp"):
                with contextlib.suppress(ApiError):
                    self._delete_sync(self.registry.by_name(key), dep, None, "Foreground")
        await self._finish_foreground(uid)

    async def _finish_foreground_owners(self, dependent: Obj) -> None:
        await asyncio.sleep(0)
        for ref in dependent["metadata"].get("ownerReferences") or []:
            if ref.get("uid") in self._uids:
                await self._finish_foreground(ref["uid"])

    async def _finish_foreground(self, uid: str) -> None:
        loc = self._uids.get(uid)
        if loc is None or self._dependents.get(uid):
            return
        owner = self._data[loc[0]].get((loc[1], loc[2]))
        if owner is None or "foregroundDeletion" not in (owner["metadata"].get("finalizers") or []):
            return
        new = deep_copy(owner)
        new["metadata"]["finalizers"] = [
            f for f in new["metadata"]["finalizers"] if f != "foregroundDeletion"
        ]
        if not new["metadata"]["finalizers"]:
            del new["metadata"]["finalizers"]
        self._update(self.registry.by_name(loc[0]), owner, new, None)

    # ---- commit and fan-out ----------------------------------------------------------

    def _commit(self, rt: ResourceType, new: Obj, old: Obj | None, etype: str) -> Obj:
        self._rv += 1
        md = new["metadata"]
        md["resourceVersion"] = str(self._rv)
        key = (md.get("namespace", ""), md["name"])
        self._data[rt.key][key] = new
        self._uids[md["uid"]] = (rt.key, key[0], key[1])
        self._index_owners(rt, new, old)
        self._publish(rt, WatchEvent(etype, new, old, self._rv))
        if rt.plural == "customresourcedefinitions":
            self._serve_custom_resources()
        return new

    def _drop_custom_resources(self, crd: Obj) -> None:
        """A deleted CRD's resources go with it; its kinds are no longer served."""
        spec = crd.get("spec") or {}
        key = f"{(spec.get('names') or {}).get('plural', '')}.{spec.get('group', '')}"
        for watcher in list(self._watchers.get(key, ())):
            watcher.close()
        for store in (self._data, self._history, self._floor, self._watchers):
            store.pop(key, None)
        self._serve_custom_resources()

    def _serve_custom_resources(self) -> None:
        """Serve every CRD's versions: a new registry, storage for new kinds (crds.py)."""
        from devstack.apiserver import crds

        self.registry = crds.registry_for(list(self._data["customresourcedefinitions"].values()))
        for key in self.registry.storage_keys():
            if key not in self._data:
                self._data[key] = {}
                self._history[key] = deque()
                self._floor[key] = self._rv
                self._watchers[key] = set()

    def _publish(self, rt: ResourceType, ev: WatchEvent) -> None:
        hist = self._history[rt.key]
        hist.append(ev)
        while len(hist) > self.history_size:
            self._floor[rt.key] = hist.popleft().rv
        for watcher in list(self._watchers[rt.key]):
            watcher.offer(ev)

    # ---- continue tokens -------------------------------------------------------------

    @staticmethod
    def encode_continue(rv: int, last: Obj) -> str:
        """An opaque continue token after `last`."""
        md = last["metadata"]
        raw = json.dumps(
            {
                "v": "meta.k8s.io/v1",
                "rv": rv,
                "start": f"{md.get('namespace', '')}/{md['name']}\x00",
            }
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def decode_continue(token: str) -> tuple[int, str]:
        """(rv, start key) from a continue token; 400 when malformed."""
        try:
            pad = "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(token + pad))
            return int(data["rv"]), str(data["start"])
        except (ValueError, KeyError, TypeError):
            raise bad_request(
                "continue key is not valid: illegal base64 data at input byte 0"
            ) from None


def _spec_changed(old: Obj, new: Obj) -> bool:
    skip = ("metadata", "status", "kind", "apiVersion")
    keys = (set(old) | set(new)) - set(skip)
    return any(old.get(k) != new.get(k) for k in keys)
