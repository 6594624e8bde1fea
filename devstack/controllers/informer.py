"""A list-then-watch cache of one resource that survives closed watches and 410s."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from devstack.apiserver.errors import ApiError

Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]
log = logging.getLogger(__name__)


def obj_key(obj: Obj) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{ns}/{md.get('name', '')}" if ns else str(md.get("name", ""))


class Informer:
    """Keeps `objects` current and calls `handler(type, obj)` for every change.

    After a relist (first start, or a watch that ended) the handler sees the
    difference with the cache as ADDED / MODIFIED / DELETED, like a reflector's replace.
    The handler runs synchronously on the loop and must not block.
    """

    def __init__(
        self,
        store: Any,
        resource: str,
        handler: Handler,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self.store = store
        self.resource = resource
        self.handler = handler
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.objects: dict[str, Obj] = {}
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start listing and watching in the background."""
        self._task = asyncio.create_task(self._run(), name=f"informer-{self.resource}")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _emit(self, etype: str, obj: Obj) -> None:
        try:
            self.handler(etype, obj)
        except Exception:  # a handler bug must not kill the informer
            log.exception("%s handler failed on %s %s", self.resource, etype, obj_key(obj))

    def _replace(self, items: list[Obj]) -> None:
        fresh = {obj_key(o): o for o in items}
        for key, gone in list(self.objects.items()):
            if key not in fresh:
                del self.objects[key]
                self._emit("DELETED", gone)
        for key, obj in fresh.items():
            old = self.objects.get(key)
            self.objects[key] = obj
            if old is None:
                self._emit("ADDED", obj)
            elif old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit("MODIFIED", obj)

    async def _run(self) -> None:
        while True:
            try:
                items, rv = self.store.list(
                    self.resource,
                    namespace=self.namespace,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                )
                self._replace(items)
                self.synced.set()
                async for etype, obj in self.store.watch(
                    self.resource,
                    namespace=self.namespace,
                    resource_version=str(rv),
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                ):
                    key = obj_key(obj)
                    if etype == "DELETED":
                        self.objects.pop(key, None)
                    elif etype in ("ADDED", "MODIFIED"):
                        self.objects[key] = obj
                    else:
                        continue
                    self._emit(etype, obj)
            except ApiError as exc:
                if exc.status != 410:
                    log.warning("%s watch failed: %s", self.resource, exc)
                    await asyncio.sleep(0.5)
            except Exception:  # keep watching whatever happens; the cause is logged
                log.exception("%s watch failed", self.resource)
                await asyncio.sleep(0.5)
            await asyncio.sleep(0.05)
