"""Bad input gets the real Status errors; a fuzzer never gets a 500 or a malformed answer."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import RunningDevstack, start_devstack, stop_devstack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "e"},
    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
}


def _client(ds: RunningDevstack, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token or ds.token}"}
    return httpx.Client(
        base_url=ds.url,
        verify=ssl.create_default_context(cafile=ds.ca_path),
        headers=headers,
        timeout=10,
    )


@pytest.fixture(scope="module")
def http(devstack_api: RunningDevstack) -> Iterator[httpx.Client]:
    with _client(devstack_api) as c:
        yield c


def _status(resp: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    body = resp.json()
    assert resp.status_code == code, body
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == code
    assert body["reason"] == reason
    return dict(body)


def test_unauthorized(devstack_api: RunningDevstack) -> None:
    with _client(devstack_api, token="wrong") as c:
        _status(c.get("/api/v1/pods"), 401, "Unauthorized")
    ctx = ssl.create_default_context(cafile=devstack_api.ca_path)
    with httpx.Client(base_url=devstack_api.url, verify=ctx) as c:
        _status(c.get("/api/v1/pods"), 401, "Unauthorized")
        assert c.get("/version").json()["major"] == "1"
        assert c.get("/healthz").text == "ok"


def test_not_found_and_method_not_allowed(http: httpx.Client, namespace: str) -> None:
    body = _status(http.get("/api/v1/foos"), 404, "NotFound")
    assert body["message"] == "the server could not find the requested resource"
    _status(http.get("/apis/nope.io/v1/things"), 404, "NotFound")
    _status(http.get(f"/api/v1/namespaces/{namespace}/pods/x/bogus"), 404, "NotFound")
    body = _status(http.get(f"/api/v1/namespaces/{namespace}/pods/missing"), 404, "NotFound")
    assert body["message"] == 'pods "missing" not found'
    assert body["details"] == {"name": "missing", "kind": "pods"}
    body = _status(http.get("/apis/batch/v1/namespaces/default/jobs/missing"), 404, "NotFound")
    assert body["message"] == 'jobs.batch "missing" not found'
    _status(http.post(f"/api/v1/namespaces/{namespace}/pods/x", json=POD), 405, "MethodNotAllowed")
    _status(http.delete("/api/v1/namespaces"), 405, "MethodNotAllowed")
    body = _status(http.post("/api/v1/namespaces/nope/pods", json=POD), 404, "NotFound")
    assert body["message"] == 'namespaces "nope" not found'


def test_bad_bodies(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/pods"
    body = _status(
        http.post(url, content=b"{bad", headers={"Content-Type": "application/json"}),
        400,
        "BadRequest",
    )
    assert body["message"].startswith("couldn't get version/kind; json parse error: ")
    body = _status(
        http.post(url, content=b"x: [", headers={"Content-Type": "application/yaml"}),
        400,
        "BadRequest",
    )
    assert body["message"].startswith("error converting YAML to JSON: yaml: ")
    body = _status(
        http.post(url, content=b"{}", headers={"Content-Type": "text/plain"}),
        415,
        "UnsupportedMediaType",
    )
    assert body["message"].startswith("the body of the request was in an unknown format")
    _status(
        http.patch(f"{url}/x", content=b"{}", headers={"Content-Type": "application/json"}),
        415,
        "UnsupportedMediaType",
    )
    body = _status(http.post(url, json={**POD, "apiVersion": "apps/v1"}), 400, "BadRequest")
    assert body["message"] == (
        "the API version in the data (apps/v1) does not match the expected API version (v1)"
    )
    _status(http.post(url, json={**POD, "kind": "Service"}), 400, "BadRequest")
    body = _status(http.post(url, json=[1, 2]), 400, "BadRequest")
    assert "cannot unmarshal array" in body["message"]
    body = _status(
        http.post(url, json={"metadata": {"name": "nocont"}, "spec": {}}), 422, "Invalid"
    )
    assert body["message"] == 'Pod "nocont" is invalid: spec.containers: Required value'
    assert body["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}
    ]
    assert http.post(url, json=POD).status_code == 201
    body = _status(http.post(url, json=POD), 409, "AlreadyExists")
    assert body["message"] == 'pods "e" already exists'
    # YAML bodies are accepted.
    yaml_cm = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\ndata: {k: v}\n"
    resp = http.post(
        f"/api/v1/namespaces/{namespace}/configmaps",
        content=yaml_cm,
        headers={"Content-Type": "application/yaml"},
    )
    assert resp.status_code == 201 and resp.json()["data"] == {"k": "v"}


def test_selectors_and_queries(http: httpx.Client) -> None:
    body = _status(http.get("/api/v1/pods", params={"labelSelector": "a in (b"}), 400, "BadRequest")
    assert body["message"].startswith("unable to parse requirement")
    body = _status(
        http.get("/api/v1/pods", params={"fieldSelector": "spec.foo=1"}), 400, "BadRequest"
    )
    assert body["message"] == "field label not supported: spec.foo"
    _status(http.get("/api/v1/pods", params={"limit": "many"}), 400, "BadRequest")
    _status(http.get("/api/v1/pods", params={"watch": "maybe"}), 400, "BadRequest")
    resp = http.get("/api/v1/pods", params={"watch": "1", "resourceVersion": "1"})
    event = json.loads(resp.text.strip())
    assert event["type"] == "ERROR" and event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"


def test_field_validation_warn_and_strict(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "fv", "bogus": 1},
        "data": {"a": "b"},
        "extra": True,
    }
    body = _status(http.post(url, params={"fieldValidation": "Strict"}, json=cm), 400, "BadRequest")
    assert body["message"] == (
        'strict decoding error: unknown field "metadata.bogus", unknown field "extra"'
    )
    resp = http.post(url, json=cm)
    assert resp.status_code == 201
    assert resp.headers.get_list("Warning") == [
        '299 - "unknown field \\"metadata.bogus\\""',
        '299 - "unknown field \\"extra\\""',
    ]
    assert "extra" not in resp.json()


def test_discovery_documents(http: httpx.Client) -> None:
    api = http.get("/api").json()
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    v1 = http.get("/api/v1").json()
    pods = next(r for r in v1["resources"] if r["name"] == "pods")
    assert pods["shortNames"] == ["po"] and pods["namespaced"] is True
    assert {"pods/status", "pods/log", "pods/binding"} <= {r["name"] for r in v1["resources"]}
    groups = {g["name"] for g in http.get("/apis").json()["groups"]}
    assert {"batch", "scheduling.k8s.io", "events.k8s.io", "coordination.k8s.io"} <= groups
    agg = http.get(
        "/apis",
        headers={
            "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;"
            "as=APIGroupDiscoveryList,application/json"
        },
    )
    assert agg.headers["Content-Type"].startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    assert agg.json()["kind"] == "APIGroupDiscoveryList"
    index = http.get("/openapi/v3").json()["paths"]
    doc = http.get(index["api/v1"]["serverRelativeURL"]).json()
    pod_schema = doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]
    containers = pod_schema["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    v2 = http.get("/openapi/v2", headers={"Accept": "application/json"}).json()
    assert v2["swagger"] == "2.0" and "io.k8s.api.core.v1.Pod" in v2["definitions"]


# ---- fuzzing -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A devstack of its own: the fuzzer deletes and patches at random."""
    ds = start_devstack(tmp_path_factory.mktemp("fuzz") / "state", "none")
    with _client(ds) as c:
        yield c
    stop_devstack(ds)


