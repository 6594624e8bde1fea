"""The wire contract: what the service writes the spawner reads back unchanged, request bodies
are checked with sentences, and the OpenAPI schemas are the wire types' fields."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from hub_ext import contract as wire
from hub_ext.admission import LeaseDecision
from hub_ext.service.ledger import Refusal
from hub_ext.service.openapi import TYPES, openapi_document
from hub_ext.service.records import LeaseRecord
from hub_ext.service.shape import wire_lease

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_a_granted_lease_reads_back_as_the_service_wrote_it() -> None:
    lease = LeaseRecord("L" * 32, "ada", "gpu", "a100", 1, "hack", "R1", T0, expires_at=T0)
    body = wire.Granted(wire_lease(lease, "accelhub-reserved")).to_json()
    decision = LeaseDecision.from_json(body)
    assert decision.granted and decision.lease_id == lease.id
    assert decision.labels == wire.lease_labels(lease.id, "a100", "ada", "R1")
    assert decision.labels[wire.RESERVATION_LABEL] == "R1"
    assert decision.priority_class_name == "accelhub-reserved"
    assert decision.expires_at == "2026-03-01T09:00:00Z"
    assert decision.reservation is not None
    assert (decision.reservation.id, decision.reservation.group) == ("R1", "hack")


def test_a_refusal_reads_back_with_reason_and_use() -> None:
    refusal = Refusal("quota", "Used up.", wire.InUse(user=1, group=2, group_quota=2))
    refusal.queue_position = 3
    decision = LeaseDecision.from_json(refusal.to_json())
    assert not decision.granted and decision.reason == "quota"
    assert decision.in_use == wire.InUse(user=1, group=2, group_quota=2)
    assert decision.queue_position == 3 and decision.message == "Used up."


def test_a_grant_without_a_lease_id_is_refused_by_the_reader() -> None:
    with pytest.raises(wire.ContractError, match="no lease id"):
        wire.admission_answer({"granted": True, "lease": {}})


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        ({"user": "ada"}, "The field 'flavor' is required."),
        ({"user": "", "flavor": "a100"}, "The field 'user' must not be empty."),
        ({"user": "ada", "flavor": "a100", "count": 65}, "must be between 0 and 64"),
        ({"user": "ada", "flavor": "a100", "count": True}, "'count' must be an integer."),
        ({"user": "ada", "flavor": 3}, "'flavor' must be a string."),
        ({"user": "ada", "flavor": "a100", "wait": "yes"}, "'wait' must be a boolean."),
    ],
)
def test_request_bodies_are_checked_with_sentences(body: dict, sentence: str) -> None:
    with pytest.raises(wire.ContractError, match=sentence):
        wire.AdmissionRequest.parse(body)


def test_a_good_request_body_keeps_its_values_and_defaults() -> None:
    ask = wire.AdmissionRequest.parse({"user": "ada", "flavor": "a100", "count": 2})
    assert ask == wire.AdmissionRequest(user="ada", flavor="a100", server="", count=2, wait=False)
    assert wire.AdmissionRequest.parse({"user": "ada", "flavor": "cpu"}).count is None


def test_openapi_schemas_are_the_wire_types() -> None:
    schemas = openapi_document("/services/accelhub/")["components"]["schemas"]
    for cls in TYPES:
        names = [f.name for f in dataclasses.fields(cls)]
        assert list(schemas[cls.__name__]["properties"]) == names
    assert schemas["Refusal"]["properties"]["reason"]["enum"] == list(wire.REASONS)
    count = schemas["AdmissionRequest"]["properties"]["count"]
    assert (count["minimum"], count["maximum"], count["nullable"]) == (0, 64, True)
    assert schemas["AdmissionRequest"]["required"] == ["user", "flavor"]
    assert schemas["Lease"]["properties"]["bound"] == {
        "allOf": [{"$ref": "#/components/schemas/PodRef"}],
        "nullable": True,
    }


def test_label_values_are_valid_for_any_text() -> None:
    assert wire.label_value("ada@example.org") == "ada-example.org"
    assert wire.label_value("-" * 70) == "x"
    assert len(wire.label_value("a" * 100)) == 63
