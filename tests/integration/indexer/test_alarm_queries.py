"""Listing alarms: Aodh's simple query (filters, sort, limit, marker) and complex query, scoped in SQL."""

from __future__ import annotations

import datetime

import pytest

from telescale.indexer import (
    Indexer,
    InvalidAlarmQuery,
    InvalidAlarmQueryValue,
    UnknownAlarmQueryField,
    UnsupportedAlarmQueryOperator,
)
from telescale.indexer.errors import InvalidMarker, InvalidSortDirection, InvalidSortKey

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)

#: name: (project, user, type, enabled, state, severity, repeat_actions, minutes after T0)
ALARMS = {
    "a": ("p1", "u1", "gnocchi_resources_threshold", True, "ok", "low", False, 0),
    "b": ("p1", "u2", "event", False, "alarm", "critical", True, 1),
    "c": ("p1", "u1", "composite", True, "insufficient data", "moderate", False, 2),
    "d": ("p2", "u3", "gnocchi_resources_threshold", True, "alarm", "moderate", True, 3),
    "e": ("p2", "u3", "prometheus", False, "ok", "critical", False, 4),
}


def _at(minutes: int) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


@pytest.fixture
def alarms(indexer: Indexer, make_alarm) -> dict[str, object]:
    """The five alarms of :data:`ALARMS`, by name."""
    created = {}
    for name, (project, user, type, enabled, state, severity, repeat, minutes) in ALARMS.items():
        alarm = make_alarm(name=name, project_id=project, user_id=user, type=type, enabled=enabled, state=state,
                           severity=severity, repeat_actions=repeat, description=f"alarm {name}")
        created[name] = indexer.create_alarm(alarm, now=_at(minutes))
    return created


def _names(alarms) -> list[str]:
    return [a.name for a in alarms]


SIMPLE_FILTERS = [
    ([], "edcba"),
    ([("name", "eq", "c")], "c"),
    ([("name", "ne", "c")], "edba"),
    ([("name", "lt", "c")], "ba"),
    ([("name", "le", "c")], "cba"),
    ([("name", "gt", "c")], "ed"),
    ([("name", "ge", "c")], "edc"),
    ([("project_id", "eq", "p2")], "ed"),
    ([("user_id", "eq", "u1")], "ca"),
    ([("type", "eq", "gnocchi_resources_threshold")], "da"),
    ([("enabled", "eq", "True")], "dca"),
    ([("enabled", "eq", False)], "eb"),
    ([("enabled", "ne", "false")], "dca"),
    ([("repeat_actions", "eq", "1")], "db"),
    ([("state", "eq", "insufficient data")], "c"),
    ([("severity", "eq", "moderate")], "dc"),
    ([("severity", "ge", "moderate")], "edcb"),
    ([("severity", "lt", "critical")], "dca"),
    ([("timestamp", "eq", _at(2).isoformat())], "c"),
    ([("timestamp", "gt", "2026-03-01T12:02:00")], "ed"),
    ([("timestamp", "ge", "2026-03-01T13:02:00+01:00")], "edc"),
    ([("timestamp", "lt", _at(2).isoformat())], "ba"),
    ([("timestamp", "le", _at(2))], "cba"),
    ([("timestamp", "ne", _at(2))], "edba"),
    ([("state", "eq", "ok"), ("enabled", "eq", "true")], "a"),
    ([("all_projects", "eq", "true"), ("name", "eq", "a")], "a"),
]


def test_simple_filters(indexer: Indexer, alarms) -> None:
    for filters, expected in SIMPLE_FILTERS:
        assert "".join(_names(indexer.list_alarms(filters, project=None))) == expected, filters


def test_project_scope_applies_whatever_the_filter(indexer: Indexer, alarms) -> None:
    assert _names(indexer.list_alarms(project="p1")) == ["c", "b", "a"]
    assert indexer.list_alarms([("project_id", "eq", "p2")], project="p1") == []
    assert indexer.list_alarms([("all_projects", "eq", "true")], project="p1") == indexer.list_alarms(project="p1")
    assert indexer.list_alarms(project="nobody") == []


