"""gnocchiclient 7.2 (from PyPI), used from the shell, against a real `telescale serve`.

Every test runs the `gnocchi` command as a subprocess, as a user would (`gnocchi --os-auth-type
gnocchi-basic --user admin --endpoint http://…`), and asserts on what it prints with `-f json`, or, when
the API refuses, on the message it prints and its non-zero exit status.  One server serves the whole
module; `api.max_limit=3` makes every list longer than three items span pages, so the client's following
of `Link: rel="next"` is exercised too.

Installation: gnocchiclient lives in a virtualenv of its own, built on first use under
tests/e2e/.cache/ and reused (see tests/e2e/gnocchi_cli.py), the way tests/compat fetches Gnocchi's
wheel.  `pip install --dry-run gnocchiclient` into Telescale's .venv shows no conflict today, but the
client pulls cliff, cmd2, rich, keystoneauth1, stevedore, debtcollector… whose versions must never
be decided by (or decide) Telescale's or another client's; a separate venv also runs the CLI exactly
as a user's own install does.  When the install fails the tests skip on a laptop and fail when CI=true.

Where the CLI shows Telescale differing from Gnocchi the test is marked xfail(strict=True) with the
request, the response and what gnocchiclient expects, so it flips to a failure once fixed.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import telescale
from tests import server
from tests.conftest import service_unavailable
from tests.e2e import gnocchi_cli
from tests.e2e.gnocchi_cli import Gnocchi

T0 = "2026-11-23T12:00:00"
POLICY = "cli-fine"
RTYPE = "cli_server"
NO_SUCH = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def gnocchi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gnocchi]:
    try:
        executable = gnocchi_cli.ensure_installed()
    except gnocchi_cli.InstallError as e:
        service_unavailable(f"cannot install {gnocchi_cli.REQUIREMENT}: {e}")
    data_dir = tmp_path_factory.mktemp("gnocchiclient") / "data"
    overrides = ["processing.workers=1", "processing.delay=0.01", "api.max_limit=3", "api.workers=1"]
    with server.running(data_dir, overrides) as srv:
        yield Gnocchi(executable, srv.url)


@pytest.fixture(scope="module")
def policy(gnocchi: Gnocchi) -> str:
    """`cli-fine`: 1 minute for an hour and 1 hour for a day, mean/max/count, and the rule `disk.*` → it."""
    created = gnocchi.json("archive-policy", "create", POLICY, "-d", "granularity:1m,timespan:1h",
                           "-d", "granularity:1h,timespan:1d", "-b", "0", "-m", "mean", "-m", "max", "-m", "count")
    assert created["name"] == POLICY
    rule = gnocchi.json("archive-policy-rule", "create", "cli-disks", "-a", POLICY, "-m", "disk.*")
    assert rule == {"name": "cli-disks", "metric_pattern": "disk.*", "archive_policy_name": POLICY}
    return POLICY


@pytest.fixture(scope="module")
def resource_type(gnocchi: Gnocchi) -> str:
    created = gnocchi.json("resource-type", "create", RTYPE, "-a", "host:string:true:max_length=32",
                           "-a", "vcpus:number:false:min=1")
    assert created["name"] == RTYPE
    return RTYPE


def _new_metric(gnocchi: Gnocchi, policy: str, name: str) -> str:
    return gnocchi.json("metric", "create", "-a", policy, name)["id"]


def _series(rows: list[dict]) -> list[tuple[str, float, float]]:
    return [(r["timestamp"], r["granularity"], r["value"]) for r in rows]


# --- the command itself ---------------------------------------------------------------------------------

def test_version_and_basic_auth_flags(gnocchi: Gnocchi) -> None:
    version = gnocchi.run("--version", auth=False)
    assert version.returncode == 0
    assert (version.stdout + version.stderr).split()[-1].startswith("7.2."), version
    usage = gnocchi.run("--help", auth=False).stdout
    assert "--user <gnocchi user>" in usage and "--endpoint <gnocchi endpoint>" in usage
    assert "gnocchi-basic plugin" in usage


def test_endpoint_and_user_from_the_environment(gnocchi: Gnocchi) -> None:
    """`export GNOCCHI_ENDPOINT=… GNOCCHI_USER=…` then plain `gnocchi …` (gnocchi-basic is the default)."""
    env = Gnocchi(gnocchi.executable, gnocchi.endpoint, env={"GNOCCHI_ENDPOINT": gnocchi.endpoint,
                                                            "GNOCCHI_USER": "carol"})
    out = env.run("metric", "create", "-a", "low", "env-metric", "-f", "json", auth=False)
    assert out.json()["creator"] == "carol"


def test_server_version(gnocchi: Gnocchi) -> None:
    """gnocchiclient reads `build` from `GET /`: the Gnocchi API level, then Telescale's own version."""
    assert gnocchi.ok("server", "version", "-f", "value").strip() == f"4.7.1+telescale.{telescale.__version__}"


