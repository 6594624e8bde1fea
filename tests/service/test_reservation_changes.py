"""Organisers extend and shrink reservations through ``PATCH api/v1/reservations/{id}`` under a
real JupyterHub, with the store on SQLite and on PostgreSQL: the window and the size change
together with the claimed leases' expiry, and every refusal is a sentence."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.service.hubstack import Hub

pytestmark = pytest.mark.integration


@pytest.fixture
def svc(store_hub: Hub) -> Hub:
    return store_hub


def sentence(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["message"]
    assert message == text, message


def stamp(when: datetime) -> str:
    return when.isoformat()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def reserve(svc: Hub, count: int, start: datetime, end: datetime) -> dict:
    ask = {"group": "hack", "flavor": "a100", "count": count, "name": "Lab day"}
    response = svc.call(
        "org", "POST", "reservations", json={**ask, "start": stamp(start), "end": stamp(end)}
    )
    assert response.status_code == 201, response.text
    return response.json()


def claim(svc: Hub, user: str) -> dict:
    body = {"user": user, "server": "", "flavor": "a100"}
    response = svc.call("admit", "POST", "admissions", json=body)
    assert response.status_code == 200 and response.json()["granted"], response.text
    return response.json()["lease"]


def test_organiser_extends_and_shrinks_and_claims_follow(svc: Hub) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    res = reserve(svc, 2, now - timedelta(minutes=1), now + timedelta(hours=2))
    path = f"reservations/{res['id']}"
    later = now + timedelta(hours=5)
    grown = svc.call("org", "PATCH", path, json={"end": stamp(later), "count": 4})
    assert grown.status_code == 200, grown.text
    assert grown.json()["size"] == 4 and parse(grown.json()["end"]) == later
    assert svc.call("org", "GET", path).json()["size"] == 4  # the ledger, not just the answer
    leases = [claim(svc, "h1"), claim(svc, "h2")]
    assert all(lease["reservation"] == res["id"] for lease in leases)
    sentence(
        svc.call("org", "PATCH", path, json={"count": 1}),
        409,
        "Participants already claimed 2 of its devices; it cannot shrink below 2.",
    )
    sentence(
        svc.call("org", "PATCH", path, json={"start": stamp(now + timedelta(hours=1))}),
        409,
        "Participants already claimed 2 of its devices; its start cannot move later than now.",
    )
    sooner = now + timedelta(hours=1)
    shrunk = svc.call("org", "PATCH", path, json={"end": stamp(sooner), "count": 2})
    assert shrunk.status_code == 200, shrunk.text
    assert shrunk.json()["size"] == 2 and shrunk.json()["unclaimed"] == 0
    for lease in leases:  # a claimed device is held until the reservation's new end
        stored = svc.call("admit", "GET", f"leases/{lease['id']}").json()
        assert parse(stored["expires_at"]) == sooner, stored
    each = svc.call("boss", "PATCH", path, json={"per_member": True})  # admins may too
    assert each.status_code == 200 and each.json()["size"] == 3, each.text
    for lease in leases:
        assert svc.call("admit", "DELETE", f"leases/{lease['id']}").status_code == 204
    assert svc.call("org", "DELETE", path).status_code == 204


def test_changes_are_refused_with_the_create_sentences(svc: Hub) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    res = reserve(svc, 1, now + timedelta(hours=1), now + timedelta(hours=3))
    path = f"reservations/{res['id']}"
    backwards = {"end": stamp(now + timedelta(minutes=30))}
    sentence(
        svc.call("org", "PATCH", path, json=backwards),
        422,
        "The reservation must end after it starts.",
    )
    past = {"start": stamp(now - timedelta(hours=3)), "end": stamp(now - timedelta(hours=1))}
    sentence(
        svc.call("org", "PATCH", path, json=past), 422, "The reservation window is already over."
    )
    sentence(
        svc.call("org", "PATCH", path, json={"count": 9}),
        409,
        "The cluster has only 8 a100 devices; 9 were asked for.",
    )
    sentence(
        svc.call("org", "PATCH", path, json={"count": 2, "per_member": True}),
        422,
        "Give either a device count or per-member, not both.",
    )
    sentence(
        svc.call("org", "PATCH", path, json={"count": "many"}),
        422,
        "The field 'count' must be an integer.",
    )
    sentence(
        svc.call("org", "PATCH", path, json={"end": "friday"}),
        422,
        "Give 'start' and 'end' as ISO 8601 timestamps.",
    )
    sentence(
        svc.call("org2", "PATCH", path, json={"count": 2}),
        403,
        "You do not organise the group 'hack'.",
    )
    sentence(
        svc.call("org", "PATCH", "reservations/" + "0" * 32, json={"count": 2}),
        404,
        "There is no such reservation.",
    )
    unchanged = svc.call("org", "GET", path).json()
    assert (unchanged["size"], unchanged["end"]) == (1, res["end"])  # nothing refused was kept
    assert svc.call("org", "DELETE", path).status_code == 204


def test_an_ended_reservation_cannot_change(svc: Hub) -> None:
    now = datetime.now(UTC)
    res = reserve(svc, 1, now - timedelta(minutes=5), now + timedelta(seconds=2))
    time.sleep(3)
    path = f"reservations/{res['id']}"
    ended = "The reservation has ended; it can no longer change."
    sentence(
        svc.call("org", "PATCH", path, json={"end": stamp(now + timedelta(hours=1))}), 409, ended
    )
    sentence(
        svc.call("org2", "PATCH", path, json={"count": 2}), 404, "There is no such reservation."
    )  # others do not learn it existed


def page(svc: Hub, who: str, name: str) -> httpx.Response:
    return httpx.get(
        svc.service_url + name,
        headers={"Authorization": f"token {svc.token_for(who)}"},
        timeout=30,
    )


def changes_listed(html: str) -> str:
    """The page's list of reservation changes."""
    section = html[html.index('id="res-changes-head"') :]
    return section[: section.index("</section>")]


