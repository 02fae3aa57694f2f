"""Event rules: Aodh's matching of Ceilometer events, project scoping and firing."""

from __future__ import annotations

import pytest

from telescale.alarming.rules.decision import ALARM, OK, UNKNOWN
from telescale.alarming.rules.event import InvalidEvent, evaluate_event, event_project, matches, traits


def _event(event_type: str = "compute.instance.update", traits_=None, message_id: str = "m1") -> dict:
    return {"message_id": message_id, "event_type": event_type, "generated": "2015-09-01T18:52:27.214309",
            "traits": traits_ if traits_ is not None else [], "raw": {"payload": {"state": "active"}}}


def _alarm(event_type: str = "*", query=None, state: str = UNKNOWN, repeat: bool = False) -> dict:
    return {"type": "event", "state": state, "repeat_actions": repeat,
            "event_rule": {"event_type": event_type, "query": query or []}}


def _q(field: str, value, op: str = "eq", type_: str = "string") -> dict:
    return {"field": field, "op": op, "value": value, "type": type_}


def test_a_matching_event_fires_with_aodh_reason():
    query = [_q("traits.state", "stopped")]
    event = _event(traits_=[["state", 1, "stopped"]])
    d = evaluate_event(_alarm("compute.instance.*", query), event)
    assert d.state == ALARM
    assert d.reason == ('Event <id=m1,event_type=compute.instance.update> hits the query '
                        '<query=[{"field": "traits.state", "op": "eq", "type": "string", "value": "stopped"}]>.')
    assert d.reason_data == {"type": "event", "event": event}
    assert not d.always_record


@pytest.mark.parametrize(("pattern", "event_type", "hit"), [
    ("*", "anything", True),
    ("compute.instance.*", "compute.instance.update", True),
    ("compute.instance.*", "dummy.compute.instance", False),
    ("compute.instance.exists", "compute.instance.update", False),
    ("compute.instance.?pdate", "compute.instance.update", True),
    ("Compute.*", "compute.instance.update", False),
])
def test_event_type_is_an_fnmatch_pattern(pattern, event_type, hit):
    assert matches({"event_type": pattern, "query": []}, _event(event_type)) is hit


@pytest.mark.parametrize(("query", "trait", "hit"), [
    (_q("traits.state", "stopped"), ["state", 1, "stopped"], True),
    (_q("traits.state", "stopped"), ["state", 1, "active"], False),
    (_q("traits.instance_type_id", "5", type_="integer"), ["instance_type_id", 2, 5], True),
    (_q("traits.instance_type_id", "5", type_="integer"), ["instance_type_id", 2, 6], False),
    (_q("traits.instance_type_id", "5", "gt", "integer"), ["instance_type_id", 2, 6], True),
    (_q("traits.io_read_kbs", "123.456", type_="float"), ["io_read_kbs", 3, 123.456], True),
    (_q("traits.io_read_kbs", "123.456", type_="float"), ["io_read_kbs", 3, 456.123], False),
    (_q("traits.io_read_kbs", "200", "lt", "float"), ["io_read_kbs", "float", "123.4"], True),
    (_q("traits.created_at", "2015-09-01T18:52:27.214309", type_="datetime"),
     ["created_at", 4, "2015-09-01T18:52:27.214309"], True),
    (_q("traits.created_at", "2015-09-01T18:52:27.214309", type_="datetime"),
     ["created_at", 4, "2015-09-02T18:52:27.214309"], False),
    (_q("traits.created_at", "2015-09-01T20:52:27.214309+02:00", type_="datetime"),
     ["created_at", 4, "2015-09-01T18:52:27.214309"], True),
    (_q("traits.created_at", "2015-09-01T00:00:00", "ge", "datetime"),
     ["created_at", 4, "2015-09-01T18:52:27"], True),
    (_q("traits.created_at", "2015-09-01T18:52:27.214309", type_="datetime"), ["created_at", 3, 123.456], False),
    (_q("traits.created_at", "2015-09-01T18:52:27", "lt", "datetime"), ["created_at", 3, 123.456], False),
    (_q("traits.state", "stopped", "ne"), ["state", 1, "active"], True),
    (_q("traits.missing", "x"), ["state", 1, "active"], False),
    (_q("traits.missing", "x", "ne"), ["state", 1, "active"], True),  # as Aodh: None != "x"
    (_q("traits.missing", "1", "gt", "integer"), ["state", 1, "active"], False),
    (_q("traits.flag", "true", type_="boolean"), ["flag", 1, "True"], False),  # a string trait is no boolean
    (_q("traits.n", "abc", type_="integer"), ["n", 2, 1], False),  # a query value of the wrong type
])
def test_trait_queries_compare_typed_values(query, trait, hit):
    assert matches({"event_type": "*", "query": [query]}, _event(traits_=[trait])) is hit


