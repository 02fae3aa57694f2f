"""aodhclient 3.12 (from PyPI), used from the shell with its `aodh-noauth` plugin, against a live Telescale.

Every test runs the `aodh` command (or, for quotas, `openstack alarm quota`) as a subprocess, as a user
would, and asserts on what it prints with `-f json`/`-f value`, or, when the API refuses, on the
message it prints and its non-zero exit status.  One `telescale serve` in `noauth` mode serves the
module, without an alarm evaluator (so a state set by a test stays set) and with
`alarming.prometheus_url` set (Prometheus rules are refused without one; creating them never queries it).
Each test calls as an admin of a project of its own, so its listings hold only its own alarms.  The
resources and metrics the Gnocchi rules name are created first through the same server's `/v1`.

The expected outputs are the real Aodh 23's: `TELESCALE_TEST_AODH_URL=http://127.0.0.1:8142
TELESCALE_TEST_AODH_GNOCCHI_URL=http://127.0.0.1:18141` runs this module against the anchors of
`../shared/tools/aodh-anchor up 8142 18141` instead (the Gnocchi anchor with HTTP basic `admin`), which
is how these expectations were checked; `make test` never sets them.

Installation: see tests/e2e/aodh_cli.py (its own venv under tests/e2e/.cache, built on first use; the
tests skip on a laptop and fail when CI=true if it cannot be built).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import server
from tests.conftest import service_unavailable
from tests.e2e import aodh_cli
from tests.e2e.aodh_cli import Aodh

OVERRIDES = ["api.auth_mode=noauth", "api.workers=1", "processing.workers=1", "alarming.evaluators=0",
             "alarming.prometheus_url=http://127.0.0.1:9090"]
EXTERNAL_AODH = "TELESCALE_TEST_AODH_URL"
EXTERNAL_GNOCCHI = "TELESCALE_TEST_AODH_GNOCCHI_URL"
NO_SUCH = "00000000-0000-0000-0000-000000000000"
PROMQL = 'sum(rate(node_cpu_seconds_total{mode!="idle"}[5m])) by (instance)'
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?$")


@dataclass(frozen=True)
class Target:
    aodh_url: str
    gnocchi_url: str
    gnocchi_headers: dict[str, str]


@dataclass(frozen=True)
class Seed:
    """What the Gnocchi rules read: a resource of a new type with metric `cpu`, and a metric of its own."""

    resource_type: str
    resource_id: str
    server_group: str
    cpu_metric: str
    metric: str


@pytest.fixture(scope="module")
def executable() -> Path:
    try:
        return aodh_cli.CLIENT.ensure_installed()
    except aodh_cli.InstallError as e:
        service_unavailable(f"cannot install {' '.join(aodh_cli.CLIENT.requirements)}: {e}")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    external = os.environ.get(EXTERNAL_AODH)
    if external:
        gnocchi = os.environ.get(EXTERNAL_GNOCCHI)
        assert gnocchi, f"{EXTERNAL_AODH} needs {EXTERNAL_GNOCCHI} (the Gnocchi that Aodh reads)"
        yield Target(external.rstrip("/"), gnocchi.rstrip("/"), {"Authorization": "Basic YWRtaW46"})
        return
    with server.running(tmp_path_factory.mktemp("aodhclient") / "data", OVERRIDES) as srv:
        admin = {"X-User-Id": str(uuid.uuid4()), "X-Project-Id": str(uuid.uuid4()), "X-Roles": "admin"}
        yield Target(srv.url, srv.url, admin)


@pytest.fixture(scope="module")
def seed(target: Target) -> Seed:
    suffix = uuid.uuid4().hex[:8]
    rtype, group = f"aodhcli_{suffix}", f"web-{suffix}"
    with httpx.Client(base_url=target.gnocchi_url, headers=target.gnocchi_headers, timeout=30) as gnocchi:
        made = gnocchi.post("/v1/resource_type", json={
            "name": rtype, "attributes": {"server_group": {"type": "string", "required": False}}})
        assert made.status_code == 201, made.text
        resource = gnocchi.post(f"/v1/resource/{rtype}", json={
            "id": str(uuid.uuid4()), "server_group": group, "metrics": {"cpu": {"archive_policy_name": "low"}}})
        assert resource.status_code == 201, resource.text
        metric = gnocchi.post("/v1/metric", json={"archive_policy_name": "low", "name": f"load-{suffix}"})
        assert metric.status_code == 201, metric.text
    body = resource.json()
    return Seed(rtype, body["id"], group, body["metrics"]["cpu"], metric.json()["id"])


@pytest.fixture
def aodh(executable: Path, target: Target) -> Aodh:
    """An admin of a new project."""
    return Aodh(executable, target.aodh_url, str(uuid.uuid4()), str(uuid.uuid4()), "admin")


def _unique(name: str) -> str:
    """Admins' name look-ups (`--name`) search every project: names carry a run-unique suffix."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _rule_args(kind: str, seed: Seed) -> tuple[list[str], dict[str, Any]]:
    """`aodh alarm create` options for a rule of type ``kind``, and the fields the CLI then shows."""
    if kind == "gnocchi_resources_threshold":
        return (["--metric", "cpu", "--resource-type", seed.resource_type, "--resource-id", seed.resource_id,
                 "--aggregation-method", "mean", "--threshold", "80", "--granularity", "300"],
                {"metric": "cpu", "resource_type": seed.resource_type, "resource_id": seed.resource_id,
                 "aggregation_method": "mean", "threshold": 80.0, "comparison_operator": "eq",
                 "evaluation_periods": 1, "granularity": 300})
    if kind == "gnocchi_aggregation_by_metrics_threshold":
        return (["--metrics", seed.metric, "--metrics", seed.cpu_metric, "--aggregation-method", "max",
                 "--threshold", "5", "--comparison-operator", "ge", "--evaluation-periods", "2",
                 "--granularity", "300"],
                {"metrics": [seed.metric, seed.cpu_metric], "aggregation_method": "max", "threshold": 5.0,
                 "comparison_operator": "ge", "evaluation_periods": 2, "granularity": 300})
    if kind == "gnocchi_aggregation_by_resources_threshold":
        query = json.dumps({"=": {"server_group": seed.server_group}})
        return (["--metric", "cpu", "--resource-type", seed.resource_type, "--query", query,
                 "--aggregation-method", "rate:mean", "--threshold", "0.5", "--comparison-operator", "gt",
                 "--granularity", "300"],
                {"metric": "cpu", "resource_type": seed.resource_type, "query": query,
                 "aggregation_method": "rate:mean", "threshold": 0.5, "comparison_operator": "gt",
                 "evaluation_periods": 1, "granularity": 300})
    if kind == "composite":  # (a prometheus leaf is refused by Aodh 23: "Unknown attribute … scope_to_project")
        rule = {"or": [
            {"type": "gnocchi_resources_threshold", "metric": "cpu", "resource_type": seed.resource_type,
             "resource_id": seed.resource_id, "aggregation_method": "mean", "threshold": 80,
             "comparison_operator": "gt"},
            {"and": [
                {"type": "gnocchi_aggregation_by_metrics_threshold", "metrics": [seed.metric],
                 "aggregation_method": "max", "threshold": 5, "granularity": 300},
                {"type": "gnocchi_aggregation_by_resources_threshold", "metric": "cpu",
                 "resource_type": seed.resource_type, "query": json.dumps({"=": {"server_group": seed.server_group}}),
                 "aggregation_method": "rate:mean", "threshold": 0.9, "comparison_operator": "lt",
                 "evaluation_periods": 2}]}]}
        shown = {"or": [
            {**rule["or"][0], "threshold": 80.0, "granularity": 60, "evaluation_periods": 1},
            {"and": [
                {**rule["or"][1]["and"][0], "threshold": 5.0, "comparison_operator": "eq", "evaluation_periods": 1},
                {**rule["or"][1]["and"][1], "granularity": 60}]}]}
        return ["--composite-rule", json.dumps(rule)], {"composite_rule": shown}
    if kind == "event":
        return (["--event-type", "compute.instance.*", "--query",
                 "traits.instance_id=string::abc;traits.vcpus>=integer::2"],
                {"event_type": "compute.instance.*", "query": "traits.instance_id = abc AND\ntraits.vcpus >= 2"})
    assert kind == "prometheus", kind
    return (["--query", PROMQL, "--threshold", "0.8", "--comparison-operator", "gt"],
            {"query": PROMQL, "threshold": 0.8, "comparison_operator": "gt"})