def test_each_organiser_sees_only_their_groups_reservations_and_changes(svc: Hub) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    window = {"start": stamp(now + timedelta(hours=1)), "end": stamp(now + timedelta(hours=2))}
    ask = {"flavor": "t4", "count": 1, **window}
    hack = svc.call("org", "POST", "reservations", json={**ask, "group": "hack", "name": "Hack"})
    physics = svc.call(
        "boss", "POST", "reservations", json={**ask, "group": "physics", "name": "Phys"}
    )
    assert hack.status_code == physics.status_code == 201, (hack.text, physics.text)
    hack_path, physics_path = (f"reservations/{r.json()['id']}" for r in (hack, physics))
    renamed = svc.call("org", "PATCH", hack_path, json={"name": "Hack night"})
    moved = svc.call("org2", "PATCH", physics_path, json={"end": window["start"][:-1] + "+03:00"})
    assert renamed.status_code == 200, renamed.text
    assert moved.status_code == 422, moved.text  # refused: not recorded
    assert svc.call("org2", "PATCH", physics_path, json={"name": "Phys lab"}).status_code == 200

    mine = page(svc, "org", "organiser")
    assert mine.status_code == 200, mine.text
    assert "Hack night" in mine.text and "Phys" not in mine.text  # neither its row nor changes
    listed = changes_listed(mine.text)
    assert "<strong>name</strong>: Hack → Hack night" in listed, listed
    assert "created: 1 device of T4" in listed and ">org<" in listed, listed
    theirs = changes_listed(page(svc, "org2", "organiser").text)
    assert "Phys → Phys lab" in theirs and "Hack" not in theirs, theirs
    # the header, then created by boss and renamed by org2; the refused change left nothing
    assert theirs.count("<tr>") == 3 and ">boss<" in theirs, theirs
    admin = changes_listed(page(svc, "boss", "admin").text)
    assert "Hack night" in admin and "Phys lab" in admin, admin

    refused = page(svc, "ada", "organiser")  # organises nothing
    assert refused.status_code == 403
    assert "You do not organise any group." in refused.text
    assert "Traceback" not in refused.text and "Hack" not in refused.text
    for who, path in (("org", hack_path), ("org2", physics_path)):
        assert svc.call(who, "DELETE", path).status_code == 204
    listed = changes_listed(page(svc, "org", "organiser").text)
    assert "cancelled" in listed and "Phys" not in listed, listed