# --- archive policies and rules -------------------------------------------------------------------------

def test_archive_policy_create_show_list_delete(gnocchi: Gnocchi) -> None:
    created = gnocchi.json("archive-policy", "create", "cli-tmp", "-d", "granularity:1s,timespan:1h",
                           "-d", "granularity:1m,timespan:1d", "-b", "2", "-m", "mean", "-m", "max")
    expected = {
        "name": "cli-tmp", "back_window": 2, "aggregation_methods": ["max", "mean"],
        "definition": [{"granularity": "0:00:01", "points": 3600, "timespan": "1:00:00"},
                       {"granularity": "0:01:00", "points": 1440, "timespan": "1 day, 0:00:00"}],
    }
    assert {**created, "aggregation_methods": sorted(created["aggregation_methods"])} == expected
    shown = gnocchi.json("archive-policy", "show", "cli-tmp")
    assert {**shown, "aggregation_methods": sorted(shown["aggregation_methods"])} == expected
    names = [p["name"] for p in gnocchi.json("archive-policy", "list")]
    assert {"low", "medium", "high", "bool", "cli-tmp"} <= set(names)
    assert len(names) == len(set(names))  # pages (max_limit=3) followed without repeats
    assert gnocchi.fails("archive-policy", "create", "cli-tmp", "-d", "granularity:1s,timespan:1h") == (
        "Archive policy cli-tmp already exists (HTTP 409)")
    gnocchi.ok("archive-policy", "delete", "cli-tmp")
    assert gnocchi.fails("archive-policy", "show", "cli-tmp") == "Archive policy cli-tmp does not exist (HTTP 404)"


def test_archive_policy_in_use_cannot_be_deleted(gnocchi: Gnocchi, policy: str) -> None:
    _new_metric(gnocchi, policy, "keeps-policy")
    assert gnocchi.fails("archive-policy", "delete", policy) == f"Archive policy {policy} is still in use (HTTP 400)"


def test_archive_policy_create_with_points(gnocchi: Gnocchi) -> None:
    created = gnocchi.json("archive-policy", "create", "cli-points", "-d", "granularity:1m,points:60",
                           "-m", "mean")
    assert created["definition"] == [{"granularity": "0:01:00", "points": 60, "timespan": "1:00:00"}]


def test_archive_policy_update(gnocchi: Gnocchi) -> None:
    gnocchi.ok("archive-policy", "create", "cli-upd", "-d", "granularity:1m,timespan:1h", "-m", "mean")
    updated = gnocchi.json("archive-policy", "update", "cli-upd", "-d", "granularity:1m,timespan:2h")
    assert updated["definition"] == [{"granularity": "0:01:00", "points": 120, "timespan": "2:00:00"}]


def test_archive_policy_rule_show_list_delete(gnocchi: Gnocchi, policy: str) -> None:
    gnocchi.ok("archive-policy-rule", "create", "cli-tmp-rule", "-a", "low", "-m", "tmp.*")
    assert gnocchi.json("archive-policy-rule", "show", "cli-disks") == {
        "name": "cli-disks", "metric_pattern": "disk.*", "archive_policy_name": policy}
    rules = {r["name"]: r for r in gnocchi.json("archive-policy-rule", "list")}
    assert rules["default"] == {"name": "default", "archive_policy_name": "low", "metric_pattern": "*"}
    assert rules["cli-tmp-rule"]["metric_pattern"] == "tmp.*"
    gnocchi.ok("archive-policy-rule", "delete", "cli-tmp-rule")
    assert gnocchi.fails("archive-policy-rule", "show", "cli-tmp-rule") == (
        "Archive policy rule cli-tmp-rule does not exist (HTTP 404)")
    assert gnocchi.fails("archive-policy-rule", "create", "r", "-a", "nope", "-m", "x.*") == (
        "{'cause': 'Archive policy does not exist', 'reason': 'Archive policy nope does not exist', "
        "'detail': 'nope'} (HTTP 400)")


