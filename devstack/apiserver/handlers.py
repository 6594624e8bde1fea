"""Tornado handlers for the REST API: CRUD, subresources, lists, watches and logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import parse_qs

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from devstack.apiserver import bodies, gojson, protobuf, rbac, scale, schemas, tables
from devstack.apiserver.authn import authenticate
from devstack.apiserver.errors import ApiError, bad_request, method_not_allowed, unauthorized
from devstack.apiserver.events_v1 import to_events_v1
from devstack.apiserver.registry import REVIEWS, ResourceType
from devstack.apiserver.reviews import review_answer
from devstack.apiserver.serviceaccounts import token_request
from devstack.apiserver.store import ObjectStore
from devstack.apiserver.tokens import ADMIN
from devstack.apiserver.watch import Transform, Watcher

Obj = dict[str, Any]
_NOT_FOUND = ApiError(404, "NotFound", "the server could not find the requested resource")
# Kinds whose DELETE answers a Status rather than the deleted object.
_STATUS_ON_DELETE = {
    "configmaps",
    "secrets",
    "events",
    "priorityclasses",
    "leases",
    "serviceaccounts",
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
}


class ApiSettings:
    """Settings every handler reads (set once by the server)."""

    def __init__(
        self,
        store: ObjectStore,
        token: str | None,
        bookmark_interval: float,
        watch_timeout: float,
        address: str,
    ) -> None:
        self.store = store
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.address = address


class BaseHandler(RequestHandler):
    """JSON answers, `Status` errors and bearer-token authentication."""

    anonymous_ok = False

    def initialize(self, api: ApiSettings) -> None:
        self.api = api
        self.store = api.store

    def check_xsrf_cookie(self) -> None:
        """API clients do not use cookies."""

    def prepare(self) -> None:
        self.user = ADMIN
        if self.api.token and not self.anonymous_ok:
            header = self.request.headers.get("Authorization", "")
            user = authenticate(header, self.api.token, self.store)
            if user is None:
                raise _Handled(unauthorized())
            self.user = user

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-cache, private")
        self.clear_header("Server")

    def query(self) -> dict[str, list[str]]:
        """Query arguments as str lists."""
        return parse_qs(self.request.query, keep_blank_values=True)

    def arg(self, name: str) -> str | None:
        """Last value of a query argument."""
        values = self.query().get(name)
        return values[-1] if values else None

    def send_json(self, obj: Any, status: int = 200, content_type: str | None = None) -> None:
        """Answer with a JSON document."""
        self.set_status(status)
        if content_type:
            self.set_header("Content-Type", content_type)
        body = obj if isinstance(obj, bytes) else gojson.encode(obj)
        self.finish(body)

    def send_error_status(self, err: ApiError) -> None:
        """Answer with the Status object of an ApiError."""
        if self._finished:
            return
        self.clear()
        self.set_status(err.status)
        if err.retry_after is not None:
            self.set_header("Retry-After", str(err.retry_after))
        self.finish(err.status_body())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if isinstance(exc, _Handled):
            self.send_error_status(exc.error)
            return
        if isinstance(exc, ApiError):
            self.send_error_status(exc)
            return
        if status_code == 405:
            err = method_not_allowed()
        elif status_code == 404:
            err = _NOT_FOUND
        elif status_code < 500:
            err = ApiError(status_code, "BadRequest", self._reason or "bad request")
        else:
            err = ApiError(
                500,
                "InternalError",
                f"Internal error occurred: {exc!s}" if exc else "Internal error",
            )
        self.send_error_status(err)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, (_Handled, ApiError)):
            return
        super().log_exception(typ, value, tb)


class _Handled(Exception):
    """Carries an ApiError out of `prepare`."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


class NotFoundHandler(BaseHandler):
    """Everything not routed: 404 Status."""

    async def get(self, *_args: str) -> None:
        self.send_error_status(_NOT_FOUND)

    post = put = patch = delete = get


