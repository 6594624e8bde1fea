"""Schemathesis drives every operation of the OpenAPI document: no input yields a 500."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.service.hubstack import Hub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_schema(hub: Hub) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(hub.api + "openapi.json")
    schema.config.base_url = hub.url + "/services/accelhub/api/v1"
    return schema


def test_no_input_makes_a_server_error(api_schema: schemathesis.BaseSchema, hub: Hub) -> None:
    headers = {"Authorization": f"token {hub.admin_token}"}
    checked = 0
    statuses: list[int] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(headers=headers, timeout=30)
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        fuzz()
        checked += 1
    assert checked >= 15
    assert len(statuses) > 100 and 500 not in statuses
    assert {200, 422} <= set(statuses)