def test_archive_policy_rule_update(gnocchi: Gnocchi) -> None:
    gnocchi.ok("archive-policy-rule", "create", "cli-rename", "-a", "low", "-m", "rename.*")
    renamed = gnocchi.json("archive-policy-rule", "update", "cli-rename", "-n", "cli-renamed")
    assert renamed == {"name": "cli-renamed", "metric_pattern": "rename.*", "archive_policy_name": "low"}


# --- resource types and resources -----------------------------------------------------------------------

def test_resource_type_create_show_update_list_delete(gnocchi: Gnocchi, resource_type: str) -> None:
    shown = gnocchi.json("resource-type", "show", resource_type)
    assert shown == {
        "name": resource_type, "state": "active",
        "attributes/host": "max_length=32, min_length=0, required=True, type=string",
        "attributes/vcpus": "max=None, min=1, required=False, type=number",
    }
    gnocchi.ok("resource-type", "create", "cli_tmp_type", "-a", "a:string:false", "-a", "b:bool:false")
    updated = gnocchi.json("resource-type", "update", "cli_tmp_type", "-a", "c:uuid:false", "-r", "b")
    assert updated == {"name": "cli_tmp_type", "state": "active",
                       "attributes/a": "max_length=256, min_length=0, required=False, type=string",
                       "attributes/c": "required=False, type=uuid"}
    names = [t["name"] for t in gnocchi.json("resource-type", "list")]
    assert {"generic", resource_type, "cli_tmp_type"} <= set(names)
    gnocchi.ok("resource-type", "delete", "cli_tmp_type")
    assert gnocchi.fails("resource-type", "show", "cli_tmp_type") == (
        "Resource type cli_tmp_type does not exist (HTTP 404)")
    message = gnocchi.fails("resource-type", "update", resource_type, "-a", "az:string:true")
    assert message.endswith("(HTTP 400)") and "az" in message
    gnocchi.ok("resource-type", "create", "cli_fill_type", "-a", "a:string:false")
    gnocchi.ok("resource", "create", "cli-fill", "-t", "cli_fill_type", "-a", "a:x")
    gnocchi.ok("resource-type", "update", "cli_fill_type", "-a", "zone:string:true:fill=nova")
    assert gnocchi.json("resource", "show", "-t", "cli_fill_type", "cli-fill")["zone"] == "nova"


def test_resource_create_show_update_history_list(gnocchi: Gnocchi, policy: str, resource_type: str) -> None:
    created = gnocchi.json("resource", "create", "cli-vm-1", "-t", resource_type, "-a", "host:c1",
                           "-a", "vcpus:2", "--create-metric", f"cpu:{policy}", "-n", "disk.io")
    assert created["type"] == resource_type
    assert created["original_resource_id"] == "cli-vm-1"
    assert (created["host"], created["vcpus"], created["creator"]) == ("c1", 2, "admin")
    assert set(created["metrics"]) == {"cpu", "disk.io"}
    rid = created["id"]
    # `-n disk.io` has no policy: the rule `disk.*` chose it
    assert gnocchi.json("metric", "show", "-r", "cli-vm-1", "disk.io")["archive_policy/name"] == policy

    shown = gnocchi.json("resource", "show", "-t", resource_type, "cli-vm-1")
    assert shown == created
    assert gnocchi.json("resource", "show", rid)["type"] == resource_type  # generic by default

    updated = gnocchi.json("resource", "update", "-t", resource_type, "cli-vm-1", "-a", "host:c2",
                           "-n", "mem:low")
    assert updated["host"] == "c2"
    assert set(updated["metrics"]) == {"cpu", "disk.io", "mem"}
    assert updated["revision_start"] > created["revision_start"]

    mem = updated["metrics"]["mem"]
    detached = gnocchi.json("resource", "update", "-t", resource_type, "cli-vm-1", "-d", "mem")
    assert set(detached["metrics"]) == {"cpu", "disk.io"}
    reattached = gnocchi.json("resource", "update", "-t", resource_type, "cli-vm-1", "-m", f"memory:{mem}")
    assert reattached["metrics"]["memory"] == mem

    history = gnocchi.json("resource", "history", "-t", resource_type, "cli-vm-1")
    assert [h["host"] for h in history] == ["c1", "c2"]
    assert history[0]["revision_end"] == history[1]["revision_start"]
    assert history[1]["revision_end"] is None

    listed = gnocchi.json("resource", "list", "-t", resource_type)
    assert [(r["id"], r["host"]) for r in listed if r["id"] == rid] == [(rid, "c2")]

    assert gnocchi.fails("resource", "create", "cli-vm-1", "-t", resource_type, "-a", "host:x") == (
        f"Resource {rid} already exists (HTTP 409)")
    assert gnocchi.fails("resource", "create", "cli-vm-bad", "-t", resource_type, "-a", "vcpus:1") == (
        "{'cause': 'Invalid input', 'reason': \"required key not provided @ data['host']\", "
        "'detail': ['host']} (HTTP 400)")


