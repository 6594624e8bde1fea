"""The base request handler: Hub identity (token or OAuth cookie), JSON bodies and errors."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from jupyterhub.services.auth import HubOAuthenticated
from sqlalchemy import exc as sql_errors
from tornado import web

from ..contract import ContractError, Wire
from .auth import Principal

W = TypeVar("W", bound=Wire)

# Errors that mean the store cannot be reached now, not that the request was wrong.
STORE_UNAVAILABLE = (
    sql_errors.OperationalError,
    sql_errors.InterfaceError,
    sql_errors.TimeoutError,
)
STORE_RETRY_SECONDS = 30
# The largest JSON body any endpoint reads (an activity report of 64 devices is ~15 KiB).
MAX_BODY_BYTES = 64 * 1024


class APIError(web.HTTPError):
    """An error whose message is a sentence for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    """Identifies the caller once per request, asynchronously."""

    principal: Principal | None = None
    _hub_model: dict[str, Any] | None = None

    @property
    def core(self) -> Any:
        return self.settings["accelhub_core"]

    @property
    def app(self) -> Any:
        return self.settings["accelhub_app"]

    async def prepare(self) -> None:
        model = await self.hub_auth.get_user(self, sync=False)
        self._hub_model = model
        if model:
            self.principal = Principal.from_model(model, self.app.service_name)

    def get_current_user(self) -> dict[str, Any] | None:
        return self._hub_model

    def need_principal(self) -> Principal:
        if self.principal is None:
            raise APIError(401, "Log in or send a JupyterHub token.")
        return self.principal


class APIHandler(BaseHandler):
    """JSON in, JSON out; errors are {"message": sentence}."""

    def check_xsrf_cookie(self) -> None:
        if getattr(self, "_token_authenticated", False):
            return
        super().check_xsrf_cookie()

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc_info = kwargs.get("exc_info")
        if exc_info is not None:
            error = exc_info[1]
            if isinstance(error, APIError):
                message = error.message
            elif isinstance(error, web.HTTPError) and error.log_message:
                message = error.log_message % error.args if error.args else error.log_message
            elif isinstance(error, STORE_UNAVAILABLE):
                self.set_status(503)
                self.set_header("Retry-After", str(STORE_RETRY_SECONDS))
                message = (
                    "The accelhub service cannot reach its database right now; nothing was "
                    f"changed. Try again in {STORE_RETRY_SECONDS} seconds."
                )
            elif status_code >= 500:
                message = "The accelhub service hit an internal error; it has been logged."
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))

    def forbid(self, message: str) -> APIError:
        return APIError(403, message)

    def body_json(self, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
        body = self.request.body or b"null"
        if len(body) > limit:
            raise APIError(413, f"The request body is larger than {limit} bytes.")
        try:
            data = json.loads(body)
        except RecursionError:
            raise APIError(400, "The request body is nested too deeply.") from None
        except (ValueError, UnicodeDecodeError):
            raise APIError(400, "The request body is not valid JSON (UTF-8).") from None
        if not isinstance(data, dict):
            raise APIError(400, "The request body must be a JSON object.")
        if not storable(data):
            raise APIError(
                400, "The request body holds text that cannot be stored (a NUL or lone surrogate)."
            )
        return data

    def body_as(self, wire_type: type[W], limit: int = MAX_BODY_BYTES) -> W:
        """The body as a wire type of the contract, or a 422 sentence saying what is wrong."""
        try:
            return wire_type.parse(self.body_json(limit))
        except ContractError as error:
            raise APIError(422, str(error)) from None


def storable(data: Any) -> bool:
    """True unless some string (key or value) holds a NUL or an unpaired surrogate, which
    neither PostgreSQL nor UTF-8 can hold. Iterative: the nesting depth does not matter."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def field(
    data: dict[str, Any],
    name: str,
    kind: type,
    default: Any = ...,
    nonempty: bool = False,
    max_length: int | None = None,
) -> Any:
    """A typed field of a JSON body, or a 422 sentence saying what is wrong."""
    if name not in data or data[name] is None:
        if default is ...:
            raise APIError(422, f"The field {name!r} is required.")
        return default
    value = data[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise APIError(422, f"The field {name!r} must be an integer.")
    if kind is not int and not isinstance(value, kind):
        raise APIError(422, f"The field {name!r} must be a {kind.__name__}.")
    if nonempty and not value:
        raise APIError(422, f"The field {name!r} must not be empty.")
    if max_length is not None and len(value) > max_length:
        raise APIError(422, f"The field {name!r} is longer than {max_length} characters.")
    return value
