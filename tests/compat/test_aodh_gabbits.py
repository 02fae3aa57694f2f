"""Upstream Aodh conformance: each of Aodh's gabbi files, unchanged, against a fresh `telescale serve`.

Which files and why, and the conditions they run under: tests/compat/aodh_gabbits.py.  A file passes
when every test in it passes, except the tests listed in `EXPECTED_FAILURES`, which must fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import aodh_gabbits, gabbits

RESULTS = Path(__file__).parent / ".cache" / "aodh-results.json"


@pytest.mark.parametrize("name", aodh_gabbits.FILES)
def test_gabbi_file(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in aodh_gabbits.ENVIRON.items():
        monkeypatch.setenv(key, value)
    with aodh_gabbits.target(tmp_path) as (host, port):
        result = gabbits.run_suite(aodh_gabbits.suite(name, host, port))
    gabbits.record(RESULTS, name, result)
    assert result.testsRun > 0
    failed = result.failures + result.errors
    expected = aodh_gabbits.expected_failures(name)
    unexpected = [(t, trace) for t, trace in failed if gabbits.gabbi_name(t) not in expected]
    now_passing = set(expected) - {gabbits.gabbi_name(t) for t, _ in failed}
    assert not unexpected, gabbits.describe(unexpected)
    assert not now_passing, f"listed in EXPECTED_FAILURES but passed: {sorted(now_passing)}"
