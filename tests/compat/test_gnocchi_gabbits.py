"""Upstream Gnocchi conformance: each gabbi file against a fresh `telescale serve`.

Server conditions are the upstream fixture's: page size 7, CORS origin http://foobar.com, no default
archive policies, one API process and metricd.  A file passes when every test in it passes (gabbi's own
`xfail` tests are expected to fail, as upstream).
"""

from __future__ import annotations

import unittest
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests import server
from tests.compat import fixtures, gabbits
from tests.compat.gabbits import gabbits_dir

FILES = [
    "base.yaml", "archive.yaml", "archive-rule.yaml", "metric.yaml", "metric-list.yaml",
    "metric-granularity.yaml", "metric-timestamp-format.yaml", "metric-derived.yaml", "async.yaml",
    "healthcheck.yaml", "cors.yaml", "aggregates-with-metric-ids.yaml", "batch-measures.yaml",
    "resource-type.yaml", "history.yaml", "pagination.yaml", "transformedids.yaml", "search.yaml",
    "resource.yaml", "create-metric-with-resource-id.yaml", "search-metric.yaml",
    "aggregates-with-resources.yaml", "aggregation.yaml", "resource-aggregation.yaml", "resample-calendar.yaml",
    "prometheus.yaml", "influxdb.yaml",
]
# Upstream's fixture ran one API in process and metricd beside it, and no alarm evaluator (Gnocchi has none):
# one API worker, one processing worker, no evaluator (the processes a server starts are most of its start time).
OVERRIDES = ["api.max_limit=7", 'api.cors_allowed_origins=["http://foobar.com"]',
             "indexer.create_default_archive_policies=false", "api.workers=1", "processing.workers=1",
             "processing.delay=0.02", "alarming.evaluators=0"]
RESULTS = Path(__file__).parent / ".cache" / "results.json"


class AssertNAN(yaml.YAMLObject):
    """`!AssertNAN` in the upstream files: equal to any NaN."""

    def __eq__(self, other: object) -> bool:
        try:
            return bool(np.isnan(other))  # type: ignore[arg-type]
        except TypeError:
            return False


yaml.add_constructor("!AssertNAN", lambda loader, node: AssertNAN())


def run_file(name: str, tmp_path: Path) -> unittest.TestResult:
    with server.running(tmp_path / "data", OVERRIDES) as srv:
        suite = gabbits.build_suite(gabbits_dir() / name, "127.0.0.1", srv.port, fixtures, "tests.compat.gnocchi")
        result = gabbits.run_suite(suite)
    gabbits.record(RESULTS, name, result)
    return result


@pytest.mark.parametrize("name", FILES)
def test_gabbi_file(name: str, tmp_path: Path) -> None:
    result = run_file(name, tmp_path)
    assert result.testsRun > 0
    assert not result.failures and not result.errors, gabbits.describe(result.failures + result.errors)