def test_resource_list_follows_pages(gnocchi: Gnocchi) -> None:
    ids = {gnocchi.json("resource", "create", f"cli-page-{i}")["id"] for i in range(7)}
    listed = [r["id"] for r in gnocchi.json("resource", "list")]
    assert ids <= set(listed)
    assert len(listed) == len(set(listed))
    assert len(gnocchi.json("resource", "list", "--limit", "2")) == 2
    sorted_ = [r["original_resource_id"] for r in gnocchi.json("resource", "list", "--sort",
                                                                "original_resource_id:desc")]
    assert sorted_ == sorted(sorted_, reverse=True)


def test_resource_search(gnocchi: Gnocchi, resource_type: str) -> None:
    for name, host, vcpus in (("cli-s-1", "s1", 1), ("cli-s-2", "s2", 4), ("cli-s-3", "s2", 8)):
        gnocchi.ok("resource", "create", name, "-t", resource_type, "-a", f"host:{host}", "-a", f"vcpus:{vcpus}")

    def found(query: str) -> list[str]:
        rows = gnocchi.json("resource", "search", "-t", resource_type, query)
        return sorted(r["original_resource_id"] for r in rows)

    assert found('host = "s2"') == ["cli-s-2", "cli-s-3"]
    assert found('host = "s2" and vcpus >= 5') == ["cli-s-3"]
    assert found('host like "s%" and not vcpus = 4') == ["cli-s-1", "cli-s-3"]
    assert found("host in [\"s1\", \"nowhere\"] or vcpus = 8") == ["cli-s-1", "cli-s-3"]
    assert found('host = "nowhere"') == []
    generic = gnocchi.json("resource", "search", 'original_resource_id = "cli-s-1"')
    assert [r["type"] for r in generic] == [resource_type]
    assert gnocchi.fails("resource", "search", "-t", resource_type, 'colour = "red"') == (
        f"Resource type {resource_type} has no colour attribute (HTTP 400)")
    # the CLI always sends its query as ?filter=; JSON there is a syntax error, as with Gnocchi
    message = gnocchi.fails("resource", "search", "-t", resource_type, '{"=": {"host": "s2"}}')
    assert message.startswith("Invalid filter: ") and message.endswith("(HTTP 400)")


def test_resource_search_json_form(gnocchi: Gnocchi, resource_type: str) -> None:
    """The JSON search body, through gnocchiclient's Python API (the CLI only sends the string form)."""
    gnocchi.ok("resource", "create", "cli-j-1", "-t", resource_type, "-a", "host:j1", "-a", "vcpus:3")
    script = textwrap.dedent("""
        import json, sys
        from gnocchiclient import auth, client
        c = client.Client("1", session_options={"auth": auth.GnocchiBasicPlugin("admin", sys.argv[1])})
        print(json.dumps(c.resource.search(resource_type=sys.argv[2], query=json.loads(sys.argv[3]))))
    """)
    query = {"and": [{"=": {"host": "j1"}}, {">": {"vcpus": 2}}]}
    proc = subprocess.run([str(gnocchi.python), "-c", script, gnocchi.endpoint, resource_type, json.dumps(query)],
                          capture_output=True, text=True, timeout=60, env=gnocchi_cli.clean_environment())
    assert proc.returncode == 0, proc.stderr
    assert [r["original_resource_id"] for r in json.loads(proc.stdout)] == ["cli-j-1"]


def test_resource_delete_and_batch_delete(gnocchi: Gnocchi, policy: str, resource_type: str) -> None:
    created = gnocchi.json("resource", "create", "cli-del", "-n", f"m:{policy}")
    gnocchi.ok("resource", "delete", "cli-del")
    assert gnocchi.fails("resource", "show", "cli-del") == f"Resource {created['id']} does not exist (HTTP 404)"
    assert gnocchi.fails("metric", "show", created["metrics"]["m"]).endswith("does not exist (HTTP 404)")
    for i in range(2):
        gnocchi.ok("resource", "create", f"cli-bd-{i}", "-t", resource_type, "-a", "host:doomed")
    deleted = gnocchi.json("resource", "batch", "delete", "-t", resource_type, 'host = "doomed"')
    assert deleted == {"deleted": 2}


