"""Offload routes of the user server: sites, jobs, cancel, fetch, and the events WebSocket.

Each REST handler finds (through the gateway client), checks, changes, and answers; the
service's refusals are answered with its status and its sentence, word for word.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web, websocket

from hub_ext.contract import SETUP_POLICIES, ContractError, JobRequest

from ..handlers.health import AUTH_RESOURCE
from .client import ServiceError
from .paths import PathError, api_path, confine, copy_path
from .service import SETTINGS_KEY, Offload


def _offload(handler: web.RequestHandler) -> Offload:
    return cast(Offload, handler.settings[SETTINGS_KEY])


class OffloadHandler(APIHandler):
    """Shared plumbing: errors as sentences, the notebook read and written in the root."""

    auth_resource = AUTH_RESOURCE

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"message": message}))

    async def _call(self, call: Any) -> Any:
        try:
            return await call
        except ServiceError as error:
            raise _Refused(error.status, error.message) from None

    def _root_file(self, path: str) -> None:
        root = getattr(self.contents_manager, "root_dir", None)
        if root:
            confine(root, path)

    async def _read_notebook(self, raw: object) -> tuple[str, dict[str, Any]]:
        path = api_path(raw)
        self._root_file(path)
        manager = self.contents_manager
        if not await ensure_async(manager.file_exists(path)):
            raise PathError(f"There is no notebook {path!r} on this server.", 404)
        model = await ensure_async(manager.get(path, content=True, type="notebook"))
        return path, json.loads(json.dumps(model["content"]))

    async def _write_copy(self, path: str, notebook: dict[str, Any]) -> str:
        self._root_file(path)
        root = getattr(self.contents_manager, "root_dir", None)
        if root:
            target = confine(root, path)
            if target.is_symlink():
                raise PathError(f"{path!r} is a symbolic link; the copy is not written.", 409)
        model = {"type": "notebook", "format": "json", "content": notebook}
        await ensure_async(self.contents_manager.save(model, path))
        return path

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if isinstance(error, _Refused | PathError):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": str(error)}))
            return
        super().write_error(status_code, **kwargs)


class _Refused(web.HTTPError):
    """An answer that is a service refusal or a path refusal: status and sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status if 400 <= status < 600 else 502)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _bad(message: str) -> _Refused:
    return _Refused(400, message)


def _json_object(handler: web.RequestHandler) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty), or a 400 saying what is wrong."""
    try:
        body = json.loads(handler.request.body or b"{}")
    except ValueError:
        raise _bad("The request body must be JSON.") from None
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    return body


def _path_refused(error: PathError) -> _Refused:
    return _Refused(error.status, str(error))


class SitesHandler(OffloadHandler):
    """``GET /accelhub/api/offload/sites[?flavor=slug]``: the service's sites, as it sees them,
    the flavors this user may use and, for ``flavor``, the site Automatic would pick and why."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        flavor = self.get_query_argument("flavor", "") or None
        self.finish(json.dumps(await self._call(_offload(self).client.sites(flavor))))


class JobsHandler(OffloadHandler):
    """``GET`` this user's jobs; ``POST`` a notebook (or one of its cells) to a site."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        jobs = await self._call(_offload(self).client.jobs())
        self.finish(json.dumps({"jobs": jobs}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = _json_object(self)
        fields = {k: v for k, v in body.items() if k not in ("path", "notebook", "name")}
        try:
            request = JobRequest.parse({**fields, "notebook": {}})
        except ContractError as error:
            raise _bad(str(error)) from None
        if request.setup not in SETUP_POLICIES:
            raise _bad('setup must be "tagged" or "above".')
        try:
            path, notebook = await self._read_notebook(body.get("path"))
        except PathError as error:
            raise _path_refused(error) from None
        request = dataclasses.replace(request, notebook=notebook, name=path)
        job = await self._call(_offload(self).client.submit(request.to_json()))
        self.set_status(201)
        self.finish(json.dumps(job))


class JobHandler(OffloadHandler):
    """``GET`` one job; ``DELETE`` cancels it (the service deletes its pod on the site)."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.finish(json.dumps(await self._call(_offload(self).client.job(job_id))))

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        self.finish(json.dumps(await self._call(_offload(self).client.cancel(job_id))))


