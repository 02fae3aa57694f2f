"""Upstream gabbi files, fetched from a project's wheel on PyPI at test time, and how we run them.

They are the upstream projects' conformance suites for their REST APIs (Gnocchi's, Aodh's); we run them
unchanged against our server and do not commit them.  Wheels and extracted files are cached under
tests/compat/.cache.  The helpers below build one file's suite against a live server, collect a
result per file into a JSON summary, and describe failures in one line each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unittest
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from gabbi import handlers, suitemaker, utils

CACHE = Path(__file__).parent / ".cache"


@dataclass(frozen=True)
class UpstreamGabbits:
    """The gabbi files under ``prefix`` inside the wheel of ``package==version``."""

    package: str
    version: str
    prefix: str  # a folder inside the wheel, ending with "/"

    def directory(self) -> Path:
        """The extracted folder (named like the last part of ``prefix``), fetching the wheel when needed."""
        target = CACHE / f"{self.package}-{self.version}" / Path(self.prefix).name
        stamp = target / ".complete"
        if stamp.exists():
            return target
        CACHE.mkdir(parents=True, exist_ok=True)
        wheels = list(CACHE.glob(f"{self.package}-{self.version}-*.whl"))
        if not wheels:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                            "--dest", str(CACHE), f"{self.package}=={self.version}"], check=True)
            wheels = list(CACHE.glob(f"{self.package}-{self.version}-*.whl"))
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = [n for n in wheel.namelist()
                     if n.startswith(self.prefix) and not n.endswith("/") and "/." not in n]
            if not names:
                raise FileNotFoundError(f"{wheels[0].name} holds nothing under {self.prefix}")
            for name in names:
                out = target / name[len(self.prefix):]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(wheel.read(name))
        stamp.write_text(f"{self.package}=={self.version}\n")
        return target


GNOCCHI = UpstreamGabbits("gnocchi", "4.7.1", "gnocchi/tests/functional/gabbits/")


def gabbits_dir() -> Path:
    """Gnocchi 4.7.1's functional gabbi files."""
    return GNOCCHI.directory()


def build_suite(yaml_file: Path, host: str, port: int, fixture_module: ModuleType, loader_name: str,
                request_headers: Mapping[str, str] | None = None) -> unittest.TestSuite:
    """One file's tests against http://host:port, as gabbi's driver builds them.

    ``request_headers`` are added to the file's ``defaults`` (the file's own defaults win, and each test's
    headers win over both): what an upstream fixture gives every request implicitly (an identity), given
    explicitly, so the tests themselves stay unchanged."""
    suite_dict: dict[str, Any] = utils.load_yaml(yaml_file=str(yaml_file), safe=False)
    if request_headers:
        defaults = suite_dict.setdefault("defaults", {})
        defaults["request_headers"] = {**request_headers, **defaults.get("request_headers", {})}
    return suitemaker.test_suite_from_dict(
        unittest.TestLoader(), yaml_file.stem, suite_dict, str(yaml_file.parent), host, port, fixture_module,
        None, test_loader_name=loader_name, handlers=[h() for h in handlers.RESPONSE_HANDLERS])


def run_suite(suite: unittest.TestSuite) -> unittest.TestResult:
    result = unittest.TestResult()
    suite.run(result)
    return result


def gabbi_name(test: unittest.TestCase) -> str:
    """The `name:` a gabbi test has in its file."""
    data = getattr(test, "test_data", None)
    return data["name"] if data else test.id()


def record(results: Path, name: str, result: unittest.TestResult) -> None:
    """Add one file's counts to the JSON summary ``results`` (kept across runs, one key per file)."""
    results.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(results.read_text()) if results.exists() else {}
    data[name] = {"run": result.testsRun, "failures": len(result.failures), "errors": len(result.errors),
                  "expected_failures": len(result.expectedFailures), "skipped": len(result.skipped),
                  "failed": sorted(gabbi_name(t) for t, _ in result.failures + result.errors)}
    results.write_text(json.dumps(data, indent=1, sort_keys=True))


def describe(failed: list[tuple[unittest.TestCase, str]]) -> str:
    """One line per failed test: its id and the assertion or error that stopped it."""
    lines = []
    for test, trace in failed:
        tail = [line for line in trace.strip().splitlines() if "AssertionError" in line or "Error:" in line]
        lines.append(f"--- {test.id()}: " + (tail[-1] if tail else trace.strip().splitlines()[-1])[:600])
    return "\n".join(lines)
