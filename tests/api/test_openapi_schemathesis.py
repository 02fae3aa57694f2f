"""Schemathesis against a live `telescale serve`: every documented operation, fed data generated from its own
description, must never answer 5xx, and must answer only documented status codes, content types, headers
and body shapes.  Deterministic (derandomized, no example database) and bounded (a few examples per
operation, no shrinking)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import server
from tests.api.conftest import ADMIN

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Server]:
    with server.running(tmp_path_factory.mktemp("schemathesis") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def seeds(live: server.Server) -> dict[str, str]:
    """Objects that exist, so that half the cases reach past the 404 of a made-up path parameter."""
    with httpx.Client(base_url=live.url, headers={**ADMIN, "accept": "application/json"}) as c:
        c.post("/v1/archive_policy_rule", json={"name": "fuzz", "metric_pattern": "fuzz.*",
                                                 "archive_policy_name": "low"}).raise_for_status()
        c.post("/v1/resource_type", json={"name": "fuzz", "attributes": {
            "host": {"type": "string", "required": False}}}).raise_for_status()
        resource = c.post("/v1/resource/generic", json={"id": "fuzz-host", "metrics": {
            "cpu": {"archive_policy_name": "low"}}}).json()
        metric = resource["metrics"]["cpu"]
        c.post(f"/v1/metric/{metric}/measures", json=[
            {"timestamp": "2026-11-23T12:00:00+00:00", "value": 1.0},
            {"timestamp": "2026-11-23T12:05:00+00:00", "value": 2.0}]).raise_for_status()
    return {"rtype": "generic", "resource_id": resource["id"], "metric_id": metric,
            # {name} by the collection it names something in
            "archive_policy": "low", "archive_policy_rule": "fuzz", "resource_type": "fuzz", "resource": "cpu",
            "aggregation": "cpu"}


@pytest.fixture(scope="module")
def api_schema(live: server.Server) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    schema.config.update(base_url=live.url)
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE], max_examples=MAX_EXAMPLES,
                                    no_shrink=True, deterministic=True, with_security_parameters=False,
                                    database="none")
    return schema


def _seeded(case: schemathesis.Case, seeds: dict[str, str]) -> None:
    collection = case.operation.path.split("/")[2] if case.operation.path.startswith("/v1/") else ""
    for key in case.path_parameters or {}:
        value = seeds.get(collection) if key == "name" else seeds.get(key)
        if value is not None:
            case.path_parameters[key] = value


def _exercise(operation: schemathesis.APIOperation, seeds: dict[str, str]) -> None:
    @given(case=operation.as_strategy(), seeded=st.booleans())
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def exercise(case: schemathesis.Case, seeded: bool) -> None:
        if seeded:
            _seeded(case, seeds)
        case.call_and_validate(headers=ADMIN, checks=CHECKS, timeout=30)

    exercise()


def test_live_api_answers_as_documented(api_schema: schemathesis.BaseSchema, seeds: dict[str, str]) -> None:
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            _exercise(operation, seeds)
        except (Exception, BaseExceptionGroup) as e:  # every operation is tried, then all failures are reported
            failures.append(f"{operation.label}: {e}")
    assert not failures, "\n\n".join(failures)