class RerunHandler(OffloadHandler):
    """``POST .../jobs/{id}/rerun``: the same notebook, parameters, flavor and site again."""

    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        job = await self._call(_offload(self).client.rerun(job_id))
        self.set_status(201)
        self.finish(json.dumps(job))


def _cell(notebook: dict[str, Any], cell_id: str) -> dict[str, Any] | None:
    for cell in notebook.get("cells", []):
        if isinstance(cell, dict) and cell.get("id") == cell_id:
            return cell
    return None


class FetchHandler(OffloadHandler):
    """``POST .../jobs/{id}/fetch``: the executed notebook beside the original, or a cell's outputs.

    Body (optional): ``{"path": "dir/analysis.ipynb"}``, the original to write beside;
    by default the path the job was submitted from (its ``name``).
    """

    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        body = _json_object(self)
        client = _offload(self).client
        job = await self._call(client.job(job_id))
        notebook = await self._call(client.result(job_id))
        if job.get("cell_id"):
            cell = _cell(notebook, job["cell_id"])
            if cell is None:
                raise _Refused(502, f"The job's result holds no cell with id {job['cell_id']!r}.")
            self.finish(
                json.dumps(
                    {
                        "job": job,
                        "cell_id": job["cell_id"],
                        "execution_count": cell.get("execution_count"),
                        "outputs": cell.get("outputs", []),
                    }
                )
            )
            return
        try:
            original = api_path(body.get("path") or job.get("name"))
            target = copy_path(original, str(job.get("site") or "site"), job["id"])
            await self._write_copy(target, notebook)
        except PathError as error:
            raise _path_refused(error) from None
        self.finish(json.dumps({"job": job, "path": target}))


class EventsHandler(WebSocketMixin, JupyterHandler, websocket.WebSocketHandler):
    """``.../jobs/{id}/events?after=N&stream=S``: the job's numbered events, then close.

    Frames: ``{"type": "hello", "stream", "first", "last", "reset"}`` once, then events
    ``{"seq", "type": "state"|"progress"|"log"|"error"|"end", ...}``; the socket closes
    after ``end``.
    """

    auth_resource = AUTH_RESOURCE

    async def pre_get(self) -> None:
        """Authorise like the REST routes, then find the job through the service."""
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)
        raw = self.get_query_argument("after", "0")
        try:
            self._after = int(raw)
        except ValueError:
            raise web.HTTPError(400, "after must be a whole number.") from None
        offload = _offload(self)
        try:
            job = await offload.client.job(self.path_kwargs["job_id"])
        except ServiceError as error:
            raise _Refused(error.status, error.message) from None
        self._feed = offload.feeds.get(job)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Refusals before the upgrade are JSON sentences, like the REST routes'."""
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if isinstance(error, web.HTTPError):
            message = str(error) if isinstance(error, _Refused) else (error.log_message or "")
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": message or self._reason}))
            return
        super().write_error(status_code, **kwargs)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.pre_get()
        result = super().get(*args, **kwargs)
        if result is not None:
            await result

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        feed = self._feed
        if self.get_query_argument("stream", feed.stream) != feed.stream:
            self._after = 0
            reset = True
        else:
            reset = False
        first = feed.events[0]["seq"] if feed.events else feed.seq + 1
        self._send(
            {
                "type": "hello",
                "stream": feed.stream,
                "first": first,
                "last": feed.seq,
                "reset": reset,
            }
        )
        self._token: int | None = feed.subscribe(self._flush)
        self._flush()

    def _flush(self) -> None:
        for event in self._feed.since(self._after):
            self._after = event["seq"]
            if not self._send(event):
                return
            if event["type"] == "end":
                self._leave()
                self.close(1000)
                return

    def _send(self, frame: dict[str, Any]) -> bool:
        try:
            self.write_message(json.dumps(frame))
        except websocket.WebSocketClosedError:
            self._leave()
            return False
        return True

    def _leave(self) -> None:
        token = getattr(self, "_token", None)
        if token is not None:
            self._feed.unsubscribe(token)
            self._token = None

    def on_message(self, message: str | bytes) -> None:
        """Clients only listen; anything they send is ignored."""

    def on_close(self) -> None:
        self._leave()
        super().on_close()
