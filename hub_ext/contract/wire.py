"""The wire machinery: dataclasses that write themselves as JSON and read request bodies
strictly (errors as sentences)."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

# The longest text any request field may hold: the store's columns are String(255).
MAX_TEXT = 255


def text(**extra: Any) -> dict[str, Any]:
    """Metadata of a request's text field: at most MAX_TEXT characters."""
    return schema(maxLength=MAX_TEXT, **extra)


class ContractError(ValueError):
    """A body that does not match its wire type; the message is a sentence."""


def schema(**extra: Any) -> dict[str, Any]:
    """Field metadata: OpenAPI keywords (minimum, maxLength, enum, format, ...) that a request
    body is also checked against."""
    return {"schema": extra}


T = TypeVar("T", bound="Wire")


class Wire:
    """A dataclass on the wire: ``to_json`` writes it, ``from_json`` reads it leniently (an
    answer from the other side), ``parse`` strictly (a request body, errors as sentences)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def to_json(self) -> dict[str, Any]:
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls: type[T], data: Mapping[str, Any] | None) -> T:
        data = data or {}
        values = {}
        for f in dataclasses.fields(cls):
            if data.get(f.name) is not None:
                values[f.name] = _coerce(hints(cls)[f.name], data[f.name])
        return cls(**values)

    @classmethod
    def parse(cls: type[T], data: Mapping[str, Any]) -> T:
        values = {}
        for f in dataclasses.fields(cls):
            value = data.get(f.name)
            if value is None:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ContractError(f"The field {f.name!r} is required.")
                continue
            values[f.name] = _check(f, hints(cls)[f.name], value)
        return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    """The resolved type hints of a wire type's fields (computed once per type)."""
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = get_type_hints(cls)
    return found


def _dump(value: Any) -> Any:
    if isinstance(value, Wire):
        return value.to_json()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def optional(hint: Any) -> tuple[Any, bool]:
    """(the type inside Optional, whether None is allowed)."""
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(get_args(hint))
    return hint, False


def _coerce(hint: Any, value: Any) -> Any:
    hint, _ = optional(hint)
    origin = get_origin(hint)
    try:
        if isinstance(hint, type) and issubclass(hint, Wire):
            return hint.from_json(value) if isinstance(value, Mapping) else None
        if origin is list:
            (item,) = get_args(hint)
            return [_coerce(item, v) for v in value] if isinstance(value, list) else []
        if origin is dict:
            _, item = get_args(hint)
            return {str(k): _coerce(item, v) for k, v in value.items()}
        if hint in (int, float, str, bool):
            return hint(value)
    except (TypeError, ValueError, AttributeError):
        return None
    return value


_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list"}


def _check(f: dataclasses.Field[Any], hint: Any, value: Any) -> Any:
    hint, _ = optional(hint)
    kind = get_origin(hint) or hint
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ContractError(f"The field {f.name!r} must be an integer.")
    if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ContractError(f"The field {f.name!r} must be a number.")
    if kind in (str, bool, list, dict) and not isinstance(value, kind):
        raise ContractError(f"The field {f.name!r} must be a {_NAMES.get(kind, 'object')}.")
    rules = f.metadata.get("schema", {})
    if "minLength" in rules and len(value) < rules["minLength"]:
        raise ContractError(f"The field {f.name!r} must not be empty.")
    if "maxLength" in rules and len(value) > rules["maxLength"]:
        raise ContractError(f"The field {f.name!r} is longer than {rules['maxLength']} characters.")
    low, high = rules.get("minimum"), rules.get("maximum")
    if low is not None and high is not None and not low <= value <= high:
        raise ContractError(f"The field {f.name!r} must be between {low} and {high}.")
    if low is not None and value < low:
        raise ContractError(f"The field {f.name!r} must be at least {low}.")
    if "maxItems" in rules and len(value) > rules["maxItems"]:
        raise ContractError(f"The field {f.name!r} has more than {rules['maxItems']} items.")
    return value