RULE_TYPES = ["gnocchi_resources_threshold", "gnocchi_aggregation_by_metrics_threshold",
              "gnocchi_aggregation_by_resources_threshold", "composite", "event", "prometheus"]
DESCRIPTIONS = {"event": "Alarm when compute.instance.* event occurred.", "composite": "composite alarm rule"}


def _shown(alarm: dict[str, Any]) -> dict[str, Any]:
    """The CLI's output with its JSON-in-a-string fields decoded."""
    out = dict(alarm)
    for key in ("composite_rule", "time_constraints"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out


def _normalised(alarm: dict[str, Any]) -> dict[str, Any]:
    """A resource-search rule's query as `json.dumps` writes it (the server may re-serialise it)."""
    if alarm.get("type") == "gnocchi_aggregation_by_resources_threshold":
        return {**alarm, "query": json.dumps(json.loads(alarm["query"]))}
    return alarm


def _create(aodh: Aodh, seed: Seed, kind: str, *extra: str, name: str | None = None) -> dict[str, Any]:
    args, _ = _rule_args(kind, seed)
    return _shown(aodh.json("alarm", "create", "--name", name or _unique(kind), "-t", kind, *args, *extra))


def _subset(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {k: actual.get(k, "<missing>") for k in expected}


# --- the command ----------------------------------------------------------------------------------------

def test_version(executable: Path, target: Target) -> None:
    out = Aodh(executable, target.aodh_url, "u", "p").run("--version", auth=False)
    assert out.returncode == 0 and (out.stdout + out.stderr).split()[-1] == "3.12.0", out


# --- create, one per rule type --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", RULE_TYPES)
def test_alarm_create_each_rule_type(aodh: Aodh, seed: Seed, kind: str) -> None:
    name = _unique(kind)
    created = _create(aodh, seed, kind, name=name)
    _, rule = _rule_args(kind, seed)
    expected = {
        "name": name, "type": kind, "description": DESCRIPTIONS.get(kind, f"{kind} alarm rule"), "enabled": True,
        "state": "insufficient data", "state_reason": "Not evaluated yet", "severity": "low",
        "ok_actions": [], "alarm_actions": [], "insufficient_data_actions": [], "repeat_actions": False,
        "time_constraints": [], "project_id": aodh.project_id, "user_id": aodh.user_id, **rule}
    assert _subset(_normalised(created), expected) == expected
    uuid.UUID(created["alarm_id"])
    for key in ("timestamp", "state_timestamp"):
        assert TIMESTAMP.match(created[key]), (key, created[key])
    stable = {k: v for k, v in created.items() if k != "evaluate_timestamp"}
    assert _subset(_shown(aodh.json("alarm", "show", created["alarm_id"])), stable) == stable


def test_alarm_create_with_every_common_option(aodh: Aodh, seed: Seed) -> None:
    """Actions (Aodh shows `log://` as `log:` and drops duplicates), a time constraint with a timezone,
    severity, repeat_actions, a disabled alarm and an initial state."""
    created = _create(aodh, seed, "gnocchi_resources_threshold", "--comparison-operator", "gt",
                      "--evaluation-periods", "3", "--severity", "critical", "--repeat-actions", "True",
                      "--enabled", "False", "--state", "ok", "--description", "cpu of the web group",
                      "--alarm-action", "log://", "--alarm-action", "http://example.com/hook",
                      "--alarm-action", "http://example.com/hook", "--ok-action", "log://",
                      "--insufficient-data-action", "https://example.com/insufficient",
                      "--time-constraint", "name=night;start=0 23 * * *;duration=3600;timezone=Europe/Paris")
    expected = {
        "description": "cpu of the web group", "severity": "critical", "repeat_actions": True, "enabled": False,
        "state": "ok", "comparison_operator": "gt", "evaluation_periods": 3,
        "alarm_actions": ["log:", "http://example.com/hook"], "ok_actions": ["log:"],
        "insufficient_data_actions": ["https://example.com/insufficient"],
        "time_constraints": [{"name": "night", "description": "Time constraint at 0 23 * * * lasting for 3600 seconds",
                              "start": "0 23 * * *", "duration": 3600, "timezone": "Europe/Paris"}]}
    assert _subset(created, expected) == expected


# --- list -----------------------------------------------------------------------------------------------

def test_alarm_list_filters_sort_and_pages(aodh: Aodh, seed: Seed) -> None:
    a = _create(aodh, seed, "gnocchi_resources_threshold", "--severity", "critical", name=_unique("a"))
    b = _create(aodh, seed, "event", name=_unique("b"))
    c = _create(aodh, seed, "prometheus", "--severity", "moderate", name=_unique("c"))
    row = {x["alarm_id"]: {"alarm_id": x["alarm_id"], "type": x["type"], "name": x["name"],
                           "state": "insufficient data", "severity": x["severity"], "enabled": True}
           for x in (a, b, c)}
    listed = aodh.json("alarm", "list")
    assert sorted(listed, key=lambda r: r["name"]) == [row[a["alarm_id"]], row[b["alarm_id"]], row[c["alarm_id"]]]

    def ids(*args: str) -> list[str]:
        return [r["alarm_id"] for r in aodh.json("alarm", "list", *args)]

    assert ids("--filter", "type=event") == [b["alarm_id"]]
    assert ids("--filter", "severity=critical") == [a["alarm_id"]]
    assert ids("--filter", "type=prometheus", "--filter", "severity=moderate") == [c["alarm_id"]]
    assert ids("--filter", "type=prometheus", "--filter", "severity=low") == []
    assert ids("--filter", f"name={b['name']}") == [b["alarm_id"]]
    assert ids("--sort", "name:asc") == [a["alarm_id"], b["alarm_id"], c["alarm_id"]]
    assert ids("--sort", "name:desc") == [c["alarm_id"], b["alarm_id"], a["alarm_id"]]
    assert ids("--sort", "name:asc", "--limit", "2") == [a["alarm_id"], b["alarm_id"]]
    assert ids("--sort", "name:asc", "--limit", "2", "--marker", b["alarm_id"]) == [c["alarm_id"]]
    # --query: POST /v2/query/alarms (an admin's query spans every project, hence project_id in it)
    project = f"project_id={aodh.project_id}"
    assert sorted(ids("--query", f"{project} and (type=event or severity=critical)")) == sorted(
        [a["alarm_id"], b["alarm_id"]])
    assert ids("--query", f"{project} and name={c['name']!r}") == [c["alarm_id"]]
    assert sorted(ids("--query", f"{project} and severity!=low")) == sorted([a["alarm_id"], c["alarm_id"]])
    aodh.ok("alarm", "state", "set", "--state", "alarm", a["alarm_id"])
    assert ids("--filter", "state=alarm") == [a["alarm_id"]]
    assert ids("--query", f"{project} and state='alarm'") == [a["alarm_id"]]


# --- show, update ---------------------------------------------------------------------------------------

def test_alarm_show_by_id_and_by_name(aodh: Aodh, seed: Seed) -> None:
    created = _create(aodh, seed, "gnocchi_aggregation_by_metrics_threshold")
    stable = {k: v for k, v in created.items() if k != "evaluate_timestamp"}
    by_id = _shown(aodh.json("alarm", "show", created["alarm_id"]))
    assert _subset(by_id, stable) == stable
    assert _subset(_shown(aodh.json("alarm", "show", "--name", created["name"])), stable) == stable
    assert _subset(_shown(aodh.json("alarm", "show", created["name"])), stable) == stable
    assert aodh.error("alarm", "show", NO_SUCH) == f"Alarm {NO_SUCH} not found (HTTP 404)"


def test_alarm_update(aodh: Aodh, seed: Seed) -> None:
    """`alarm update` reads the alarm and PUTs it back with the changes: the rest is kept."""
    created = _create(aodh, seed, "gnocchi_resources_threshold", "--comparison-operator", "gt",
                      "--evaluation-periods", "3", "--alarm-action", "log://")
    updated = _shown(aodh.json("alarm", "update", created["alarm_id"], "--threshold", "90", "--severity", "moderate",
                               "--description", "cpu high"))
    changed = {"threshold": 90.0, "severity": "moderate", "description": "cpu high"}
    kept = {k: created[k] for k in ("name", "type", "comparison_operator", "evaluation_periods", "metric",
                                    "resource_id", "resource_type", "granularity", "alarm_actions", "state",
                                    "state_timestamp", "user_id", "project_id", "alarm_id")}
    assert _subset(updated, changed | kept) == changed | kept
    assert updated["timestamp"] >= created["timestamp"]
    shown = _shown(aodh.json("alarm", "show", created["alarm_id"]))
    assert _subset(shown, changed | kept) == changed | kept

    renamed = _unique("renamed")
    assert aodh.json("alarm", "update", created["alarm_id"], "--name", renamed)["name"] == renamed
    assert aodh.json("alarm", "update", "--name", renamed, "--threshold", "70")["threshold"] == 70.0
    event = _create(aodh, seed, "event")
    # (`-t event` is needed: without it aodhclient 3.12 sends the --query text unparsed, refused by Aodh too)
    again = aodh.json("alarm", "update", event["alarm_id"], "-t", "event", "--event-type", "compute.instance.update",
                      "--query", "traits.state=string::error", "--enabled", "False")
    assert _subset(again, {"event_type": "compute.instance.update", "query": "traits.state = error",
                           "enabled": False}) == {"event_type": "compute.instance.update",
                                                  "query": "traits.state = error", "enabled": False}
    message = aodh.error("alarm", "update", created["alarm_id"], "--evaluation-periods", "0")
    assert "evaluation_periods" in message and message.endswith("(HTTP 400)"), message
    assert aodh.error("alarm", "update", NO_SUCH, "--threshold", "1") == f"Alarm {NO_SUCH} not found (HTTP 404)"


# --- state ----------------------------------------------------------------------------------------------

def test_alarm_state_get_and_set(aodh: Aodh, seed: Seed) -> None:
    created = _create(aodh, seed, "gnocchi_aggregation_by_resources_threshold")
    assert aodh.json("alarm", "state", "get", created["alarm_id"]) == {"state": "insufficient data"}
    assert aodh.json("alarm", "state", "set", "--state", "alarm", created["alarm_id"]) == {"state": "alarm"}
    assert aodh.json("alarm", "state", "get", created["alarm_id"]) == {"state": "alarm"}
    shown = aodh.json("alarm", "show", created["alarm_id"])
    assert (shown["state"], shown["state_reason"]) == ("alarm", "Manually set via API")
    assert shown["state_timestamp"] >= created["state_timestamp"]
    assert aodh.json("alarm", "state", "set", "--name", created["name"], "--state", "ok") == {"state": "ok"}
    assert aodh.ok("alarm", "state", "get", "--name", created["name"], "-f", "value").strip() == "ok"
    assert aodh.json("alarm", "state", "set", "--state", "insufficient data", created["alarm_id"]) == {
        "state": "insufficient data"}
    assert aodh.error("alarm", "state", "get", NO_SUCH) == f"Alarm {NO_SUCH} not found (HTTP 404)"
    assert aodh.error("alarm", "state", "set", "--state", "ok", NO_SUCH) == f"Alarm {NO_SUCH} not found (HTTP 404)"


# --- history --------------------------------------------------------------------------------------------

def test_alarm_history_show_and_search(aodh: Aodh, seed: Seed) -> None:
    created = _create(aodh, seed, "gnocchi_resources_threshold")
    alarm_id = created["alarm_id"]
    aodh.ok("alarm", "update", alarm_id, "--threshold", "95", "--severity", "critical")
    aodh.ok("alarm", "state", "set", "--state", "alarm", alarm_id)
    history = aodh.json("alarm-history", "show", alarm_id)
    assert [h["type"] for h in history] == ["state transition", "rule change", "creation"]
    for h in history:
        assert set(h) == {"timestamp", "type", "detail", "event_id"}, h
        uuid.UUID(h["event_id"])
        datetime.fromisoformat(h["timestamp"])
    assert history[0]["timestamp"] >= history[1]["timestamp"] >= history[2]["timestamp"]
    transition, change, creation = (json.loads(h["detail"]) for h in history)
    assert transition == {"state": "alarm", "state_reason": "Manually set via API"}
    assert change["severity"] == "critical" and change["rule"]["threshold"] == 95.0, change
    assert _subset(creation, {"alarm_id": alarm_id, "name": created["name"], "type": created["type"],
                              "state": "insufficient data", "user_id": aodh.user_id,
                              "project_id": aodh.project_id}) == {
        "alarm_id": alarm_id, "name": created["name"], "type": created["type"], "state": "insufficient data",
        "user_id": aodh.user_id, "project_id": aodh.project_id}
    assert creation["rule"]["threshold"] == 80.0, creation

    oldest = aodh.json("alarm-history", "show", alarm_id, "--sort", "timestamp:asc", "--limit", "1")
    assert [h["event_id"] for h in oldest] == [history[2]["event_id"]]
    after = aodh.json("alarm-history", "show", alarm_id, "--sort", "timestamp:asc", "--limit", "5",
                      "--marker", history[2]["event_id"])
    assert [h["event_id"] for h in after] == [history[1]["event_id"], history[0]["event_id"]]

    def entries(rows: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:  # search shows no event_id
        return sorted(((h["timestamp"], h["type"], json.loads(h["detail"])) for h in rows), key=lambda e: e[:2])

    found = aodh.json("alarm-history", "search", "--query", f"alarm_id={alarm_id} and type='state transition'")
    assert [h["alarm_id"] for h in found] == [alarm_id]
    assert entries(found) == entries(history[:1])
    everything = aodh.json("alarm-history", "search", "--query", f"alarm_id={alarm_id}")
    assert {h["alarm_id"] for h in everything} == {alarm_id}
    assert entries(everything) == entries(history)
    assert aodh.error("alarm-history", "show", NO_SUCH) == f"Alarm {NO_SUCH} not found (HTTP 404)"


# --- delete ---------------------------------------------------------------------------------------------

def test_alarm_delete(aodh: Aodh, seed: Seed) -> None:
    kept = _create(aodh, seed, "event")
    by_id = _create(aodh, seed, "composite")
    by_name = _create(aodh, seed, "prometheus")
    assert aodh.ok("alarm", "delete", by_id["alarm_id"]) == ""
    assert aodh.ok("alarm", "delete", "--name", by_name["name"]) == ""
    assert [r["alarm_id"] for r in aodh.json("alarm", "list")] == [kept["alarm_id"]]
    gone = f"Alarm {by_id['alarm_id']} not found (HTTP 404)"
    assert aodh.error("alarm", "show", by_id["alarm_id"]) == gone
    assert aodh.error("alarm", "delete", by_id["alarm_id"]) == gone
    assert aodh.error("alarm", "state", "get", by_id["alarm_id"]) == gone


# --- capabilities, validation ---------------------------------------------------------------------------

def test_capabilities_list(aodh: Aodh) -> None:
    caps = aodh.json("capabilities", "list")
    expected = {"api": {"alarms:query:simple": True, "alarms:query:complex": True,
                        "alarms:history:query:simple": True, "alarms:history:query:complex": True},
                "alarm_storage": {"storage:production_ready": True}}
    assert {k: caps.get(k) for k in expected} == expected


@pytest.mark.parametrize(("kind", "options", "field"), [
    ("gnocchi_aggregation_by_metrics_threshold", ["--evaluation-periods", "0"], "evaluation_periods"),
    ("gnocchi_aggregation_by_metrics_threshold", ["--aggregation-method", "no-such-method"], "aggregation_method"),
    ("gnocchi_aggregation_by_metrics_threshold", ["--time-constraint", "name=a;start=bogus;duration=1"], "start"),
    ("event", ["--query", "traits.vcpus=integer::many"], "many"),
    ("composite", ["--composite-rule", '{"or": [{"type": "no_such_type", "threshold": 1}]}'], "no_such_type"),
], ids=["evaluation_periods", "aggregation_method", "time_constraint_start", "event_query_type", "composite_leaf"])
def test_alarm_create_refused_names_the_field(aodh: Aodh, seed: Seed, kind: str, options: list[str],
                                               field: str) -> None:
    args, _ = _rule_args(kind, seed)
    if options[0] in args:  # replace the rule's own value
        i = args.index(options[0])
        args = args[:i] + args[i + 2:]
    message = aodh.error("alarm", "create", "--name", _unique("bad"), "-t", kind, *args, *options)
    assert message.endswith("(HTTP 400)") and field in message, message
    assert aodh.json("alarm", "list") == []


# --- projects -------------------------------------------------------------------------------------------

def test_another_project_can_neither_see_nor_touch_an_alarm(aodh: Aodh, seed: Seed) -> None:
    """A member of another project gets 404 for every command on the alarm and never lists it, including
    with `all_projects=false` (LP 2161276) and through the complex query."""
    created = _create(aodh, seed, "gnocchi_resources_threshold")
    alarm_id = created["alarm_id"]
    other = aodh.as_caller(str(uuid.uuid4()), str(uuid.uuid4()), "reader,member")
    gone = f"Alarm {alarm_id} not found (HTTP 404)"
    assert other.error("alarm", "show", alarm_id) == gone
    assert other.error("alarm", "state", "get", alarm_id) == gone
    assert other.error("alarm", "state", "set", "--state", "alarm", alarm_id) == gone
    assert other.error("alarm", "update", alarm_id, "--threshold", "1") == gone
    assert other.error("alarm-history", "show", alarm_id) == gone
    assert other.error("alarm", "delete", alarm_id) == gone
    assert other.json("alarm", "list") == []
    assert other.json("alarm", "list", "--filter", "all_projects=false") == []
    assert other.json("alarm", "list", "--query", f"alarm_id={alarm_id}") == []
    assert other.json("alarm-history", "search", "--query", f"alarm_id={alarm_id}") == []
    assert other.error("alarm", "list", "--filter", "all_projects=true").endswith("(HTTP 403)")
    after = _shown(aodh.json("alarm", "show", alarm_id))
    assert (after["state"], after["threshold"]) == ("insufficient data", 80.0)


# --- quotas (openstack alarm quota …, aodhclient 3.12's OpenStack client plugin) --------------------------

def test_alarm_quota_show_and_set(aodh: Aodh, seed: Seed) -> None:
    admin = aodh.openstack()
    assert admin.json("alarm", "quota", "show") == {"alarms": -1}
    assert admin.json("alarm", "quota", "set", "--alarm", "1", aodh.project_id) == {"alarms": 1}
    assert admin.json("alarm", "quota", "show", "--project", aodh.project_id) == {"alarms": 1}
    _create(aodh, seed, "event")
    assert aodh.error("alarm", "create", "--name", _unique("over"), "-t", "event", "--event-type", "x") == (
        f"Alarm quota exceeded for user {aodh.user_id} on project {aodh.project_id} (HTTP 403)")
    assert admin.json("alarm", "quota", "set", "--alarm", "3", aodh.project_id) == {"alarms": 3}
    _create(aodh, seed, "event")
    member = aodh.as_caller(str(uuid.uuid4()), aodh.project_id, "reader,member").openstack()
    assert member.error("alarm", "quota", "set", "--alarm", "5", aodh.project_id).endswith("(HTTP 403)")
    assert member.json("alarm", "quota", "show") == {"alarms": 3}
