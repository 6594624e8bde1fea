"""Schemathesis drives every operation of the OpenAPI document: no input yields a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.service.hubstack import Hub, start_hub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    state: Path = tmp_path_factory.mktemp("fuzzhub")
    running = start_hub(state / "hub", f"sqlite:///{state / 'accelhub.sqlite'}")
    try:
        yield running
    finally:
        running.process.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_hub: Hub) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(fuzz_hub.api + "openapi.json")
    schema.config.base_url = fuzz_hub.url + "/services/accelhub/api/v1"
    return schema


def test_no_input_makes_a_server_error(api_schema: schemathesis.BaseSchema, fuzz_hub: Hub) -> None:
    headers = {"Authorization": f"token {fuzz_hub.admin_token}"}
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
