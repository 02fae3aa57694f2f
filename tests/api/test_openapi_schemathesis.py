"""Schemathesis against a live `telescale serve`: every documented operation, fed data generated from its own
description, must never answer 5xx, and must answer only documented status codes, content types, headers
and body shapes.  Deterministic (derandomized, no example database) and bounded (a few examples per
operation, no shrinking)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
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
MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Server]:
    with server.running(tmp_path_factory.mktemp("schemathesis") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def api_schema(live: server.Server) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    schema.config.update(base_url=live.url)
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE], max_examples=MAX_EXAMPLES,
                                    no_shrink=True, deterministic=True, with_security_parameters=False,
                                    database="none")
    return schema


def _exercise(operation: schemathesis.APIOperation) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def exercise(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=ADMIN, checks=CHECKS, timeout=30)

    exercise()


def test_live_api_answers_as_documented(api_schema: schemathesis.BaseSchema) -> None:
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            _exercise(operation)
        except (Exception, BaseExceptionGroup) as e:  # every operation is tried, then all failures are reported
            failures.append(f"{operation.label}: {e}")
    assert not failures, "\n\n".join(failures)