def _encode_list_item(rt: ResourceType, obj: Obj) -> Obj:
    # Items of typed lists carry no kind/apiVersion, as on a real server.
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


class ResourceHandler(BaseHandler):
    """`/api/v1/...` and `/apis/<group>/<version>/...` for every registered type."""

    async def _dispatch(self, method: str, group: str, version: str, rest: str) -> None:
        try:
            await self._route(method, group, version, rest)
        except ApiError as err:
            self.send_error_status(err)

    async def get(self, group: str, version: str, rest: str) -> None:
        await self._dispatch("GET", group, version, rest)

    async def post(self, group: str, version: str, rest: str) -> None:
        await self._dispatch("POST", group, version, rest)

    async def put(self, group: str, version: str, rest: str) -> None:
        await self._dispatch("PUT", group, version, rest)

    async def patch(self, group: str, version: str, rest: str) -> None:
        await self._dispatch("PATCH", group, version, rest)

    async def delete(self, group: str, version: str, rest: str) -> None:
        await self._dispatch("DELETE", group, version, rest)

    # ---- routing ---------------------------------------------------------------------

    async def _route(self, method: str, group: str, version: str, rest: str) -> None:
        group = "" if group == "core" else group
        parts = rest.split("/") if rest else []
        if any(p == "" for p in parts) or not parts:
            raise _NOT_FOUND
        watch_path = False
        if parts[0] == "watch":
            watch_path = True
            parts = parts[1:]
        if not parts:
            raise _NOT_FOUND
        registry = self.store.registry
        namespace: str | None = None
        if (
            parts[0] == "namespaces"
            and len(parts) >= 3
            and (rt0 := registry.by_path(group, version, parts[2])) is not None
            and rt0.namespaced
        ):
            namespace = parts[1]
            parts = parts[2:]
        rt = registry.by_path(group, version, parts[0])
        if rt is None or len(parts) > 3:
            raise _NOT_FOUND
        if namespace is None and rt.namespaced and len(parts) > 1:
            raise _NOT_FOUND
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        if sub is not None and sub not in rt.subresources:
            raise _NOT_FOUND
        if not self.user.is_admin:
            verb = self._verb(method, name, watch_path)
            rbac.authorize(
                self.store,
                self.user,
                rbac.Request(verb, rt.group, rt.plural, sub or "", namespace or "", name or ""),
            )
        if watch_path:
            if method != "GET" or sub is not None:
                raise method_not_allowed()
            await self._watch(rt, namespace, name)
            return
        if name is None:
            await self._collection(method, rt, namespace)
        elif sub is None:
            await self._item(method, rt, namespace, name)
        else:
            await self._subresource(method, rt, namespace, name, sub)

    def _verb(self, method: str, name: str | None, watch_path: bool) -> str:
        """The RBAC verb of a request."""
        if method == "GET":
            if watch_path or (name is None and bodies.parse_bool(self.arg("watch"), "watch")):
                return "watch"
            return "get" if name is not None else "list"
        if method == "DELETE":
            return "delete" if name is not None else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())

    def _require(self, rt: ResourceType, verb: str) -> None:
        if verb not in rt.verbs:
            raise method_not_allowed()

    # ---- collections -----------------------------------------------------------------

    async def _collection(self, method: str, rt: ResourceType, ns: str | None) -> None:
        if method == "GET":
            if bodies.parse_bool(self.arg("watch"), "watch"):
                await self._watch(rt, ns, None)
            else:
                self._list(rt, ns)
        elif method == "POST":
            self._require(rt, "create")
            if rt.namespaced and ns is None:
                raise method_not_allowed()
            await self._create(rt, ns)
        elif method == "DELETE":
            self._require(rt, "deletecollection")
            if rt.namespaced and ns is None:
                raise method_not_allowed()
            await self._delete_collection(rt, ns)
        else:
            raise method_not_allowed()

    def _list(self, rt: ResourceType, ns: str | None) -> None:
        items, rv = self.store.list_raw(
            rt.plural, ns, self.arg("labelSelector"), self._field_selector(rt)
        )
        limit = bodies.parse_int(self.arg("limit"), "limit")
        token = self.arg("continue")
        list_meta: Obj = {"resourceVersion": str(rv)}
        if token:
            _rv, start = self.store.decode_continue(token)
            items = [
                o
                for o in items
                if f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}\x00" > start
            ]
        if limit and limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            list_meta["continue"] = self.store.encode_continue(rv, items[-1])
            list_meta["remainingItemCount"] = remaining
        transform = self._transform(rt)
        if transform is not None:
            items = [transform(o) for o in items]
        if tables.wants_table(self.request.headers.get("Accept")):
            table = tables.to_table(
                rt.kind, items, str(rv), self.arg("includeObject") or "", list_meta
            )
            self.send_json(table)
            return
        body = {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": list_meta,
            "items": [_encode_list_item(rt, o) for o in items],
        }
        self.send_json(body)

    def _field_selector(self, rt: ResourceType) -> str | None:
        return self.arg("fieldSelector")

    def _transform(self, rt: ResourceType) -> Transform | None:
        if rt.group == "events.k8s.io":
            return to_events_v1
        return None

    async def _create(self, rt: ResourceType, ns: str | None) -> None:
        opts = bodies.write_options(self.query())
        if rt.plural in REVIEWS:
            ctype = bodies.media_type(self.request.headers.get("Content-Type"))
            # Protobuf reviews decode when devstack knows their message (access reviews).
            review = (
                self._decode_object(rt, opts)
                if ctype != "application/vnd.kubernetes.protobuf"
                or protobuf.message_for(rt.api_version, rt.kind)
                else {}
            )
            self.send_json(review_answer(self.store, rt, review, self.user), 201)
            return
        obj = self._decode_object(rt, opts)
        created = await self.store.create(rt.plural, obj, ns, dry_run=opts.dry_run, internal=False)
        self._send_obj(rt, created, 201)

    def _decode_object(self, rt: ResourceType, opts: bodies.WriteOptions) -> Obj:
        obj = bodies.decode_object(self.request.body, self.request.headers.get("Content-Type"))
        bodies.check_type_meta(rt, obj)
        if rt.group == "events.k8s.io":
            from devstack.apiserver.events_v1 import from_events_v1

            obj = from_events_v1(obj)
        self._check_unknown(rt, obj, opts)
        return obj

    def _check_unknown(self, rt: ResourceType, obj: Obj, opts: bodies.WriteOptions) -> None:
        if rt.group == "events.k8s.io":
            return
        schema = schemas.kind_schema(rt.group, rt.version, rt.kind)
        if not schema:
            return
        unknown = bodies.unknown_fields(obj, schema)
        if not unknown:
            return
        if opts.field_validation == "Strict":
            raise bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown)
            )
        if opts.field_validation == "Warn":
            for u in unknown:
                self.add_header("Warning", f'299 - "unknown field \\"{u}\\""')
        bodies.drop_fields(obj, unknown)

    def _send_obj(self, rt: ResourceType, obj: Obj, status: int = 200) -> None:
        transform = self._transform(rt)
        if transform is not None:
            obj = transform(obj)
        if tables.wants_table(self.request.headers.get("Accept")):
            self.send_json(
                tables.to_table(
                    rt.kind,
                    [obj],
                    obj["metadata"].get("resourceVersion", ""),
                    self.arg("includeObject") or "",
                ),
                status,
            )
            return
        self.send_json(obj, status)

    async def _delete_collection(self, rt: ResourceType, ns: str | None) -> None:
        opts = bodies.write_options(self.query())
        grace, policy, _pre = self._delete_options()
        deleted = await self.store.delete_collection(
            rt.plural,
            ns,
            self.arg("labelSelector"),
            self.arg("fieldSelector"),
            grace,
            policy,
            dry_run=opts.dry_run,
        )
        self.send_json(
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": [_encode_list_item(rt, o) for o in deleted],
            }
        )

    # ---- items -----------------------------------------------------------------------

    async def _item(self, method: str, rt: ResourceType, ns: str | None, name: str) -> None:
        plural = rt.plural
        if method == "GET":
            self._require(rt, "get")
            self._send_obj(rt, self.store.get_raw(plural, name, ns))
        elif method == "PUT":
            self._require(rt, "update")
            opts = bodies.write_options(self.query())
            obj = self._decode_object(rt, opts)
            self._check_name(obj, name)
            updated = await self.store.replace(
                plural, obj, ns, dry_run=opts.dry_run, internal=False
            )
            self._send_obj(rt, updated)
        elif method == "PATCH":
            self._require(rt, "patch")
            await self._patch(rt, ns, name, None)
        elif method == "DELETE":
            self._require(rt, "delete")
            opts = bodies.write_options(self.query())
            grace, policy, pre = self._delete_options()
            result = await self.store.delete(
                plural,
                name,
                ns,
                grace,
                policy,
                preconditions=pre,
                dry_run=opts.dry_run,
                internal=False,
            )
            assert result is not None
            still_there = (
                not opts.dry_run and self.store._data[rt.key].get((ns or "", name)) is not None
            )
            if plural in _STATUS_ON_DELETE and not still_there:
                md = result["metadata"]
                self.send_json(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {
                            "name": name,
                            **({"group": rt.group} if rt.group else {}),
                            "kind": plural,
                            "uid": md.get("uid"),
                        },
                    }
                )
                return
            self._send_obj(rt, result, 202 if still_there else 200)
        elif method == "POST":
            raise method_not_allowed()
        else:
            raise method_not_allowed()

    def _check_name(self, obj: Obj, name: str) -> None:
        md = obj.setdefault("metadata", {})
        if md.get("name") and md["name"] != name:
            raise bad_request(
                f"the name of the object ({md['name']}) does not match the name on the URL ({name})"
            )
        md["name"] = name

    async def _patch(self, rt: ResourceType, ns: str | None, name: str, sub: str | None) -> None:
        opts = bodies.write_options(self.query())
        patch, ctype = bodies.decode_patch(
            self.request.body, self.request.headers.get("Content-Type")
        )
        if ctype.startswith("application/apply-patch") and isinstance(patch, dict):
            self._check_unknown(rt, patch, opts)
        elif ctype != "application/json-patch+json" and isinstance(patch, dict):
            self._check_unknown_patch(rt, patch, opts)
        if rt.group == "events.k8s.io":
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "patching events.k8s.io/v1 events is not supported by devstack; use core/v1 events",
            )
        result = await self.store.patch(
            rt.plural,
            name,
            patch,
            ctype,
            ns,
            sub,
            dry_run=opts.dry_run,
            field_manager=opts.field_manager,
            force=opts.force,
            internal=False,
        )
        self._send_obj(rt, result)

    def _check_unknown_patch(self, rt: ResourceType, patch: Obj, opts: bodies.WriteOptions) -> None:
        if opts.field_validation != "Strict":
            return
        schema = schemas.kind_schema(rt.group, rt.version, rt.kind)
        if not schema:
            return
        clean = {k: v for k, v in patch.items() if not k.startswith("$")}
        unknown = [u for u in bodies.unknown_fields(clean, schema) if "$" not in u]
        if unknown:
            raise bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown)
            )

    def _delete_options(self) -> tuple[int | None, str | None, Obj | None]:
        grace = bodies.parse_int(self.arg("gracePeriodSeconds"), "gracePeriodSeconds")
        policy = self.arg("propagationPolicy")
        orphan = self.arg("orphanDependents")
        pre: Obj | None = None
        if self.request.body and self.request.body.strip():
            body = bodies.decode_object(self.request.body, self.request.headers.get("Content-Type"))
            if body.get("gracePeriodSeconds") is not None:
                if not isinstance(body["gracePeriodSeconds"], int):
                    raise bad_request(
                        "json: cannot unmarshal into Go struct field "
                        "DeleteOptions.gracePeriodSeconds of type int64"
                    )
                grace = body["gracePeriodSeconds"]
            if body.get("propagationPolicy"):
                policy = body["propagationPolicy"]
            if body.get("orphanDependents") is not None:
                orphan = "true" if body["orphanDependents"] else "false"
            if isinstance(body.get("preconditions"), dict):
                pre = body["preconditions"]
        if policy is None and orphan is not None:
            policy = "Orphan" if bodies.parse_bool(orphan) else "Background"
        if policy is not None and not isinstance(policy, str):
            raise bad_request(
                "json: cannot unmarshal into Go struct field "
                "DeleteOptions.propagationPolicy of type string"
            )
        return grace, policy, pre

    # ---- subresources ----------------------------------------------------------------

    async def _subresource(
        self, method: str, rt: ResourceType, ns: str | None, name: str, sub: str
    ) -> None:
        if sub == "status":
            if method == "GET":
                self._send_obj(rt, self.store.get_raw(rt.plural, name, ns))
            elif method == "PUT":
                opts = bodies.write_options(self.query())
                obj = self._decode_object(rt, opts)
                self._check_name(obj, name)
                self._send_obj(
                    rt,
                    await self.store.replace(
                        rt.plural, obj, ns, "status", dry_run=opts.dry_run, internal=False
                    ),
                )
            elif method == "PATCH":
                await self._patch(rt, ns, name, "status")
            else:
                raise method_not_allowed()
        elif sub == "log" and method == "GET":
            from devstack.apiserver.podlogs import serve_logs

            await serve_logs(self, ns or "default", name)
        elif sub == "binding" and method == "POST":
            body = bodies.decode_object(self.request.body, self.request.headers.get("Content-Type"))
            target = body.get("target") or {}
            node = target.get("name") if isinstance(target, dict) else None
            if not node:
                raise ApiError(
                    422, "Invalid", f'Binding.core "{name}" is invalid: target.name: Required value'
                )
            await self.store.bind_pod(ns or "default", name, str(node))
            self.send_json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
                201,
            )
        elif sub == "scale":
            await self._scale(method, rt, ns, name)
        elif sub == "token" and method == "POST":
            body = bodies.decode_object(self.request.body, self.request.headers.get("Content-Type"))
            self.send_json(token_request(self.store, ns or "default", name, body), 201)
        elif sub == "eviction" and method == "POST":
            body = bodies.decode_object(self.request.body, self.request.headers.get("Content-Type"))
            options = body.get("deleteOptions") or {}
            await self.store.delete(
                "pods", name, ns, options.get("gracePeriodSeconds"), internal=False
            )
            self.send_json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
                201,
            )
        elif sub == "finalize" and method == "PUT":
            obj = bodies.decode_object(self.request.body, self.request.headers.get("Content-Type"))
            current = self.store.get_raw(rt.plural, name, ns)
            new = json.loads(json.dumps(current))
            new["spec"] = obj.get("spec") or {}
            self._send_obj(rt, await self.store.replace(rt.plural, new, ns, internal=False))
        else:
            raise method_not_allowed()

    async def _scale(self, method: str, rt: ResourceType, ns: str | None, name: str) -> None:
        current = self.store.get_raw(rt.plural, name, ns)
        if method == "GET":
            self.send_json(scale.scale_of(rt, current))
            return
        if method == "PUT":
            body: Any = bodies.decode_object(
                self.request.body, self.request.headers.get("Content-Type")
            )
        elif method == "PATCH":
            body, ctype = bodies.decode_patch(
                self.request.body, self.request.headers.get("Content-Type")
            )
            if ctype == "application/json-patch+json":
                from devstack.apiserver import patch as patching

                body = patching.json_patch(scale.scale_of(rt, current), body)
        else:
            raise method_not_allowed()
        replicas = scale.wanted_replicas(body)
        updated = await self.store.patch(
            rt.plural, name, {"spec": {"replicas": replicas}}, "merge", namespace=ns
        )
        self.send_json(scale.scale_of(rt, updated))

    # ---- watch -----------------------------------------------------------------------

    async def _watch(self, rt: ResourceType, ns: str | None, name: str | None) -> None:
        field_selector = self.arg("fieldSelector")
        if name is not None:
            extra = f"metadata.name={name}"
            field_selector = f"{field_selector},{extra}" if field_selector else extra
        timeout = bodies.parse_int(self.arg("timeoutSeconds"), "timeoutSeconds")
        bookmarks = bodies.parse_bool(self.arg("allowWatchBookmarks"))
        send_initial_raw = self.arg("sendInitialEvents")
        send_initial = bodies.parse_bool(send_initial_raw) if send_initial_raw is not None else None
        if send_initial and self.arg("resourceVersionMatch") not in ("NotOlderThan",):
            raise ApiError(
                422,
                "Invalid",
                'ListOptions.meta.k8s.io "" is invalid: '
                "resourceVersionMatch: Forbidden: sendInitialEvents requires "
                "setting resourceVersionMatch to NotOlderThan",
            )
        transform = self._transform(rt)
        table = tables.wants_table(self.request.headers.get("Accept"))
        include = self.arg("includeObject") or ""
        try:
            watcher = self.store.open_watch(
                rt.plural,
                ns,
                self.arg("resourceVersion"),
                self.arg("labelSelector"),
                field_selector,
                send_initial_events=send_initial,
            )
        except ApiError as err:
            if err.status != 410:
                raise
            self.set_status(200)
            self.finish(err.watch_event())
            return
        self._watcher = watcher
        initial_left = len(watcher.queue) if watcher.initial_end_rv is not None else -1
        self.set_status(200)
        if table:
            self.set_header("Content-Type", "application/json;as=Table;v=v1;g=meta.k8s.io")
        try:
            await self.flush()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (
                timeout if timeout and timeout > 0 else self.api.watch_timeout
            )
            if initial_left == 0:
                await self._bookmark(rt, watcher.initial_end_rv or 0, True)
                initial_left = -1
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                wait = min(remaining, self.api.bookmark_interval) if bookmarks else remaining
                item = await watcher.next(wait)
                if item is None:
                    if watcher.closed:
                        break
                    if bookmarks and not watcher.queue:
                        await self._bookmark(rt, self.store.resource_version, False)
                    continue
                sent = 0
                while item is not None:
                    etype, ev = item
                    if table:
                        obj = transform(ev.obj) if transform else ev.obj
                        self.write(
                            gojson.encode(
                                {
                                    "type": etype,
                                    "object": tables.to_table(
                                        rt.kind,
                                        [obj],
                                        obj["metadata"].get("resourceVersion", ""),
                                        include,
                                    ),
                                }
                            )
                        )
                    else:
                        self.write(ev.encode(etype, transform))
                    sent += 1
                    if initial_left > 0:
                        initial_left -= 1
                        if initial_left == 0:
                            break
                    if sent >= 500 or not watcher.queue:
                        break
                    item = watcher.queue.popleft()
                await self.flush()
                if initial_left == 0:
                    await self._bookmark(rt, watcher.initial_end_rv or 0, True)
                    initial_left = -1
        except StreamClosedError:
            pass
        finally:
            watcher.close()
        if not self._finished:
            with contextlib.suppress(StreamClosedError):
                self.finish()

    async def _bookmark(self, rt: ResourceType, rv: int, initial_end: bool) -> None:
        md: Obj = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        self.write(
            gojson.encode(
                {
                    "type": "BOOKMARK",
                    "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": md},
                }
            )
        )
        await self.flush()

    def on_connection_close(self) -> None:
        watcher: Watcher | None = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.close()