# --- metrics --------------------------------------------------------------------------------------------

def test_metric_create_show_list_delete(gnocchi: Gnocchi, policy: str) -> None:
    created = gnocchi.json("metric", "create", "-a", policy, "--unit", "ms", "cli-latency")
    assert {k: created[k] for k in ("name", "unit", "archive_policy/name", "resource_id", "creator")} == {
        "name": "cli-latency", "unit": "ms", "archive_policy/name": policy, "resource_id": None, "creator": "admin"}
    shown = gnocchi.json("metric", "show", created["id"])
    assert shown.pop("resource/id") is None  # GET shows the (absent) resource, as Gnocchi's detailed metric
    assert shown == created
    by_rule = gnocchi.json("metric", "create", "disk.write")
    assert by_rule["archive_policy/name"] == policy
    default = gnocchi.json("metric", "create", "cli-other")
    assert default["archive_policy/name"] == "low"

    gnocchi.ok("resource", "create", "cli-owner")
    attached = gnocchi.json("metric", "create", "-r", "cli-owner", "-a", "low", "net")
    assert attached["name"] == "net" and attached["resource_id"] is not None
    assert gnocchi.json("metric", "show", "-r", "cli-owner", "net")["id"] == attached["id"]

    listed = [m["id"] for m in gnocchi.json("metric", "list")]
    assert {created["id"], by_rule["id"], default["id"], attached["id"]} <= set(listed)
    assert len(listed) == len(set(listed))
    assert len(gnocchi.json("metric", "list", "--limit", "2")) == 2

    gnocchi.ok("metric", "delete", created["id"])
    assert gnocchi.fails("metric", "show", created["id"]) == f"Metric {created['id']} does not exist (HTTP 404)"
    assert created["id"] not in [m["id"] for m in gnocchi.json("metric", "list")]


def test_metric_show_embeds_its_resource(gnocchi: Gnocchi, policy: str) -> None:
    rid = gnocchi.json("resource", "create", "cli-embeds", "-n", f"cpu:{policy}")["id"]
    shown = gnocchi.json("metric", "show", "-r", "cli-embeds", "cpu", "-c", "resource/id", "-c", "resource/type")
    assert shown == {"resource/id": rid, "resource/type": "generic"}
    alone = _new_metric(gnocchi, policy, "cli-alone")
    assert gnocchi.json("metric", "show", alone, "-c", "resource/id") == {"resource/id": None}


# --- measures -------------------------------------------------------------------------------------------

def test_measures_add_and_show(gnocchi: Gnocchi, policy: str) -> None:
    gnocchi.ok("resource", "create", "cli-meas", "-n", f"cpu:{policy}")
    gnocchi.ok("measures", "add", "-r", "cli-meas", "cpu", "-m", f"{T0}@10", "-m", "2026-11-23T12:00:30@20",
               "-m", "2026-11-23T12:01:10@30")
    metric = gnocchi.json("metric", "show", "-r", "cli-meas", "cpu")["id"]
    gnocchi.ok("measures", "add", metric, "-m", "2026-11-23T12:02:10@40")

    assert _series(gnocchi.json("measures", "show", "--refresh", "--utc", metric)) == [
        ("2026-11-23T12:00:00+00:00", 3600.0, 25.0),
        ("2026-11-23T12:00:00+00:00", 60.0, 15.0),
        ("2026-11-23T12:01:00+00:00", 60.0, 30.0),
        ("2026-11-23T12:02:00+00:00", 60.0, 40.0),
    ]
    by_name = gnocchi.json("measures", "show", "-r", "cli-meas", "cpu", "--utc", "--aggregation", "max",
                           "--granularity", "60")
    assert _series(by_name) == [("2026-11-23T12:00:00+00:00", 60.0, 20.0), ("2026-11-23T12:01:00+00:00", 60.0, 30.0),
                                ("2026-11-23T12:02:00+00:00", 60.0, 40.0)]
    # as Gnocchi, resample aggregates the 60 s buckets again: a count counts buckets, not raw measures
    resampled = gnocchi.json("measures", "show", metric, "--utc", "--aggregation", "count", "--granularity", "60",
                             "--resample", "120")
    assert _series(resampled) == [("2026-11-23T12:00:00+00:00", 120.0, 2.0), ("2026-11-23T12:02:00+00:00", 120.0, 1.0)]
    window = gnocchi.json("measures", "show", metric, "--utc", "--granularity", "60",
                          "--start", "2026-11-23T12:01:00", "--stop", "2026-11-23T12:02:00")
    assert _series(window) == [("2026-11-23T12:01:00+00:00", 60.0, 30.0)]

    assert gnocchi.fails("measures", "show", metric, "--granularity", "7") == (
        f"Aggregation method 'mean' at granularity '7.0' for metric {metric} does not exist (HTTP 404)")
    assert gnocchi.fails("measures", "show", metric, "--resample", "120") == (
        "A granularity must be specified to resample (HTTP 400)")
    assert gnocchi.fails("measures", "show", metric, "--aggregation", "last") == (
        "{'cause': 'Aggregation method does not exist for this metric', 'detail': {'metric': "
        f"'{metric}', 'aggregation_method': 'last'}}}} (HTTP 404)")


