"""Label and field selectors: parsing with the real error messages, and matching."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devstack.apiserver.errors import ApiError, bad_request

_KEY_CHARS = re.compile(r"[A-Za-z0-9_./-]+")


@dataclass(frozen=True)
class Requirement:
    """One label requirement: key, operator and values."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label map satisfies this requirement."""
        if self.op == "exists":
            return self.key in labels
        if self.op == "!":
            return self.key not in labels
        if self.op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        # "!=" and "notin" also match when the key is absent
        return self.key not in labels or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; empty matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether labels satisfy every requirement."""
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when it selects everything."""
        return not self.requirements


class _Lexer:
    """Tokenizer for the label selector grammar of apimachinery."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        if self.pos >= len(self.text):
            return ""
        for tok in ("==", "!=", "=", "(", ")", ",", "!"):
            if self.text.startswith(tok, self.pos):
                return tok
        m = re.compile(r"[^\s=!(),]+").match(self.text, self.pos)
        return m.group(0) if m else self.text[self.pos]

    def next(self) -> str:
        tok = self.peek()
        self.pos += len(tok)
        return tok


def _fail(msg: str) -> ApiError:
    return bad_request(f"unable to parse requirement: {msg}")


def _check_key(key: str) -> None:
    from devstack.apiserver.validation import label_key_errors

    errs = label_key_errors(key)
    if errs:
        raise bad_request(f'unable to parse requirement: <nil>: Invalid value: "{key}": {errs[0]}')


def _check_value(value: str) -> None:
    from devstack.apiserver.validation import label_value_errors

    errs = label_value_errors(value)
    if errs:
        raise bad_request(
            f'unable to parse requirement: values[0][]: Invalid value: "{value}": {errs[0]}'
        )


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `a=b,c!=d,e in (x,y),!f,g` into a LabelSelector; 400 ApiError when malformed."""
    if text is None or not text.strip():
        return LabelSelector()
    lx = _Lexer(text)
    reqs: list[Requirement] = []
    while True:
        tok = lx.next()
        if tok == "!":
            key = lx.next()
            if not key or key in "=!(),":
                raise _fail(f"found '{key}', expected: identifier")
            _check_key(key)
            reqs.append(Requirement(key, "!"))
        elif not tok or tok in ("=", "==", "!=", "(", ")", ","):
            raise _fail(f"found '{tok}', expected: !, identifier, or 'end of string'")
        else:
            key = tok
            _check_key(key)
            op = lx.peek()
            if op in ("", ","):
                reqs.append(Requirement(key, "exists"))
            elif op in ("=", "==", "!="):
                lx.next()
                value = lx.peek()
                if value in ("", ","):
                    value = ""
                elif value in ("=", "==", "!=", "(", ")", "!"):
                    raise _fail(f"found '{value}', expected: identifier")
                else:
                    lx.next()
                _check_value(value)
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            elif op in ("in", "notin"):
                lx.next()
                if lx.next() != "(":
                    raise _fail("found '', expected: '('")
                values: list[str] = []
                while True:
                    v = lx.next()
                    if v == ")":
                        break
                    if v == ",":
                        continue
                    if not v or v in ("=", "==", "!=", "(", "!"):
                        raise _fail(f"found '{v}', expected: ',', ')' or identifier")
                    _check_value(v)
                    values.append(v)
                reqs.append(Requirement(key, op, tuple(values)))
            else:
                raise _fail(f"found '{op}', expected: in, notin, =, ==, !=, gt, lt")
        sep = lx.next()
        if sep == "":
            break
        if sep != ",":
            raise _fail(f"found '{sep}', expected: ',' or 'end of string'")
    return LabelSelector(tuple(reqs))


def selector_from_label_selector_object(sel: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a `metav1.LabelSelector` (matchLabels/matchExpressions) to a LabelSelector."""
    if not sel:
        return LabelSelector()
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (sel.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in sel.get("matchExpressions") or []:
        reqs.append(
            Requirement(
                expr.get("key", ""),
                ops.get(expr.get("operator", ""), "in"),
                tuple(expr.get("values") or ()),
            )
        )
    return LabelSelector(tuple(reqs))


# ---- field selectors ------------------------------------------------------------------------

COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class FieldRequirement:
    """`field=value` or `field!=value`."""

    field: str
    value: str
    negate: bool


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field requirements."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's fields satisfy every requirement."""
        for req in self.requirements:
            actual = field_value(obj, req.field)
            if (actual == req.value) == req.negate:
                return False
        return True

    @property
    def empty(self) -> bool:
        """True when it selects everything."""
        return not self.requirements

    def get(self, name: str) -> str | None:
        """The value required with `=` for a field, if any (used to narrow lookups)."""
        for req in self.requirements:
            if req.field == name and not req.negate:
                return req.value
        return None


def _stringify(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_SPECIAL: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "source": lambda o: (o.get("source") or {}).get("component") or o.get("reportingComponent"),
    "status.podIPs": lambda o: ",".join(
        ip.get("ip", "") for ip in (o.get("status") or {}).get("podIPs") or []
    ),
    "status.successful": lambda o: (o.get("status") or {}).get("succeeded", 0),
    "spec.unschedulable": lambda o: bool((o.get("spec") or {}).get("unschedulable", False)),
    "spec.hostNetwork": lambda o: bool((o.get("spec") or {}).get("hostNetwork", False)),
}


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value of a dotted field path, `""` when absent."""
    if path in _SPECIAL:
        return _stringify(_SPECIAL[path](obj))
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    return _stringify(cur)


def parse_field_selector(
    text: str | None, supported: tuple[str, ...] = (), kind: str = ""
) -> FieldSelector:
    """Parse `a=b,c!=d`; fields outside COMMON_FIELDS + supported give the real 400."""
    if text is None or not text.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    allowed = set(COMMON_FIELDS) | set(supported)
    for part in _split_unescaped(text):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^=!]+)(==|!=|=)(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        name, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
        if name not in allowed:
            raise bad_request(f"field label not supported: {name}")
        reqs.append(FieldRequirement(name, _unescape(value), op == "!="))
    return FieldSelector(tuple(reqs))


def _split_unescaped(text: str) -> list[str]:
    parts, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += text[i : i + 2]
            i += 2
            continue
        if ch == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
