"""Aodh's v2 alarm API as Aodh 23 answers it: defaults, validation messages, each rule type, listing,
queries, history, state, quotas, capabilities and the error shape.

The expected defaults and messages were read from the real Aodh 23 (``../shared/tools/aodh-anchor``);
where Telescale differs on purpose (a message naming the field Aodh leaves out, a 400 where Aodh fails
with a 500) the case says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import make_client

MEMBER = {"x-user-id": "u1", "x-project-id": "p1", "x-roles": "member"}
ADMIN = {"x-user-id": "root", "x-project-id": "p-admin", "x-roles": "admin"}
METRICS = "gnocchi_aggregation_by_metrics_threshold"
RULE = {"metrics": ["a"], "threshold": 1, "aggregation_method": "mean"}
THRESHOLD = {"name": "t", "type": METRICS, f"{METRICS}_rule": RULE}


class V2:
    """A noauth client speaking /v2 as a project member (or as anybody)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             **params: Any) -> Any:
        extra = {"content-type": "application/json"} if body is not None else {}
        content = None if body is None else json.dumps(body)
        return self.client.request(method, path, content=content, params=params or None,
                                   headers={**extra, **(headers or MEMBER)})

    def ok(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
           **params: Any) -> Any:
        r = self.call(method, path, body, headers, **params)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def fault(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
              **params: Any) -> tuple[int, Any]:
        r = self.call(method, path, body, headers, **params)
        error = r.json()["error_message"]
        assert set(error) == {"faultcode", "faultstring", "debuginfo"} and error["debuginfo"] is None, r.text
        assert error["faultcode"] == ("Client" if r.status_code < 500 else "Server")
        return r.status_code, error["faultstring"]

    def create(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        return self.ok("POST", "/v2/alarms", body, headers)


def _v2(tmp_path: Path, url: str = "", overrides: tuple[str, ...] = ()) -> Iterator[V2]:
    with make_client(tmp_path, url, ("api.auth_mode=noauth", *overrides)) as client:
        yield V2(client)
        client.app.state.services.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def v2(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[V2]:
    url = request.getfixturevalue("postgresql_migrated_url") if request.param == "postgresql" else ""
    yield from _v2(tmp_path, url)


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[V2]:
    """SQLite only, for what does not depend on the database."""
    yield from _v2(tmp_path)


# --- defaults ---------------------------------------------------------------------------------------------

def _without_times(alarm: dict[str, Any]) -> dict[str, Any]:
    for key in ("timestamp", "state_timestamp"):
        assert alarm.pop(key).endswith("+00:00")
    assert alarm.pop("alarm_id")
    return alarm


def test_defaults_are_aodhs(v2: V2) -> None:
    body = {"name": "g", "type": "gnocchi_resources_threshold", "ok_actions": None,
            "gnocchi_resources_threshold_rule": {"metric": "cpu", "resource_id": "random_id",
                                                 "resource_type": "instance", "aggregation_method": "max",
                                                 "threshold": 300}}
    r = v2.call("POST", "/v2/alarms", body)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"http://testserver/v2/alarms/{r.json()['alarm_id']}"
    assert _without_times(r.json()) == {
        "name": "g", "description": "gnocchi_resources_threshold alarm rule", "enabled": True,
        "ok_actions": [], "alarm_actions": [], "insufficient_data_actions": [], "repeat_actions": False,
        "type": "gnocchi_resources_threshold", "time_constraints": [], "project_id": "p1", "user_id": "u1",
        "state": "insufficient data", "state_reason": "Not evaluated yet", "severity": "low",
        "evaluate_timestamp": None, "evaluation_interval": None, "pending_for": 0.0,
        "missing_data": "insufficient_data",
        "gnocchi_resources_threshold_rule": {"metric": "cpu", "resource_id": "random_id",
                                             "resource_type": "instance", "comparison_operator": "eq",
                                             "threshold": 300.0, "aggregation_method": "max",
                                             "evaluation_periods": 1, "granularity": 60}}


def test_each_rule_type_gets_its_defaults(lite: V2) -> None:
    by_metrics = lite.create(THRESHOLD)
    assert by_metrics[f"{METRICS}_rule"] == {"metrics": ["a"], "comparison_operator": "eq", "threshold": 1.0,
                                             "aggregation_method": "mean", "evaluation_periods": 1,
                                             "granularity": 60}
    event = lite.create({"name": "e", "type": "event", "event_rule": {}})
    assert (event["description"], event["event_rule"]) == ("Alarm when * event occurred.",
                                                           {"event_type": "*", "query": []})
    query = [{"field": "traits.instance_id", "op": "eq", "value": "abc", "type": "string"}]
    event = lite.create({"name": "e", "type": "event",
                         "event_rule": {"event_type": "compute.instance.*", "query": query}})
    assert event["description"] == "Alarm when compute.instance.* event occurred."
    assert event["event_rule"] == {"event_type": "compute.instance.*", "query": query}
    leaf = {"type": METRICS, **RULE}
    composite = lite.create({"name": "c", "type": "composite", "composite_rule": {"or": [leaf, {"and": [leaf]}]}})
    expected_leaf = {**by_metrics[f"{METRICS}_rule"], "type": METRICS}
    assert composite["description"] == "composite alarm rule"
    assert composite["composite_rule"] == {"or": [expected_leaf, {"and": [expected_leaf]}]}


def test_alarm_fields_are_normalised_as_aodh_does(lite: V2) -> None:
    alarm = lite.create({**THRESHOLD, "enabled": "false", "repeat_actions": 1, "severity": "critical",
                         "alarm_actions": ["http://a/1", "https://b/2", "http://a/1"],
                         "time_constraints": [{"name": "night", "start": "0 23 * * *", "duration": 10800,
                                               "timezone": "Europe/Paris"}],
                         f"{METRICS}_rule": {**RULE, "threshold": "1.5", "evaluation_periods": "3"},
                         "evaluation_interval": 5, "pending_for": 30, "missing_data": "keep_state"})
    assert (alarm["enabled"], alarm["repeat_actions"], alarm["severity"]) == (False, True, "critical")
    assert alarm["alarm_actions"] == ["http://a/1", "https://b/2"]  # duplicates removed, order kept
    assert alarm["time_constraints"] == [{"name": "night", "description": "Time constraint at 0 23 * * * lasting "
                                          "for 10800 seconds", "start": "0 23 * * *", "duration": 10800,
                                          "timezone": "Europe/Paris"}]
    assert alarm[f"{METRICS}_rule"]["threshold"] == 1.5 and alarm[f"{METRICS}_rule"]["evaluation_periods"] == 3
    assert (alarm["evaluation_interval"], alarm["pending_for"], alarm["missing_data"]) == (5, 30, "keep_state")
    # Read-only fields sent by a client are ignored, as in Aodh.
    alarm = lite.create({**THRESHOLD, "state_reason": "made up", "alarm_id": "x", "timestamp": "2000-01-01"})
    assert alarm["state_reason"] == "Not evaluated yet" and alarm["alarm_id"] != "x"


# --- validation: Aodh's messages --------------------------------------------------------------------------

def _rule(**changes: Any) -> dict[str, Any]:
    return {**THRESHOLD, f"{METRICS}_rule": {**RULE, **changes}}


def _composite(rule: Any) -> dict[str, Any]:
    return {"name": "c", "type": "composite", "composite_rule": rule}


def _event_query(**item: Any) -> dict[str, Any]:
    return {"name": "e", "type": "event", "event_rule": {"query": [{"field": "traits.x", "value": "abc", **item}]}}


def _tc(**tc: Any) -> dict[str, Any]:
    return {**THRESHOLD, "time_constraints": [{"name": "a", "start": "0 23 * * *", "duration": 10, **tc}]}


WSME = "Invalid input for field/attribute {}. Value: '{}'. {}"
LEAF = {"type": METRICS, **RULE}
# (body, status, Aodh 23's faultstring — or Telescale's where Aodh names no field or fails)
INVALID = [
    ({}, 400, WSME.format("name", None, "Mandatory field missing.")),
    ({"name": "x"}, 400, WSME.format("type", None, "Mandatory field missing.")),
    ({"name": "x", "type": "nope"}, 400, WSME.format("type", "nope", "Value should be one of: event, composite, "
                                                     "gnocchi_aggregation_by_metrics_threshold, "
                                                     "gnocchi_resources_threshold, "
                                                     "gnocchi_aggregation_by_resources_threshold, prometheus")),
    ({"name": "x", "type": METRICS}, 400, f"{METRICS}_rule must be set for {METRICS} type alarm"),
    ({**THRESHOLD, f"{METRICS}_rule": {}}, 400, WSME.format("metrics", None, "Mandatory field missing.")),
    ({**THRESHOLD, f"{METRICS}_rule": {"metrics": ["a"]}}, 400,
     WSME.format("threshold", None, "Mandatory field missing.")),
    ({**THRESHOLD, f"{METRICS}_rule": {"metrics": ["a"], "threshold": 1}}, 400,
     WSME.format("aggregation_method", None, "Mandatory field missing.")),
    (_rule(evaluation_periods=0), 400, WSME.format("evaluation_periods", 0, "Value should be greater or equal to 1")),
    (_rule(evaluation_periods=101), 400, WSME.format("evaluation_periods", 101, "Value should be lower or equal to "
                                                                                "100")),
    (_rule(granularity=0), 400, WSME.format("granularity", 0, "Value should be greater or equal to 1")),
    (_rule(granularity=31536001), 400, WSME.format("granularity", 31536001, "Value should be lower or equal to "
                                                                            "31536000")),
    (_rule(comparison_operator="xx"), 400, WSME.format("comparison_operator", "xx", "Value should be one of: lt, "
                                                                                    "le, eq, ne, ge, gt")),
    (_rule(foo=1), 400, f"Unknown attribute for argument data.{METRICS}_rule: foo"),
    ({**THRESHOLD, "foo": 1}, 400, "Unknown attribute for argument data: foo"),
    ({**THRESHOLD, "severity": "huge"}, 400, WSME.format("severity", "huge", "Value should be one of: low, moderate, "
                                                                             "critical")),
    ({**THRESHOLD, "state": "bad"}, 400, WSME.format("state", "bad", "Value should be one of: ok, alarm, "
                                                                     "insufficient data")),
    ({**THRESHOLD, "event_rule": {}}, 400, f"event_rule and {METRICS}_rule cannot be set at the same time"),
    ({**THRESHOLD, "name": 123}, 400, WSME.format("name", 123, "Wrong type. Expected '<class 'str'>', got '<class "
                                                               "'int'>'")),
    (_rule(metrics=[1]), 400, WSME.format("metrics", 1, "Wrong type. Expected '<class 'str'>', got '<class 'int'>'")),
    (_tc(start=None), 400, WSME.format("start", None, "Mandatory field missing.")),
    (_tc(start="bad cron"), 400, WSME.format("start", "bad cron", "Exactly 5, 6 or 7 columns has to be specified "
                                                                  "for iterator expression.")),
    (_tc(duration=-1), 400, WSME.format("duration", -1, "Value should be greater or equal to 0")),
    (_tc(timezone="Mars/Base"), 400, "Timezone Mars/Base is not valid"),
    (_tc(x=1), 400, "Unknown attribute for argument data.time_constraints: x"),
    ({**THRESHOLD, "time_constraints": [{"name": "a", "start": "0 1 * * *", "duration": 1}] * 2}, 400,
     "Time constraint names must be unique for a given alarm."),
    ({**THRESHOLD, "alarm_actions": ["log://"]}, 401, "You are not authorized to create action: log://"),
    ({**THRESHOLD, "alarm_actions": ["ftp://x"]}, 400, "Unsupported action ftp://x"),
    ({**THRESHOLD, "alarm_actions": ["trust+http://abc@host/x"]}, 400, "trust URL cannot contain a trust ID."),
    ({**THRESHOLD, "alarm_actions": ["http://[bad"]}, 400, "Unable to parse action http://[bad"),
    (_composite({"xor": [LEAF]}), 400, 'Threshold rules should be combined with "and" or "or"'),
    (_composite({"or": [{"metrics": ["a"]}]}), 400, 'Threshold rules should be combined with "and" or "or"'),
    (_composite({"or": LEAF}), 400, f"Invalid input composite rule: {({'or': LEAF})}, it should be a dict with an "
     "\"and\" or \"or\" as key, and the value of dict should be a list of basic threshold rules or sub composite "
     "rules, can be nested."),
    (_composite([1]), 400, "Invalid input composite rule: [1], it should be a dict with an \"and\" or \"or\" as key, "
     "and the value of dict should be a list of basic threshold rules or sub composite rules, can be nested."),
    (_composite({"or": [{"type": METRICS, "metrics": ["a"]}]}), 400,
     WSME.format("threshold", None, "Mandatory field missing.")),
    (_composite({"or": [{"metrics": ["a"], "threshold": 1}, LEAF]}), 400, "type must be set in every rule"),
    (_event_query(type="integer"), 400, "Unable to convert the value abc to the expected data type integer."),
    (_event_query(field="traits x!"), 400, "Query value or traits invalid: does not match regular expression "
                                           "^[a-zA-Z.',0-9_-]*$ for dictionary value @ data['field']"),
    (_event_query(op="like"), 400, "Query value or traits invalid: value must be one of ['eq', 'ge', 'gt', 'le', "
                                   "'lt', 'ne'] for dictionary value @ data['op']"),
    (_event_query(value=5), 400, WSME.format("value", 5, "Wrong type. Expected '<class 'str'>', got '<class "
                                                         "'int'>'")),
    # Telescale: Aodh names no field ("field/attribute data" and the whole body) for these three.
    (_rule(threshold="abc"), 400, WSME.format("threshold", "abc", "Wrong type. Expected '<class 'float'>', got "
                                                                  "'<class 'str'>'")),
    ({**THRESHOLD, "enabled": "maybe"}, 400, WSME.format("enabled", "maybe", "Value not an unambiguous boolean: "
                                                                             "maybe")),
    (_rule(metrics="abc"), 400, WSME.format("metrics", "abc", "Value not a valid list: abc")),
    # Telescale: refused where Aodh stores something that can never evaluate.
    (_rule(metrics=[]), 400, WSME.format("metrics", [], "At least one metric id is needed")),
    (_rule(evaluation_periods=2.5), 400, WSME.format("evaluation_periods", 2.5, "Wrong type. Expected '<class "
                                                                                "'int'>', got '<class 'float'>'")),
    (_rule(threshold=None), 400, WSME.format("threshold", None, "Mandatory field missing.")),
    (_rule(aggregation_method="bogus") | {"type": "composite", f"{METRICS}_rule": None,
                                          "composite_rule": {"or": [{**LEAF, "aggregation_method": "bogus"}]}},
     400, None),
    (_composite({"or": []}), 400, 'composite_rule: "or" needs at least one rule'),
    (_composite({"or": [{"type": "event"}]}), 400, "Unsupported sub-rule type :event in composite rule, should be "
     "one of: ['gnocchi_aggregation_by_metrics_threshold', 'gnocchi_aggregation_by_resources_threshold', "
     "'gnocchi_resources_threshold', 'prometheus']"),
    ({**THRESHOLD, "evaluation_interval": 0}, 400, WSME.format("evaluation_interval", 0, "Value should be greater "
                                                                                         "or equal to 1")),
    ({**THRESHOLD, "pending_for": -1}, 400, WSME.format("pending_for", -1, "Value should be greater or equal to 0")),
    ({**THRESHOLD, "missing_data": "panic"}, 400, WSME.format("missing_data", "panic", "Value should be one of: "
                                                                                       "insufficient_data, ok, alarm, "
                                                                                       "keep_state")),
    ({"name": "p", "type": "prometheus", "prometheus_rule": {"threshold": 1}}, 400,
     WSME.format("query", None, "Mandatory field missing.")),
]


def test_invalid_alarms_get_aodhs_messages(lite: V2) -> None:
    for body, status, message in INVALID:
        got = lite.fault("POST", "/v2/alarms", body)
        if message is None:
            assert got[0] == status and "aggregation_method should be in [" in got[1], (body, got)
        else:
            assert got == (status, message), body
    bogus = lite.fault("POST", "/v2/alarms", _rule(aggregation_method="bogus"))
    assert bogus[0] == 400 and bogus[1].startswith("aggregation_method should be in ['mean', ")
    assert bogus[1].endswith("'rate:99pct'] not bogus")
    assert lite.ok("GET", "/v2/alarms") == []  # nothing was stored
    assert lite.fault("POST", "/v2/alarms", [THRESHOLD])[0] == 400
    assert lite.call("POST", "/v2/alarms", THRESHOLD, headers={**MEMBER, "content-type": "text/plain"}
                     ).status_code == 415


def test_admin_may_log_and_name_owners(lite: V2) -> None:
    alarm = lite.create({**THRESHOLD, "alarm_actions": ["log://"], "project_id": "p9", "user_id": "u9"}, ADMIN)
    assert (alarm["alarm_actions"], alarm["project_id"], alarm["user_id"]) == (["log:"], "p9", "u9")
    assert lite.create(THRESHOLD, ADMIN)["project_id"] == "p-admin"
    # Roles as Keystone implies them: a reader may read, not write.
    reader = {**MEMBER, "x-roles": "reader"}
    assert lite.fault("POST", "/v2/alarms", THRESHOLD, reader) == (403, "RBAC Authorization Failed")
    assert lite.ok("GET", "/v2/alarms", headers=reader) == []
    assert lite.fault("GET", "/v2/alarms", headers={**MEMBER, "x-roles": ""}) == (403, "RBAC Authorization Failed")


def test_trust_ids_never_show(v2: V2) -> None:
    alarm = v2.create({**THRESHOLD, "alarm_actions": ["trust+http://heat.example.com/v1/signal"]})
    assert alarm["alarm_actions"] == ["trust+http://heat.example.com/v1/signal"]
    indexer = v2.client.app.state.services.indexer
    import uuid

    alarm_id = uuid.UUID(alarm["alarm_id"])
    indexer.update_alarm(alarm_id, {"trust_id": "secret-trust"}, project=None)
    everything = [v2.ok("GET", f"/v2/alarms/{alarm_id}"), v2.ok("GET", "/v2/alarms"),
                  v2.ok("POST", "/v2/query/alarms", {}), v2.ok("GET", f"/v2/alarms/{alarm_id}/history"),
                  v2.ok("POST", "/v2/query/alarms/history", {})]
    assert "secret-trust" not in json.dumps(everything)
    v2.ok("PUT", f"/v2/alarms/{alarm_id}", {**THRESHOLD, "ok_actions": ["trust+https://h/x"]})
    assert indexer.get_alarm(alarm_id, project=None).trust_id == "secret-trust"  # still needed: kept
    v2.ok("PUT", f"/v2/alarms/{alarm_id}", THRESHOLD)
    assert indexer.get_alarm(alarm_id, project=None).trust_id is None  # no trust action left


def test_prometheus_rules_need_a_prometheus(tmp_path: Path) -> None:
    body = {"name": "p", "type": "prometheus", "prometheus_rule": {"query": "up", "threshold": 1}}
    for v2 in _v2(tmp_path / "off"):
        assert v2.fault("POST", "/v2/alarms", body) == (
            400, "prometheus rules need a Prometheus to query: this server sets no alarming.prometheus_url")
        assert v2.fault("POST", "/v2/alarms", _composite({"and": [{"type": "prometheus", "query": "up",
                                                                    "threshold": 1}]}))[0] == 400
    for v2 in _v2(tmp_path / "on", overrides=('alarming.prometheus_url="http://127.0.0.1:9090"',)):
        alarm = v2.create(body)
        assert alarm["description"] == "prometheus alarm rule"
        assert alarm["prometheus_rule"] == {"comparison_operator": "eq", "threshold": 1.0, "query": "up"}


def test_actions_to_internal_addresses_are_refused_unless_allowed(tmp_path: Path) -> None:
    for v2 in _v2(tmp_path / "default"):
        for action in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data", "https://[::1]/x",
                       "trust+http://169.254.169.254/x"):
            status, message = v2.fault("POST", "/v2/alarms", {**THRESHOLD, "ok_actions": [action]})
            assert status == 400 and message.startswith("ok_actions: alarm action"), message
        # Public addresses, and names that do not resolve yet (checked again at each delivery), are accepted.
        v2.create({**THRESHOLD, "alarm_actions": ["http://203.0.113.7/hook", "http://receiver.invalid/hook"]})
    for v2 in _v2(tmp_path / "allowed", overrides=('alarming.webhook_allowed_networks=["127.0.0.0/8"]',)):
        assert v2.create({**THRESHOLD, "alarm_actions": ["http://127.0.0.1:9/hook"]})["alarm_actions"] == [
            "http://127.0.0.1:9/hook"]
        assert v2.fault("POST", "/v2/alarms", {**THRESHOLD, "alarm_actions": ["http://169.254.169.254/"]})[0] == 400


def test_resource_rules_are_checked_against_the_indexer(lite: V2) -> None:
    lite.ok("POST", "/v1/resource/generic", {"id": "vm-1", "project_id": "p1"})
    common = {"metric": "cpu", "aggregation_method": "mean", "threshold": 1}
    lite.create({"name": "r", "type": "gnocchi_resources_threshold", "gnocchi_resources_threshold_rule": {
        "resource_id": "vm-1", "resource_type": "generic", **common}})
    by_resources = {"name": "q", "type": "gnocchi_aggregation_by_resources_threshold"}
    rule = {"resource_type": "generic", "query": '{"=": {"server_group": "web"}}', **common}
    code, message = lite.fault("POST", "/v2/alarms", {**by_resources, f"{by_resources['type']}_rule": rule})
    assert code == 400 and "server_group" in message
    assert lite.fault("POST", "/v2/alarms", {**by_resources, f"{by_resources['type']}_rule": {
        **rule, "resource_type": "instance"}}) == (400, {"cause": "Resource type does not exist",
                                                        "detail": "instance"})
    assert lite.fault("POST", "/v2/alarms", {**by_resources, f"{by_resources['type']}_rule": {
        **rule, "query": "{nope"}})[1].startswith("Invalid input for field/attribute query. Value: '{nope'. Not "
                                                  "valid JSON")
    created = lite.create({**by_resources, f"{by_resources['type']}_rule": {**rule, "query": '{"=": {"id": '
                                                                            '"vm-1"}}'}})
    assert "p1" in created[f"{by_resources['type']}_rule"]["query"]


# --- replace, state, history ----------------------------------------------------------------------------

def test_put_replaces_the_whole_alarm(v2: V2) -> None:
    alarm = v2.create({**THRESHOLD, "severity": "critical", "alarm_actions": ["http://x/a"]})
    alarm_id = alarm["alarm_id"]
    replaced = v2.ok("PUT", f"/v2/alarms/{alarm_id}", {**THRESHOLD, "name": "t2"})
    assert (replaced["name"], replaced["severity"], replaced["alarm_actions"]) == ("t2", "low", [])
    assert replaced["state_reason"] == "Not evaluated yet" and replaced["timestamp"] > alarm["timestamp"]
    assert replaced["state_timestamp"] == alarm["state_timestamp"]
    replaced = v2.ok("PUT", f"/v2/alarms/{alarm_id}", {**THRESHOLD, "name": "t2", "state": "alarm"})
    assert (replaced["state"], replaced["state_reason"]) == ("alarm", "Manually set via API")
    history = v2.ok("GET", f"/v2/alarms/{alarm_id}/history")
    assert [h["type"] for h in history] == ["rule change", "rule change", "creation"]
    assert json.loads(history[1]["detail"]) == {"name": "t2", "alarm_actions": [], "severity": "low"}
    assert json.loads(history[0]["detail"]) == {"state": "alarm", "state_reason": "Manually set via API"}
    assert v2.fault("PUT", f"/v2/alarms/{alarm_id}", {"name": "x"}) == (
        400, WSME.format("type", None, "Mandatory field missing."))
    assert v2.fault("PUT", "/v2/alarms/nope", THRESHOLD) == (404, "Alarm nope not found")


def test_state_is_a_bare_json_string(v2: V2) -> None:
    alarm_id = v2.create(THRESHOLD)["alarm_id"]
    state = f"/v2/alarms/{alarm_id}/state"
    r = v2.call("GET", state)
    assert (r.status_code, r.headers["content-type"], r.text) == (200, "application/json", '"insufficient data"')
    assert v2.ok("PUT", state, "alarm") == "alarm"
    assert v2.ok("GET", state) == "alarm"
    alarm = v2.ok("GET", f"/v2/alarms/{alarm_id}")
    assert (alarm["state"], alarm["state_reason"]) == ("alarm", "Manually set via API")
    assert v2.fault("PUT", state, "bad") == (400, "state invalid")
    assert v2.fault("PUT", state, {"state": "ok"}) == (400, "state invalid")
    change = v2.ok("GET", f"/v2/alarms/{alarm_id}/history")[0]
    assert change["type"] == "state transition" and change["on_behalf_of"] == "p1"
    assert json.loads(change["detail"]) == {"state": "alarm", "state_reason": "Manually set via API"}
    indexer = v2.client.app.state.services.indexer
    assert indexer.claim_notifications(10, 60) == []  # a manual state change notifies nobody


def test_history_filters_pages_and_outlives_the_alarm(v2: V2) -> None:
    alarm_id = v2.create(THRESHOLD)["alarm_id"]
    history = f"/v2/alarms/{alarm_id}/history"
    v2.ok("PUT", f"/v2/alarms/{alarm_id}/state", "ok")
    v2.ok("PUT", f"/v2/alarms/{alarm_id}", {**THRESHOLD, "severity": "moderate"})
    assert [h["type"] for h in v2.ok("GET", history, **{"q.field": "type", "q.value": "creation"})] == ["creation"]
    assert [h["type"] for h in v2.ok("GET", history, **{"q.field": "severity", "q.value": "moderate"})] == [
        "rule change"]
    assert len(v2.ok("GET", history, **{"q.field": "timestamp", "q.op": "gt", "q.value": "2000-01-01T00:00:00"})) == 3
    first = v2.ok("GET", history, sort="timestamp:asc", limit=1)
    assert [h["type"] for h in first] == ["creation"]
    rest = v2.ok("GET", history, sort="timestamp:asc", marker=first[0]["event_id"])
    assert [h["type"] for h in rest] == ["state transition", "rule change"]
    assert v2.fault("GET", history, **{"q.field": "bogus", "q.value": "x"}) == (
        400, "Unknown argument: \"bogus\": unrecognized field in query, valid keys: ['project', 'search_offset', "
             "'severity', 'timestamp', 'type', 'user']")
    assert v2.fault("GET", history, **{"q.field": "type", "q.op": "ne", "q.value": "x"}) == (
        400, WSME.format("op", "ne", "unimplemented operator for type"))
    assert v2.fault("GET", history, **{"q.field": "timestamp", "q.value": "2026-01-01"}) == (
        400, WSME.format("op", "eq", "unimplemented operator for timestamp"))
    assert v2.fault("GET", history, **{"q.field": "project_id", "q.value": "p2"}) == (
        401, "Not Authorized to access project p2")
    assert v2.fault("GET", history, sort="bogus")[0] == 400
    assert v2.fault("GET", history, marker="nope") == (400, "Marker nope not found.")
    v2.ok("DELETE", f"/v2/alarms/{alarm_id}")
    assert v2.fault("GET", f"/v2/alarms/{alarm_id}") == (404, f"Alarm {alarm_id} not found")
    after = v2.ok("GET", history)
    assert [h["type"] for h in after] == ["deletion", "rule change", "state transition", "creation"]
    assert json.loads(after[0]["detail"]) == {"state": "insufficient data"}  # the PUT reset it, as in Aodh
    assert v2.fault("GET", "/v2/alarms/00000000-0000-0000-0000-000000000000/history")[0] == 404


# --- listing and complex queries --------------------------------------------------------------------------

def test_listing_filters_sorts_and_pages(v2: V2) -> None:
    for name, severity in (("b", "low"), ("a", "critical"), ("c", "moderate")):
        v2.create({**THRESHOLD, "name": name, "severity": severity})
    names = [a["name"] for a in v2.ok("GET", "/v2/alarms")]
    assert names == ["c", "a", "b"]  # newest definition first, as Aodh
    assert [a["name"] for a in v2.ok("GET", "/v2/alarms", sort="name:asc")] == ["a", "b", "c"]
    assert [a["name"] for a in v2.ok("GET", "/v2/alarms", sort="severity:desc")] == ["a", "c", "b"]
    page = v2.ok("GET", "/v2/alarms", sort="name", limit=2)
    assert [a["name"] for a in page] == ["a", "b"]
    assert [a["name"] for a in v2.ok("GET", "/v2/alarms", sort="name", marker=page[-1]["alarm_id"])] == ["c"]
    assert [a["name"] for a in v2.ok("GET", "/v2/alarms", **{"q.field": "name", "q.op": "eq", "q.value": "a"})] == [
        "a"]
    both = v2.ok("GET", "/v2/alarms", **{"q.field": ["severity", "enabled"], "q.value": ["moderate", "true"]})
    assert [a["name"] for a in both] == ["c"]
    assert v2.ok("GET", "/v2/alarms", **{"q.field": "enabled", "q.value": "false"}) == []
    assert v2.fault("GET", "/v2/alarms", **{"q.field": "bogus", "q.value": "x"}) == (
        400, WSME.format("field", {"bogus"}, "only fields {'all_projects', 'enabled', 'name', 'project_id', "
                                             "'repeat_actions', 'severity', 'state', 'timestamp', 'type', "
                                             "'user_id'} are allowed"))
    assert v2.fault("GET", "/v2/alarms", **{"q.field": "name", "q.op": "like", "q.value": "x"})[0] == 400
    assert v2.fault("GET", "/v2/alarms", **{"q.field": "enabled", "q.value": "maybe"})[0] == 400  # Aodh: 500
    assert v2.fault("GET", "/v2/alarms", **{"q.field": "all_projects", "q.value": "maybe"}) == (
        400, "Unable to convert the value maybe to the expected data type boolean.")
    assert v2.fault("GET", "/v2/alarms", **{"q.field": ["name", "type"], "q.value": "x"})[0] == 400  # Aodh: 500
    assert v2.fault("GET", "/v2/alarms", sort="bogus") == (400, WSME.format(
        "sort", "bogus", "the sort parameter should be a pair of sort key and sort dir combined with ':', or only "
        "sort key specified and sort dir will be default 'asc', the supported sort keys are: ('alarm_id', "
        "'enabled', 'name', 'type', 'severity', 'timestamp', 'user_id', 'project_id', 'state', "
        "'repeat_actions', 'state_timestamp')"))
    assert v2.fault("GET", "/v2/alarms", sort="name:sideways")[0] == 400  # Aodh: 500
    assert v2.fault("GET", "/v2/alarms", marker="nope") == (400, "Marker nope not found.")  # Aodh: 500
    assert v2.fault("GET", "/v2/alarms", limit="-1") == (400, WSME.format("limit", -1, "it should be a positive "
                                                                                       "integer."))
    assert v2.fault("GET", "/v2/alarms", limit="abc")[0] == 400


def test_complex_queries(v2: V2) -> None:
    for name, state in (("a", "ok"), ("b", "alarm"), ("c", "alarm")):
        alarm_id = v2.create({**THRESHOLD, "name": name})["alarm_id"]
        v2.ok("PUT", f"/v2/alarms/{alarm_id}/state", state)
    body = {"filter": json.dumps({"and": [{"=": {"state": "alarm"}}, {"!=": {"name": "x"}}]}),
            "orderby": json.dumps([{"name": "DESC"}]), "limit": 1}
    assert [a["name"] for a in v2.ok("POST", "/v2/query/alarms", body)] == ["c"]
    assert [a["name"] for a in v2.ok("POST", "/v2/query/alarms", {"filter": '{"in": {"name": ["a", "b"]}}'})] == [
        "b", "a"]
    changes = v2.ok("POST", "/v2/query/alarms/history", {"filter": '{"=": {"type": "state transition"}}',
                                                         "orderby": '[{"timestamp": "asc"}]'})
    assert [json.loads(c["detail"])["state"] for c in changes] == ["ok", "alarm", "alarm"]
    assert len(v2.ok("POST", "/v2/query/alarms/history", {})) == 6
    code, message = v2.fault("POST", "/v2/query/alarms", {"filter": "{nope"})
    assert code == 400 and message.startswith("Filter expression not valid: ")
    code, message = v2.fault("POST", "/v2/query/alarms", {"filter": '{"=": {"colour": "red"}}'})
    assert code == 400 and message.startswith("Filter expression not valid: ") and "colour" in message
    code, message = v2.fault("POST", "/v2/query/alarms", {"orderby": '[{"colour": "asc"}]'})
    assert code == 400 and message.startswith("Order-by expression not valid: ")
    assert v2.fault("POST", "/v2/query/alarms", {"limit": 0}) == (400, "Limit should be positive")
    assert v2.fault("POST", "/v2/query/alarms", {"where": "x"}) == (400, "Unknown attribute for argument body: "
                                                                          "where")


# --- quotas, capabilities, errors ---------------------------------------------------------------------------

def test_quotas(v2: V2) -> None:
    assert v2.ok("GET", "/v2/quotas") == {"project_id": "p1", "quotas": [{"resource": "alarms", "limit": -1}]}
    quota = {"project_id": "p1", "quotas": [{"resource": "alarms", "limit": 1}]}
    assert v2.fault("POST", "/v2/quotas", quota) == (403, "RBAC Authorization Failed")
    r = v2.call("POST", "/v2/quotas", quota, ADMIN)
    assert (r.status_code, r.json()) == (201, quota)
    assert v2.ok("GET", "/v2/quotas") == quota
    v2.create(THRESHOLD)
    assert v2.fault("POST", "/v2/alarms", THRESHOLD) == (403, "Alarm quota exceeded for user u1 on project p1")
    assert v2.fault("DELETE", "/v2/quotas/p1") == (403, "RBAC Authorization Failed")
    assert v2.call("DELETE", "/v2/quotas/p1", headers=ADMIN).status_code == 204
    v2.create(THRESHOLD)
    assert v2.fault("POST", "/v2/quotas", {"project_id": "p1", "quotas": [{"resource": "cpus", "limit": 5}]},
                    ADMIN) == (400, WSME.format("resource", "cpus", "Value should be one of: alarms"))
    assert v2.fault("POST", "/v2/quotas", {"project_id": "p1", "quotas": [{"resource": "alarms", "limit": -2}]},
                    ADMIN) == (400, WSME.format("limit", -2, "Value should be greater or equal to -1"))
    assert v2.fault("POST", "/v2/quotas", {"quotas": []}, ADMIN) == (
        400, WSME.format("project_id", None, "Mandatory field missing."))


def test_capabilities(lite: V2) -> None:
    assert lite.ok("GET", "/v2/capabilities") == {
        "api": {"alarms:history:query:complex": True, "alarms:history:query:simple": True,
                "alarms:query:complex": True, "alarms:query:simple": True},
        "alarm_storage": {"storage:production_ready": True}}


def test_errors_have_aodhs_shape_on_v2_only(lite: V2) -> None:
    assert lite.fault("GET", "/v2/nothing") == (404, "The resource could not be found.")
    r = lite.call("PUT", "/v2/alarms")
    assert (r.status_code, r.headers["allow"]) == (405, "GET, POST")
    assert r.json()["error_message"]["faultstring"] == "The method PUT is not allowed for this resource."
    assert lite.fault("GET", "/v2/alarms", headers={"x-roles": "admin"})[0] == 401
    assert lite.fault("GET", "/v2/alarms", headers={"x-user-id": "u1", "x-roles": "member"}) == (
        403, "RBAC Authorization Failed")  # a scoped caller without a project
    assert lite.fault("GET", "/v2/alarms", headers={**MEMBER, "accept": "text/html"})[0] == 406
    r = lite.call("GET", "/v1/metric/nope", headers={**MEMBER, "accept": "application/json"})
    assert r.json() == {"code": 404, "title": "Not Found", "description": "Metric nope does not exist"}


def test_basic_mode_has_one_implicit_project(tmp_path: Path) -> None:
    """Without projects (basic auth) every user is a member of the one project, as /v1 does not filter."""
    with make_client(tmp_path) as client:
        alice = {"authorization": "basic YWxpY2U6"}  # alice:
        v2 = V2(client)
        alarm = v2.create(THRESHOLD, alice)
        assert (alarm["user_id"], alarm["project_id"]) == ("alice", None)
        assert [a["name"] for a in v2.ok("GET", "/v2/alarms", headers={"authorization": "basic Ym9iOg=="})] == ["t"]
        assert v2.fault("POST", "/v2/alarms", {**THRESHOLD, "alarm_actions": ["log://"]}, alice)[0] == 401
        assert v2.create({**THRESHOLD, "alarm_actions": ["log://"]}, {"authorization": "basic YWRtaW46"})
        client.app.state.services.close()


def test_what_no_database_stores_is_a_400(v2: V2) -> None:
    """NUL characters and over-long names or ids: a 400 naming the field, never PostgreSQL's 500."""
    nul = "a\x00b"
    for body in ({**THRESHOLD, "name": nul}, {**THRESHOLD, "name": "n" * 256},
                 {**THRESHOLD, "alarm_actions": [f"http://h/{nul}"]}, {**THRESHOLD, "project_id": "p" * 256},
                 {"name": "e", "type": "event", "event_rule": {"event_type": nul}}):
        code, message = v2.fault("POST", "/v2/alarms", body, ADMIN)
        assert code == 400 and "Invalid input for field/attribute" in message, (body, message)
    for params in ({"q.field": "name", "q.value": nul}, {"marker": nul}, {"sort": f"name:{nul}"}):
        assert v2.fault("GET", "/v2/alarms", **params)[0] == 400, params
    assert v2.fault("POST", "/v2/query/alarms", {"filter": json.dumps({"=": {"name": nul}})}) == (
        400, "Filter expression not valid: NUL characters are not allowed")
    assert v2.fault("GET", "/v2/quotas", project_id=nul, headers=ADMIN)[0] == 400
    assert v2.fault("POST", "/v2/quotas", {"project_id": "p1", "quotas": [{"resource": "alarms",
                                                                           "limit": 2**31}]}, ADMIN)[0] == 400
    assert v2.fault("GET", "/v2/alarms", headers={**MEMBER, "x-project-id": "p" * 256})[0] == 400
    v2.create(THRESHOLD)
    assert len(v2.ok("GET", "/v2/alarms", limit=str(2**70))) == 1
    assert len(v2.ok("POST", "/v2/query/alarms", {"limit": 2**62})) == 1


def test_root_document_can_be_aodhs(tmp_path: Path) -> None:
    for v2 in _v2(tmp_path / "aodh", overrides=("api.root_document=aodh",)):
        r = v2.call("GET", "/")
        assert '"base": "application/json"' in r.text
        (version,) = r.json()["versions"]["values"]
        assert (version["id"], version["status"]) == ("v2", "stable")
        assert version["links"][0]["href"] == "http://testserver/v2"
        assert v2.call("GET", "/v1/archive_policy").status_code == 200  # every API still answers
    for v2 in _v2(tmp_path / "gnocchi"):
        assert v2.call("GET", "/").json()["versions"][0]["id"] == "v1.0"
    with pytest.raises(ValueError, match="api.root_document must be one of gnocchi, aodh"):
        next(_v2(tmp_path / "bad", overrides=("api.root_document=keystone",)))