def test_measures_batch_from_files(gnocchi: Gnocchi, policy: str, tmp_path: Path) -> None:
    metric = _new_metric(gnocchi, policy, "cli-batch")
    batch = tmp_path / "metrics.json"
    batch.write_text(json.dumps({metric: [{"timestamp": T0, "value": 1}, {"timestamp": "2026-11-23T12:00:20",
                                                                          "value": 3}]}))
    gnocchi.ok("measures", "batch-metrics", str(batch))
    assert _series(gnocchi.json("measures", "show", metric, "--refresh", "--utc", "--granularity", "60")) == [
        ("2026-11-23T12:00:00+00:00", 60.0, 2.0)]

    gnocchi.ok("resource", "create", "cli-batch-res", "-n", f"cpu:{policy}")
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps({"cli-batch-res": {
        "cpu": [{"timestamp": T0, "value": 5}],
        "disk.read": [{"timestamp": T0, "value": 7}],
        "new": {"archive_policy_name": policy, "unit": "B", "measures": [{"timestamp": T0, "value": 9}]},
    }}))
    message = gnocchi.fails("measures", "batch-resources-metrics", str(resources))
    rid = gnocchi.json("resource", "show", "cli-batch-res")["id"]
    assert message == f"Unknown metrics: {rid}/disk.read, {rid}/new (HTTP 400)"
    gnocchi.ok("measures", "batch-resources-metrics", "--create-metrics", str(resources))
    metrics = gnocchi.json("resource", "show", "cli-batch-res")["metrics"]
    assert set(metrics) == {"cpu", "disk.read", "new"}
    new = gnocchi.json("metric", "show", metrics["new"])
    assert (new["unit"], new["archive_policy/name"]) == ("B", policy)
    for name, value in (("cpu", 5.0), ("disk.read", 7.0), ("new", 9.0)):
        shown = gnocchi.json("measures", "show", "-r", "cli-batch-res", name, "--refresh", "--utc",
                             "--granularity", "60")
        assert _series(shown) == [("2026-11-23T12:00:00+00:00", 60.0, value)], name

    # `-` reads the batch from standard input
    gnocchi.ok("measures", "batch-metrics", "-",
               stdin=json.dumps({metric: [{"timestamp": "2026-11-23T12:01:00", "value": 10}]}))
    assert _series(gnocchi.json("measures", "show", metric, "--refresh", "--utc", "--granularity", "60"))[-1] == (
        "2026-11-23T12:01:00+00:00", 60.0, 10.0)
    unknown = gnocchi.run("measures", "batch-metrics", "-",
                          stdin=json.dumps({NO_SUCH: [{"timestamp": T0, "value": 1}]}))
    assert unknown.returncode != 0 and unknown.stderr.strip() == f"Unknown metrics: {NO_SUCH} (HTTP 400)"


# --- aggregates -----------------------------------------------------------------------------------------

def _two_metrics(gnocchi: Gnocchi, policy: str, second: list[str]) -> tuple[str, str]:
    a = _new_metric(gnocchi, policy, "cli-agg-a")
    b = _new_metric(gnocchi, policy, "cli-agg-b")
    gnocchi.ok("measures", "add", a, "-m", f"{T0}@1", "-m", "2026-11-23T12:01:00@2", "-m", "2026-11-23T12:02:00@3")
    gnocchi.ok("measures", "add", b, *[arg for m in second for arg in ("-m", m)])
    for metric in (a, b):  # the aggregates command has no --refresh
        gnocchi.ok("measures", "show", metric, "--refresh")
    return a, b


