"""Every operation of the service's OpenAPI document, fuzzed against a real hub whose service
stores on SQLite and on PostgreSQL: schemathesis' schema-driven cases (as an admin and as a
plain user), then hostile inputs (odd and huge strings, deep nesting, huge numbers, huge and
broken bodies, no token). No input yields a 5xx, and every refusal is a JSON sentence."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from hub_ext.service.openapi import openapi_document
from tests.service.hubstack import Hub

pytestmark = pytest.mark.integration

SETTINGS = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def fuzz_operation(operation: Any, headers: dict[str, str], statuses: list[int]) -> None:
    """Schemathesis' cases of one operation, called with these headers."""

    @given(case=operation.as_strategy())
    @settings(SETTINGS, max_examples=8)
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(headers=headers, timeout=30)
        statuses.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    fuzz()


def test_schema_cases_never_make_a_server_error(store_hub: Hub) -> None:
    schema = schemathesis.openapi.from_url(store_hub.api + "openapi.json")
    schema.config.base_url = store_hub.url + "/services/accelhub/api/v1"
    statuses: list[int] = []
    checked = 0
    for token in (store_hub.admit_token, store_hub.token_for("ada")):
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]
            fuzz_operation(operation, {"Authorization": f"token {token}"}, statuses)
            checked += 1
    assert checked >= 30
    assert len(statuses) > 150 and max(statuses) < 500
    assert {200, 403, 422} <= set(statuses)
    print(f"schema cases: {len(statuses)} over {checked} operations, 0 server errors")


# -- hostile inputs ---------------------------------------------------------------------------

ODD = [
    "",
    " ",
    "\x00",
    "=1+1",
    "../../etc/passwd",
    "' OR 1=1 --",
    "%00",
    "\u202e",
    "é" * 300,
    "x" * 1500,
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00",
    "NaN",
    "-1",
    "1e400",
    "*",
]
URL_TEXT = st.sampled_from(ODD) | st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
TEXT = URL_TEXT | st.sampled_from(["\ud800", "a\x00b", "y" * 100_000])
NUMBERS = st.sampled_from(
    [10**400, -(10**400), 2**63, -(2**63) - 1, 1e308, float("inf"), float("nan"), 0, -1, 65]
)
VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
RAW = st.sampled_from(
    [
        b"[" * 60_000,
        b'{"a":' * 30_000,
        b"[" * 900 + b"]" * 900,
        b"\xff\xfe{}",
        b'{"server": "' + b"z" * 200_000 + b'"}',
        b"",
        b"null",
        b"{",
    ]
)


def operations() -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path, query parameter names, body property names) of every operation."""
    document = openapi_document("/services/accelhub/")
    schemas = document["components"]["schemas"]
    found = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            props: list[str] = []
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                props = list(schemas[ref.rsplit("/", 1)[1]]["properties"])
            found.append((method.upper(), path, query, props))
    return found


@st.composite
def hostile_request(draw: Any) -> tuple[str, str, dict[str, str], bytes | None, str]:
    method, path, query, props = draw(st.sampled_from(operations()))
    while "{" in path:
        head, rest = path.split("{", 1)
        path = head + quote(draw(URL_TEXT), safe="") + rest.split("}", 1)[1]
    params = draw(st.dictionaries(st.sampled_from(query), URL_TEXT)) if query else {}
    body: bytes | None = None
    if props:
        known = st.fixed_dictionaries({}, optional={name: VALUES for name in props})
        value = draw(known | VALUES)
        body = draw(st.just(json.dumps(value).encode()) | RAW)
    who = draw(st.sampled_from(["admin", "ada", "nobody"]))
    return method, path, params, body, who


def test_hostile_inputs_never_make_a_server_error(store_hub: Hub) -> None:
    tokens = {"admin": store_hub.admit_token, "ada": store_hub.token_for("ada")}
    statuses: list[int] = []
    base = store_hub.url + "/services/accelhub/api/v1"
    with httpx.Client(timeout=30) as client:

        @given(request=hostile_request())
        @settings(SETTINGS, max_examples=250)
        def fuzz(request: tuple[str, str, dict[str, str], bytes | None, str]) -> None:
            method, path, params, body, who = request
            headers = {"Authorization": f"token {tokens[who]}"} if who in tokens else {}
            response = client.request(
                method, base + path, params=params, content=body, headers=headers
            )
            statuses.append(response.status_code)
            assert response.status_code < 500, (request, response.text[:500])
            if response.status_code >= 400:
                assert response.json()["message"], response.text[:500]

        fuzz()
    assert len(statuses) >= 250 and {401, 404, 422} <= set(statuses)
    print(f"hostile cases: {len(statuses)}, statuses {sorted(set(statuses))}, 0 server errors")