SIMPLE_FILTER_ERRORS = [
    ([("alarm_id", "eq", "x")], UnknownAlarmQueryField, "alarm_id"),
    ([("state_reason", "eq", "x")], UnknownAlarmQueryField, "state_reason"),
    ([("name", "like", "x")], UnsupportedAlarmQueryOperator, "name"),
    ([("enabled", "eq", "maybe")], InvalidAlarmQueryValue, "enabled"),
    ([("timestamp", "gt", "yesterday")], InvalidAlarmQueryValue, "timestamp"),
    ([("severity", "gt", "huge")], InvalidAlarmQueryValue, "severity"),
]


def test_simple_filter_errors_name_the_field(indexer: Indexer) -> None:
    for filters, error, field in SIMPLE_FILTER_ERRORS:
        with pytest.raises(error) as e:
            indexer.list_alarms(filters, project=None)
        assert e.value.field == field, filters
        assert field in str(e.value)


SORTS = [
    ([], "edcba"),
    (["name"], "abcde"),
    (["name:desc"], "edcba"),
    (["timestamp:asc"], "abcde"),
    (["severity:asc", "name:asc"], "acdbe"),
    (["severity:desc", "name:desc"], "ebdca"),
    (["project_id:desc", "state:asc", "name:desc"], "debca"),
    (["enabled", "timestamp:desc"], "ebdca"),
    (["repeat_actions:desc", "user_id", "name"], "bdace"),
    (["state_timestamp:desc"], "edcba"),
]


def test_sort(indexer: Indexer, alarms) -> None:
    for sorts, expected in SORTS:
        assert "".join(_names(indexer.list_alarms(sorts=sorts, project=None))) == expected, sorts


def test_sort_errors(indexer: Indexer, alarms) -> None:
    with pytest.raises(InvalidSortKey) as e:
        indexer.list_alarms(sorts=["rule"], project=None)
    assert e.value.key == "rule"
    with pytest.raises(InvalidSortDirection):
        indexer.list_alarms(sorts=["name:up"], project=None)


def test_pages_with_marker_cover_the_listing_once(indexer: Indexer, alarms) -> None:
    for sorts in ([], ["name"], ["severity:desc"], ["enabled:asc", "state:desc"], ["user_id"], ["project_id:desc"]):
        full = indexer.list_alarms(sorts=sorts, project=None)
        pages, marker = [], None
        while True:
            batch = indexer.list_alarms(sorts=sorts, limit=2, marker=marker, project=None)
            if not batch:
                break
            pages.extend(batch)
            marker = batch[-1].alarm_id
        assert pages == full and len(full) == 5, sorts


def test_marker_is_looked_up_in_scope_and_filter(indexer: Indexer, alarms) -> None:
    after_b = indexer.list_alarms(sorts=["name"], marker=str(alarms["b"].alarm_id), project="p1")
    assert _names(after_b) == ["c"]
    for marker, project, filters in (
        (alarms["d"].alarm_id, "p1", []),  # another project's alarm
        (alarms["a"].alarm_id, None, [("state", "eq", "alarm")]),  # filtered out
        ("not-a-uuid", None, []),
    ):
        with pytest.raises(InvalidMarker):
            indexer.list_alarms(filters, marker=marker, project=project)


def test_limit(indexer: Indexer, alarms) -> None:
    assert _names(indexer.list_alarms(limit=2, project=None)) == ["e", "d"]
    for limit in (0, -1):
        with pytest.raises(InvalidAlarmQuery) as e:
            indexer.list_alarms(limit=limit, project=None)
        assert e.value.field == "limit"


COMPLEX_FILTERS = [
    ({"=": {"name": "a"}}, "a"),
    ({"!=": {"state": "ok"}}, "dcb"),
    ({"<": {"timestamp": "2026-03-01T12:01:00"}}, "a"),
    ({"=<": {"timestamp": "2026-03-01T12:01:00"}}, "ba"),
    ({"<=": {"severity": "moderate"}}, "dca"),
    ({">": {"severity": "moderate"}}, "eb"),
    ({"=>": {"name": "d"}}, "ed"),
    ({">=": {"state_timestamp": "2026-03-01T12:03:00Z"}}, "ed"),
    ({"in": {"name": ["a", "c", "zz"]}}, "ca"),
    ({"IN": {"severity": ["low", "critical"]}}, "eba"),
    ({"=~": {"type": "^gnocchi"}}, "da"),
    ({"=~": {"description": "alarm [bd]$"}}, "db"),
    ({"=": {"project": "p2"}}, "ed"),
    ({"=": {"user": "u1"}}, "ca"),
    ({"=": {"enabled": False}}, "eb"),
    ({"=": {"repeat_actions": True}}, "db"),
    ({"and": [{"=": {"project_id": "p1"}}, {"=": {"enabled": True}}]}, "ca"),
    ({"AND": [{"=": {"project_id": "p1"}}, {"=": {"enabled": True}}, {"=": {"state": "ok"}}]}, "a"),
    ({"or": [{"=": {"name": "a"}}, {"=": {"severity": "critical"}}]}, "eba"),
    ({"not": {"=": {"project_id": "p1"}}}, "ed"),
    ({"Not": {"or": [{"=": {"name": "a"}}, {"in": {"state": ["alarm"]}}]}}, "ec"),
    ({"and": [{"or": [{"=": {"name": "a"}}, {"=": {"name": "d"}}]},
              {"not": {"=~": {"project_id": "1$"}}}]}, "d"),
    ({"=": {"evaluation_interval": 5}}, ""),
    ({"=": {"pending_for": 0}}, "edcba"),
]