def test_aggregates_with_metric_ids(gnocchi: Gnocchi, policy: str) -> None:
    a, b = _two_metrics(gnocchi, policy, [f"{T0}@10", "2026-11-23T12:01:00@20", "2026-11-23T12:02:00@30"])
    single = gnocchi.json("aggregates", f"(metric {a} mean)", "--granularity", "60")  # no --utc: TZ=UTC
    assert [(r["name"], r["timestamp"], r["value"]) for r in single] == [
        (f"{a}/mean", "2026-11-23T12:00:00+00:00", 1.0), (f"{a}/mean", "2026-11-23T12:01:00+00:00", 2.0),
        (f"{a}/mean", "2026-11-23T12:02:00+00:00", 3.0)]
    summed = gnocchi.json("aggregates", f"(aggregate sum (metric ({a} mean) ({b} mean)))", "--granularity", "60")
    assert [(r["name"], r["timestamp"], r["granularity"], r["value"]) for r in summed] == [
        ("aggregated", "2026-11-23T12:00:00+00:00", 60.0, 11.0),
        ("aggregated", "2026-11-23T12:01:00+00:00", 60.0, 22.0),
        ("aggregated", "2026-11-23T12:02:00+00:00", 60.0, 33.0)]
    arith = gnocchi.json("aggregates", f"(* 2 (metric {a} max))", "--granularity", "60",
                         "--start", "2026-11-23T12:01:00")
    assert [r["value"] for r in arith] == [4.0, 6.0]

    assert gnocchi.fails("aggregates", f"(metric {NO_SUCH} mean)") == (
        "{'cause': 'Unknown metrics', 'reason': \"Provided metrics don't exists\", "
        f"'detail': ['{NO_SUCH}']}} (HTTP 404)")
    assert gnocchi.fails("aggregates", f"(metric {a} last)") == (
        f"{{'cause': 'Metrics with unknown aggregation', 'detail': [['{a}', 'last']]}} (HTTP 404)")
    assert gnocchi.fails("aggregates", f"(metric {a} mean").startswith(
        "{'cause': 'Invalid operations', 'reason': 'Fail to parse the operations string'")


def test_aggregates_over_series_of_different_spans(gnocchi: Gnocchi, policy: str) -> None:
    """The CLI sends neither fill nor needed_overlap, so fill is `dropna`: no overlap trimming, and a missing
    value is left out of the sum (checked against the real Gnocchi 4.7.1: 11, 2, 3)."""
    a, b = _two_metrics(gnocchi, policy, [f"{T0}@10"])
    summed = gnocchi.json("aggregates", f"(aggregate sum (metric ({a} mean) ({b} mean)))", "--granularity", "60")
    assert [(r["timestamp"], r["value"]) for r in summed] == [
        ("2026-11-23T12:00:00+00:00", 11.0), ("2026-11-23T12:01:00+00:00", 2.0), ("2026-11-23T12:02:00+00:00", 3.0)]


def test_measures_aggregation_across_metrics(gnocchi: Gnocchi, policy: str) -> None:
    """`gnocchi measures aggregation -m ID ID` (Gnocchi's deprecated GET /v1/aggregation/metric)."""
    a, b = _two_metrics(gnocchi, policy, [f"{T0}@10", "2026-11-23T12:01:00@20", "2026-11-23T12:02:00@30"])
    means = gnocchi.json("measures", "aggregation", "-m", a, b, "--granularity", "60", "--utc")
    assert _series(means) == [("2026-11-23T12:00:00+00:00", 60.0, 5.5), ("2026-11-23T12:01:00+00:00", 60.0, 11.0),
                              ("2026-11-23T12:02:00+00:00", 60.0, 16.5)]
    maxes = gnocchi.json("measures", "aggregation", "-m", a, b, "--granularity", "60", "--utc", "--aggregation",
                         "max", "--reaggregation", "min")
    assert [r["value"] for r in maxes] == [1.0, 2.0, 3.0]


def test_aggregates_over_a_resource_search(gnocchi: Gnocchi, policy: str) -> None:
    gnocchi.ok("resource", "create", "cli-agg-r", "-n", f"cpu:{policy}")
    gnocchi.ok("measures", "add", "-r", "cli-agg-r", "cpu", "-m", f"{T0}@4")
    gnocchi.ok("measures", "show", "-r", "cli-agg-r", "cpu", "--refresh")
    rows = gnocchi.json("aggregates", "(aggregate mean (metric cpu mean))", 'original_resource_id = "cli-agg-r"',
                        "--groupby", "original_resource_id", "--granularity", "60")
    assert [(r["group"], r["value"]) for r in rows] == [("original_resource_id: cli-agg-r", 4.0)]