SEGMENTS = [
    "api",
    "apis",
    "v1",
    "batch",
    "namespaces",
    "default",
    "kube-system",
    "pods",
    "nodes",
    "a100-1",
    "jobs",
    "events",
    "status",
    "log",
    "binding",
    "finalize",
    "configmaps",
    "scheduling.k8s.io",
    "priorityclasses",
    "x",
    "",
    "..",
    "%2F",
    "ä",
    "events.k8s.io",
    "leases",
    "secrets",
    "services",
    "openapi",
    "v3",
    "v2",
    "version",
]
CONTENT_TYPES = [
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/vnd.kubernetes.protobuf",
    "text/plain",
    "",
    "application/json; charset=utf-8",
]
QUERY_KEYS = [
    "labelSelector",
    "fieldSelector",
    "limit",
    "continue",
    "resourceVersion",
    "dryRun",
    "fieldManager",
    "fieldValidation",
    "force",
    "gracePeriodSeconds",
    "propagationPolicy",
    "tailLines",
    "container",
    "timestamps",
    "previous",
    "includeObject",
    "orphanDependents",
    "sinceSeconds",
    "allowWatchBookmarks",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "metadata",
                    "name",
                    "spec",
                    "status",
                    "kind",
                    "apiVersion",
                    "containers",
                    "image",
                    "labels",
                    "op",
                    "path",
                    "value",
                    "$patch",
                    "finalizers",
                    "data",
                    "namespace",
                    "generateName",
                    "nodeName",
                ]
            )
            | st.text(max_size=6),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


