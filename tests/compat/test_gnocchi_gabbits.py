"""Upstream Gnocchi conformance: each gabbi file against a fresh `telescale serve`.

Server conditions are the upstream fixture's: page size 7, CORS origin http://foobar.com, no default
archive policies.  A file passes when every test in it passes (gabbi's own `xfail` tests are expected
to fail, as upstream).
"""

from __future__ import annotations

import json
import shutil
import unittest
from pathlib import Path

import numpy as np
import pytest
import yaml
from gabbi import driver

from tests import server
from tests.compat import fixtures
from tests.compat.gabbits import gabbits_dir

FILES = [
    "base.yaml", "archive.yaml", "archive-rule.yaml", "metric.yaml", "metric-list.yaml",
    "metric-granularity.yaml", "metric-timestamp-format.yaml", "metric-derived.yaml", "async.yaml",
    "healthcheck.yaml", "cors.yaml", "aggregates-with-metric-ids.yaml", "batch-measures.yaml",
    "resource-type.yaml", "history.yaml", "pagination.yaml", "transformedids.yaml", "search.yaml",
    "resource.yaml", "create-metric-with-resource-id.yaml", "search-metric.yaml",
    "aggregates-with-resources.yaml", "aggregation.yaml", "resource-aggregation.yaml", "resample-calendar.yaml",
]
OVERRIDES = ["api.max_limit=7", 'api.cors_allowed_origins=["http://foobar.com"]',
             "indexer.create_default_archive_policies=false", "processing.workers=1", "processing.delay=0.02"]
RESULTS = Path(__file__).parent / ".cache" / "results.json"


class AssertNAN(yaml.YAMLObject):
    """`!AssertNAN` in the upstream files: equal to any NaN."""

    def __eq__(self, other: object) -> bool:
        try:
            return bool(np.isnan(other))  # type: ignore[arg-type]
        except TypeError:
            return False


yaml.add_constructor("!AssertNAN", lambda loader, node: AssertNAN())


def run_file(name: str, tmp_path: Path, skip: tuple[str, ...] = ()) -> unittest.TestResult:
    source = gabbits_dir() / name
    suite_dir = tmp_path / "gabbits"
    suite_dir.mkdir()
    shutil.copy(source, suite_dir / name)
    with server.running(tmp_path / "data", OVERRIDES) as srv:
        suite = driver.build_tests(str(suite_dir), unittest.TestLoader(), host="127.0.0.1", port=srv.port,
                                   fixture_module=fixtures, safe_yaml=False,
                                   test_loader_name="tests.compat.gnocchi")
        result = unittest.TestResult()
        suite.run(result)
    _record(name, result)
    return result


def _record(name: str, result: unittest.TestResult) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = {"run": result.testsRun, "failures": len(result.failures), "errors": len(result.errors),
                  "expected_failures": len(result.expectedFailures), "skipped": len(result.skipped)}
    RESULTS.write_text(json.dumps(data, indent=1, sort_keys=True))


def _describe(result: unittest.TestResult) -> str:
    lines = []
    for test, trace in result.failures + result.errors:
        tail = [line for line in trace.strip().splitlines() if "AssertionError" in line or "Error:" in line]
        lines.append(f"--- {test.id()}: " + (tail[-1] if tail else trace.strip().splitlines()[-1])[:600])
    return "\n".join(lines)


@pytest.mark.parametrize("name", FILES)
def test_gabbi_file(name: str, tmp_path: Path) -> None:
    result = run_file(name, tmp_path)
    assert result.testsRun > 0
    assert not result.failures and not result.errors, _describe(result)