# --- status, capabilities, errors -----------------------------------------------------------------------

def test_status_and_capabilities(gnocchi: Gnocchi) -> None:
    status = gnocchi.json("status")
    assert isinstance(status["storage/total number of measures to process"], int)
    assert isinstance(status["storage/number of metric having measures to process"], int)
    assert len(status["metricd/processors"]) >= 1
    methods = gnocchi.json("capabilities", "list")["aggregation_methods"]
    assert {"mean", "max", "count", "std", "95pct", "rate:mean"} <= set(methods)
    assert gnocchi.as_user("alice").fails("status") == "Access was denied to this resource. (HTTP 403)"


def test_errors_a_user_hits(gnocchi: Gnocchi) -> None:
    assert gnocchi.fails("metric", "show", NO_SUCH) == f"Metric {NO_SUCH} does not exist (HTTP 404)"
    assert gnocchi.fails("measures", "show", NO_SUCH) == f"Metric {NO_SUCH} does not exist (HTTP 404)"
    assert gnocchi.fails("measures", "add", NO_SUCH, "-m", f"{T0}@1") == f"Metric {NO_SUCH} does not exist (HTTP 404)"
    assert gnocchi.fails("metric", "delete", NO_SUCH) == f"Metric {NO_SUCH} does not exist (HTTP 404)"
    assert gnocchi.fails("metric", "create", "-a", "nope", "x") == "Archive policy nope does not exist (HTTP 400)"
    assert gnocchi.fails("resource-type", "show", "nope") == "Resource type nope does not exist (HTTP 404)"
    assert gnocchi.fails("archive-policy", "show", "nope") == "Archive policy nope does not exist (HTTP 404)"
    gnocchi.ok("resource", "create", "cli-err")
    assert gnocchi.fails("metric", "show", "-r", "cli-err", "nope") == "Metric nope does not exist (HTTP 404)"
    gnocchi.ok("metric", "create", "-r", "cli-err", "dup")
    assert gnocchi.fails("metric", "create", "-r", "cli-err", "dup") == "Named metric dup already exists (HTTP 409)"
    assert gnocchi.as_user("alice").fails("resource-type", "create", "cli_nope") == (
        "Access was denied to this resource. (HTTP 403)")
    bad = gnocchi.run("measures", "add", NO_SUCH, "-m", f"{T0}@abc")  # refused by the CLI itself
    assert bad.returncode == 2 and "invalid measure value" in bad.stderr
    down = Gnocchi(gnocchi.executable, f"http://127.0.0.1:{server.free_port()}").run("metric", "list")
    assert down.returncode != 0 and "Unable to establish connection" in down.stderr


# --- the gnocchi-noauth plugin against api.auth_mode=noauth ---------------------------------------------

def test_noauth_plugin_and_projects(gnocchi: Gnocchi, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`--os-auth-type gnocchi-noauth --user-id … --project-id … --roles …`: X-User-Id/X-Project-Id/X-Roles."""
    data_dir = tmp_path_factory.mktemp("gnocchiclient-noauth") / "data"
    overrides = ["api.auth_mode=noauth", "processing.workers=0", "api.workers=1"]
    with server.running(data_dir, overrides) as srv:
        base = Gnocchi(gnocchi.executable, srv.url)
        alice = base.as_noauth("alice", "p-a", "member")
        bob = base.as_noauth("bob", "p-b", "member")
        admin = base.as_noauth("root", "p-admin", "admin")

        created = alice.json("resource", "create", "na-1", "-a", "project_id:p-a", "-n", "cpu:low")
        assert (created["creator"], created["project_id"]) == ("alice:p-a", "p-a")
        assert alice.json("metric", "show", created["metrics"]["cpu"])["creator"] == "alice:p-a"
        # as Gnocchi, a non-UUID id is hashed with its creator: bob's "na-1" is another resource
        assert bob.fails("resource", "show", "na-1").endswith("does not exist (HTTP 404)")
        assert bob.fails("resource", "show", created["id"]) == "Access was denied to this resource. (HTTP 403)"
        assert created["id"] not in [r["id"] for r in bob.json("resource", "list")]
        assert [r["id"] for r in admin.json("resource", "search", 'project_id = "p-a"')] == [created["id"]]
        assert bob.fails("resource-type", "create", "na_type") == "Access was denied to this resource. (HTTP 403)"
        assert admin.json("resource-type", "create", "na_type")["name"] == "na_type"