def test_all_query_items_must_hold():
    rule = {"event_type": "*", "query": [_q("traits.state", "stopped"), _q("traits.host", "h1")]}
    assert matches(rule, _event(traits_=[["state", 1, "stopped"], ["host", 1, "h1"]]))
    assert not matches(rule, _event(traits_=[["state", 1, "stopped"], ["host", 1, "h2"]]))


def test_other_fields_read_the_event_itself():
    assert matches({"query": [_q("event_type", "compute.instance.update")]}, _event())
    assert matches({"query": [_q("raw.payload.state", "active")]}, _event())
    assert not matches({"query": [_q("raw.payload.nothing", "active")]}, _event())
    assert matches({"query": [_q("generated", "2015-09-01T00:00:00", "gt", "datetime")]}, _event())


def test_traits_may_be_objects_or_a_dict():
    assert traits(_event(traits_=[{"name": "n", "type": 2, "value": "7"}])) == {"n": 7}
    assert traits(_event(traits_=[{"name": "n", "dtype": "float", "value": "7"}])) == {"n": 7.0}
    assert traits(_event(traits_={"n": 7, "s": "x"})) == {"n": 7, "s": "x"}
    assert matches({"query": [_q("traits.n", "6", "gt", "integer")]}, _event(traits_={"n": 7}))


@pytest.mark.parametrize("trait", [["n", 2, "seven"], ["n", 4, "yesterday"], ["n", 9, "x"], ["n", 1], [None, 1, "x"],
                                   ["", 1, "x"], [5, 1, "x"], {"dtype": 1, "value": "x"}])
def test_unreadable_traits_make_an_invalid_event(trait):
    with pytest.raises(InvalidEvent, match="traits"):
        traits(_event(traits_=[trait]))


@pytest.mark.parametrize("traits_", ["state", 5, True])
def test_traits_that_are_no_list_make_an_invalid_event(traits_):
    with pytest.raises(InvalidEvent, match="traits: must be a list"):
        traits(_event(traits_=traits_))


@pytest.mark.parametrize(("event", "field"), [
    ({"message_id": "m1", "traits": []}, "event_type"),
    ({"event_type": "x", "traits": []}, "message_id"),
    ({}, "event"),
])
def test_events_without_mandatory_fields_are_invalid(event, field):
    with pytest.raises(InvalidEvent, match=field):
        evaluate_event(_alarm(), event)


@pytest.mark.parametrize(("traits_", "project"), [
    ([["project_id", 1, "project1"]], "project1"),
    ([["tenant_id", 1, "project1"]], "project1"),
    ([["state", 1, "x"]], ""),
    ([], ""),
])
def test_an_event_belongs_to_its_project_trait(traits_, project):
    assert event_project(_event(traits_=traits_)) == project


def test_an_alarm_already_fired_is_skipped_without_repeat_actions():
    assert evaluate_event(_alarm(state=ALARM), _event()) is None


def test_repeat_actions_fire_again_and_record():
    d = evaluate_event(_alarm(state=ALARM, repeat=True), _event())
    assert d.state == ALARM and d.always_record


def test_an_ok_alarm_fires_and_a_miss_never_makes_it_ok():
    assert evaluate_event(_alarm(state=OK), _event()).state == ALARM
    assert evaluate_event(_alarm("other.*", state=OK), _event()) is None


def test_current_state_may_be_given_apart():
    assert evaluate_event(_alarm(state=UNKNOWN), _event(), current_state=ALARM) is None
