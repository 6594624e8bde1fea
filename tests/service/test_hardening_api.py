"""A hostile but signed-in user against the service's REST API under a real JupyterHub, with the
store on SQLite and on PostgreSQL: bound leases stay, no existence oracle, bad bodies and
oversized fields are 4xx sentences (never a 500)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.service.hubstack import Hub

pytestmark = pytest.mark.integration


@pytest.fixture
def svc(store_hub: Hub) -> Hub:
    return store_hub


def admit(hub: Hub, user: str, flavor: str, server: str = "") -> dict:
    body = {"user": user, "server": server, "flavor": flavor}
    response = hub.call("admit", "POST", "admissions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def sentence(response: httpx.Response, status: int, words: str = "") -> str:
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["message"]
    assert message.endswith(".") and "Traceback" not in message and words in message, message
    return message


def window(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def test_a_user_cannot_free_the_device_their_running_server_holds(svc: Hub) -> None:
    lease = admit(svc, "solo1", "l4")["lease"]  # the only L4
    bound = {"namespace": "jh", "pod": "jupyter-solo1"}
    assert svc.call("admit", "POST", f"leases/{lease['id']}/bind", json=bound).status_code == 200
    refused = svc.call("solo1", "DELETE", f"leases/{lease['id']}")
    sentence(refused, 409, "stop the server")
    assert svc.call("solo1", "GET", f"leases/{lease['id']}").json()["ended_at"] is None
    assert admit(svc, "solo2", "l4")["reason"] == "capacity"  # no over-allocation
    assert svc.call("admit", "DELETE", f"leases/{lease['id']}").status_code == 204  # the spawner
    assert admit(svc, "solo2", "l4")["granted"]
    unbound = admit(svc, "solo3", "t4")["lease"]  # no pod yet: the user may give it back
    assert svc.call("solo3", "DELETE", f"leases/{unbound['id']}").status_code == 204
    assert svc.call("solo3", "GET", f"leases/{unbound['id']}").json()["end_reason"] == "released"


def test_unknown_and_foreign_leases_answer_alike(svc: Hub) -> None:
    lease_id = admit(svc, "ada", "a100", "oracle")["lease"]["id"]
    unknown = "0" * 32
    for lid in (lease_id, unknown):
        assert httpx.get(svc.api + f"leases/{lid}", timeout=30).status_code == 401
        assert httpx.delete(svc.api + f"leases/{lid}", timeout=30).status_code == 401
    foreign = sentence(svc.call("bob", "GET", f"leases/{lease_id}"), 404)
    assert sentence(svc.call("bob", "GET", f"leases/{unknown}"), 404) == foreign
    gone = sentence(svc.call("bob", "DELETE", f"leases/{lease_id}"), 404)
    assert sentence(svc.call("bob", "DELETE", f"leases/{unknown}"), 404) == gone
    assert svc.call("ada", "GET", f"leases/{lease_id}").json()["ended_at"] is None
    for junk in ("x" * 300, "%00", "%C3%A9"):
        assert svc.call("ada", "GET", f"leases/{junk}").status_code == 404
    assert svc.call("admit", "DELETE", f"leases/{lease_id}").status_code == 204


BODIES = {
    "deep nesting": (b"[" * 60_000, 400, "nested"),
    "100,000 nested [": (b"[" * 100_000, 413, "larger"),
    "invalid UTF-8": (b'{"server": "\xff\xfe"}', 400, "JSON"),
    "10 MB": (b'{"server": "' + b"x" * 10_000_000 + b'"}', 413, "larger"),
    "NUL": (b'{"server": "a\\u0000b", "devices": []}', 400, "stored"),
    "lone surrogate": (b'{"server": "\\ud800", "devices": []}', 400, "stored"),
}
ENDPOINTS = [
    ("admit", "admissions"),
    ("admit", "leases/0123/bind"),
    ("org", "reservations"),
    ("ada", "activity"),
]


@pytest.mark.parametrize("kind", list(BODIES))
def test_hostile_bodies_are_4xx_sentences_everywhere(svc: Hub, kind: str) -> None:
    body, status, words = BODIES[kind]
    for who, path in ENDPOINTS:
        response = svc.call(who, "POST", path, content=body)
        sentence(response, status, words)


def test_every_field_is_bounded(svc: Hub) -> None:
    now = datetime.now(UTC)
    soon = window(now, now + timedelta(hours=2))
    ask = {"group": "hack", "flavor": "a100", "count": 1, **soon}
    long_name = svc.call("org", "POST", "reservations", json={**ask, "name": "n" * 10_000})
    sentence(long_name, 422, "longer than 255")
    cpu = svc.call("org", "POST", "reservations", json={**ask, "flavor": "cpu"})
    sentence(cpu, 422, "no accelerator")
    years = window(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
    sentence(svc.call("org", "POST", "reservations", json={**ask, **years}), 422, "366 days")
    server = svc.call("ada", "POST", "activity", json={"server": "s" * 300, "devices": []})
    sentence(server, 422, "longer than 255")
    huge = svc.call("ada", "POST", "activity", json={"server": "s" * 100_000, "devices": []})
    sentence(huge, 413)
    user = svc.call("admit", "POST", "admissions", json={"user": "u" * 256, "flavor": "a100"})
    sentence(user, 422, "longer than 255")
    edge = svc.call("org", "POST", "reservations", json={**ask, "name": "é" * 255})
    assert edge.status_code == 201, edge.text  # 255 characters fit the column on every store
    assert svc.call("org", "DELETE", f"reservations/{edge.json()['id']}").status_code == 204


def test_usage_csv_names_cannot_be_formulas(svc: Hub) -> None:
    lease_id = admit(svc, "=1+1", "a100", "csv")["lease"]["id"]
    assert svc.call("admit", "DELETE", f"leases/{lease_id}").status_code == 204
    csv = svc.call("boss", "GET", "usage?group_by=user&format=csv").text
    assert "\n'=1+1," in csv and "\n=1+1" not in csv
    assert json.loads(svc.call("boss", "GET", "usage?group_by=user").text)["rows"]