def test_complex_filters(indexer: Indexer, alarms) -> None:
    for tree, expected in COMPLEX_FILTERS:
        assert "".join(_names(indexer.query_alarms(tree, project=None))) == expected, tree


def test_complex_query_on_ids(indexer: Indexer, alarms) -> None:
    a, b = alarms["a"], alarms["b"]
    assert _names(indexer.query_alarms({"=": {"alarm_id": str(a.alarm_id)}}, project=None)) == ["a"]
    assert _names(indexer.query_alarms({"in": {"alarm_id": [str(a.alarm_id), str(b.alarm_id)]}},
                                       project=None)) == ["b", "a"]
    assert indexer.query_alarms({"=": {"alarm_id": "not-a-uuid"}}, project=None) == []
    assert len(indexer.query_alarms({"!=": {"alarm_id": "not-a-uuid"}}, project=None)) == 5


def test_complex_query_scope_orderby_and_limit(indexer: Indexer, alarms) -> None:
    assert _names(indexer.query_alarms(None, project="p2")) == ["e", "d"]
    assert indexer.query_alarms({"=": {"project_id": "p1"}}, project="p2") == []
    ordered = indexer.query_alarms(None, [{"severity": "DESC"}, {"name": "asc"}], project=None)
    assert _names(ordered) == ["b", "e", "c", "d", "a"]
    assert _names(indexer.query_alarms({"=": {"enabled": True}}, [{"user": "desc"}, {"name": "asc"}],
                                       limit=2, project=None)) == ["d", "a"]
    with pytest.raises(InvalidSortKey):
        indexer.query_alarms(None, [{"rule": "asc"}], project=None)
    with pytest.raises(InvalidSortDirection):
        indexer.query_alarms(None, [{"name": "sideways"}], project=None)


COMPLEX_FILTER_ERRORS = [
    ({"=": {"colour": "red"}}, UnknownAlarmQueryField, "colour"),
    ({"=": {"rule": "x"}}, UnsupportedAlarmQueryOperator, "rule"),
    ({"=~": {"enabled": "t"}}, UnsupportedAlarmQueryOperator, "enabled"),
    ({"=~": {"name": "("}}, InvalidAlarmQueryValue, "name"),
    ({"in": {"name": []}}, InvalidAlarmQueryValue, "name"),
    ({"in": {"name": "a"}}, InvalidAlarmQueryValue, "name"),
    ({"<": {"timestamp": "soon"}}, InvalidAlarmQueryValue, "timestamp"),
    ({"<": {"alarm_id": "x"}}, InvalidAlarmQueryValue, "alarm_id"),
    ({"=": {"name": {"nested": 1}}}, InvalidAlarmQueryValue, "name"),
    ({"like": {"name": "a"}}, InvalidAlarmQuery, "filter"),
    ({"and": [{"=": {"name": "a"}}]}, InvalidAlarmQuery, "filter"),
    ({"=": {"name": "a"}, "!=": {"name": "b"}}, InvalidAlarmQuery, "filter"),
    ({"=": {"name": "a", "state": "ok"}}, InvalidAlarmQuery, "filter"),
    ({"not": [{"=": {"name": "a"}}]}, InvalidAlarmQuery, "filter"),
]


def test_complex_filter_errors(indexer: Indexer) -> None:
    for tree, error, field in COMPLEX_FILTER_ERRORS:
        with pytest.raises(error) as e:
            indexer.query_alarms(tree, project=None)
        assert e.value.field == field, tree
