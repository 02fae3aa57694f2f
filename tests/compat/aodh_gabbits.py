"""Aodh's own gabbi files and the conditions its fixtures ran them under, restated for Telescale.

Where they come from: the `aodh` 23.0.0 wheel and sdist on PyPI hold no gabbi files any more.  The
functional files (`aodh/tests/functional/gabbi/gabbits/*.yaml`) were last shipped in **aodh 17.0.0**
(2023.2) and dropped from 18.0.0; the "live" file written for a deployed Aodh
(`aodh/tests/functional_live/gabbi/gabbits-live/alarms.yaml`) was shipped, unchanged, up to 19.0.0.  We
therefore take both from the 17.0.0 wheel; that they still describe Aodh 23 is checked by running them
against the real Aodh 23 (`TELESCALE_TEST_AODH_URL`, below).

What Aodh's fixtures did, and what stands for it here:
* `ConfigFixture` gave each file a fresh, empty database, turned authentication off
  (`api.auth_mode` unset) and allowed every policy check.  Here: a fresh `telescale serve` per file in
  `noauth` mode, every request sent as an admin of a project of its own (`X-User-Id`, `X-Project-Id`,
  `X-Roles: admin`, added to the file's defaults), one API worker and no alarm evaluator nor processing
  worker (upstream ran the API alone, so no evaluation may overwrite a state a test has just set; no
  file writes measures).
* `CORSConfigFixture` allowed the origin http://valid.example.com: `api.cors_allowed_origins`.
* The live file reads `$ENVIRON['AODH_SERVICE_TOKEN']` and `$ENVIRON['AODH_SERVICE_ROLES']` (a Keystone
  token and its roles in devstack): any token (noauth ignores it) and `admin`.

`TELESCALE_TEST_AODH_URL=http://127.0.0.1:8142` runs the same files against that server instead of a
Telescale (for checking the harness against the real Aodh 23, e.g. `../shared/tools/aodh-anchor up 8142
18141`; its CORS origin must then be configured there).  `make test` never sets it.
"""

from __future__ import annotations

import contextlib
import os
import unittest
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tests import server
from tests.compat import fixtures, gabbits

AODH_VERSION = "17.0.0"
SOURCES = {
    "gabbits": gabbits.UpstreamGabbits("aodh", AODH_VERSION, "aodh/tests/functional/gabbi/gabbits/"),
    "gabbits-live": gabbits.UpstreamGabbits("aodh", AODH_VERSION, "aodh/tests/functional_live/gabbi/gabbits-live/"),
}
FILES = ["gabbits/alarms.yaml", "gabbits/basic.yaml", "gabbits/capabilities.yaml", "gabbits/healthcheck.yaml",
         "gabbits/middleware.yaml", "gabbits-live/alarms.yaml"]
CORS_ORIGIN = "http://valid.example.com"
OVERRIDES = ["api.auth_mode=noauth", f'api.cors_allowed_origins=["{CORS_ORIGIN}"]', "alarming.evaluators=0",
             "api.workers=1", "processing.workers=0", "api.root_document=aodh"]
ENVIRON = {"AODH_SERVICE_TOKEN": "noauth-ignores-this-token", "AODH_SERVICE_ROLES": "admin"}
EXTERNAL_URL_VARIABLE = "TELESCALE_TEST_AODH_URL"

# basic.yaml reads Aodh's version document at `GET /`: the server runs with `api.root_document=aodh`, as an
# endpoint standing in for Aodh alone would (the default root is Gnocchi's, which gnocchiclient needs).
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}
"""(file, test name) → why the test cannot pass against Telescale; each must fail (and is reported if it
starts passing, so the entry can go)."""


def expected_failures(name: str) -> dict[str, str]:
    """Test name → reason, for the tests of file ``name`` that cannot pass here (none on the real Aodh)."""
    if os.environ.get(EXTERNAL_URL_VARIABLE):
        return {}
    return {test: why for (file, test), why in EXPECTED_FAILURES.items() if file == name}


def identity_headers() -> dict[str, str]:
    """An admin of a project no other file uses (so listings start empty even on a shared server)."""
    return {"x-user-id": str(uuid.uuid4()), "x-project-id": str(uuid.uuid4()), "x-roles": "admin"}


def yaml_file(name: str) -> Path:
    folder, _, filename = name.partition("/")
    return SOURCES[folder].directory() / filename


@contextlib.contextmanager
def target(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """(host, port) of the server under test: a fresh Telescale, or the external one when set."""
    external = os.environ.get(EXTERNAL_URL_VARIABLE)
    if external:
        parts = urlsplit(external)
        yield parts.hostname or "127.0.0.1", parts.port or 80
        return
    with server.running(tmp_path / "data", OVERRIDES) as srv:
        yield "127.0.0.1", srv.port


def suite(name: str, host: str, port: int) -> unittest.TestSuite:
    loader_name = "tests.compat.aodh_" + name.partition("/")[0].replace("-", "_")
    return gabbits.build_suite(yaml_file(name), host, port, fixtures, loader_name, identity_headers())