structured_paths = st.builds(
    lambda prefix, ns, plural, rest: "/".join(
        [prefix, *(["namespaces", ns] if ns else []), plural, *rest]
    ),
    st.sampled_from(
        [
            "/api/v1",
            "/apis/batch/v1",
            "/apis/scheduling.k8s.io/v1",
            "/apis/events.k8s.io/v1",
            "/apis/coordination.k8s.io/v1",
        ]
    ),
    st.sampled_from(["", "default", "kube-system", "missing"]),
    st.sampled_from(
        [
            "pods",
            "nodes",
            "namespaces",
            "configmaps",
            "jobs",
            "events",
            "secrets",
            "services",
            "priorityclasses",
            "leases",
            "serviceaccounts",
            "persistentvolumeclaims",
        ]
    ),
    st.lists(
        st.sampled_from(
            ["x", "a100-1", "default", "status", "log", "binding", "finalize", "eviction"]
        ),
        max_size=2,
    ),
)


def _body(draw_value: Any) -> bytes:
    if isinstance(draw_value, bytes):
        return draw_value
    return json.dumps(draw_value).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    segments=st.lists(st.sampled_from(SEGMENTS) | st.text(max_size=8), min_size=0, max_size=7)
    | structured_paths.map(lambda p: p.split("/")[1:]),
    query=st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=10), max_size=4),
    body=json_values | st.binary(max_size=40),
    content_type=st.sampled_from(CONTENT_TYPES),
)
def test_fuzz_never_500(
    fuzz_target: httpx.Client,
    method: str,
    segments: list[str],
    query: dict[str, str],
    body: Any,
    content_type: str,
) -> None:
    path = "/" + "/".join(segments)
    headers = {"Content-Type": content_type} if content_type else {}
    data = _body(body) if method in ("POST", "PUT", "PATCH", "DELETE") else None
    try:
        resp = fuzz_target.request(method, path, params=query, content=data, headers=headers)
    except httpx.InvalidURL:
        return
    assert resp.status_code < 500, resp.text
    if resp.headers.get("Content-Type", "").startswith("text/plain"):
        return
    answer = resp.json()
    assert isinstance(answer, dict)
    if resp.status_code >= 400:
        assert answer["kind"] == "Status" and answer["code"] == resp.status_code
        assert isinstance(answer["message"], str) and answer["reason"]
    else:
        assert "kind" in answer or "paths" in answer or "major" in answer or "type" in answer


def test_status_bodies_byte_for_byte(http: httpx.Client, namespace: str) -> None:
    """Go's encoder: metav1.Status field order, compact, raw UTF-8, `<` escaped, newline."""
    resp = http.get(f"/api/v1/namespaces/{namespace}/pods/caf%C3%A9%3Cx%3E")
    assert resp.status_code == 404
    assert (
        resp.content
        == (
            '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
            '"message":"pods \\"café\\u003cx\\u003e\\" not found","reason":"NotFound",'
            '"details":{"name":"café\\u003cx\\u003e","kind":"pods"},"code":404}\n'
        ).encode()
    )
    resp = http.get("/apis/batch/v1/namespaces/default/jobs/missing")
    assert resp.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"jobs.batch \\"missing\\" not found","reason":"NotFound",'
        b'"details":{"name":"missing","group":"batch","kind":"jobs"},"code":404}\n'
    )
    bad = {**POD, "metadata": {"name": "Bad_Name"}}
    resp = http.post(f"/api/v1/namespaces/{namespace}/pods", json=bad)
    assert resp.status_code == 422
    rule = (
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*"
        "[a-z0-9])?)*')"
    )
    assert (
        resp.content
        == (
            '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
            f'"message":"Pod \\"Bad_Name\\" is invalid: metadata.name: Invalid value: '
            f'\\"Bad_Name\\": {rule}","reason":"Invalid","details":{{"name":"Bad_Name",'
            f'"kind":"Pod","causes":[{{"reason":"FieldValueInvalid","message":"Invalid value: '
            f'\\"Bad_Name\\": {rule}","field":"metadata.name"}}]}},"code":422}}\n'
        ).encode()
    )
