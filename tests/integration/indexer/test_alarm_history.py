"""Alarm history: newest first, Aodh's simple and complex queries, scoped by on_behalf_of, kept after deletion."""

from __future__ import annotations

import datetime
import json

import pytest

from telescale.indexer import Indexer, InvalidAlarmQuery, UnknownAlarmQueryField
from telescale.indexer.errors import InvalidMarker, InvalidSortKey

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


def _at(minutes: int) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


@pytest.fixture
def story(indexer: Indexer, make_alarm):
    """An alarm of project-a created (0 min), renamed (1), transitioned by the evaluator (2), set by hand (3),
    and an alarm of project-b created (0) and deleted (4)."""
    a = indexer.create_alarm(make_alarm(severity="moderate"), by_user="ua", by_project="project-a", now=_at(0))
    indexer.update_alarm(a.alarm_id, {"name": "renamed"}, project="project-a", by_user="ub", by_project="project-a",
                         now=_at(1))
    assert indexer.record_state(a.alarm_id, 2, "alarm", "3 samples outside threshold", {"count": 3}, _at(2))
    indexer.set_alarm_state(a.alarm_id, "ok", project=None, by_user="admin", by_project="admin-p", now=_at(3))
    b = indexer.create_alarm(make_alarm(project_id="project-b", user_id="uc"), by_user="uc", by_project="project-b",
                             now=_at(0))
    indexer.delete_alarm(b.alarm_id, project="project-b", by_user="uc", by_project="project-b", now=_at(4))
    return a, b


def _types(changes) -> list[str]:
    return [c.type for c in changes]


def test_history_is_newest_first(indexer: Indexer, story) -> None:
    a, b = story
    changes = indexer.get_alarm_history(a.alarm_id, project=None)
    assert _types(changes) == ["state transition", "state transition", "rule change", "creation"]
    assert [c.timestamp for c in changes] == [_at(3), _at(2), _at(1), _at(0)]
    assert json.loads(changes[1].detail) == {"state": "alarm", "transition_reason": "3 samples outside threshold",
                                             "reason_data": {"count": 3}}
    assert (changes[1].user_id, changes[1].on_behalf_of, changes[1].severity) == (None, "project-a", "moderate")
    assert _types(indexer.get_alarm_history(a.alarm_id, sorts=["timestamp:asc"], project=None)) == [
        "creation", "rule change", "state transition", "state transition"]


def test_history_of_a_deleted_alarm_and_scope(indexer: Indexer, story) -> None:
    a, b = story
    assert _types(indexer.get_alarm_history(b.alarm_id, project="project-b")) == ["deletion", "creation"]
    assert indexer.get_alarm_history(b.alarm_id, project="project-a") == []
    # Changes made by an admin on the alarm's behalf are visible to its project.
    assert len(indexer.get_alarm_history(a.alarm_id, project="project-a")) == 4


HISTORY_FILTERS = [
    ([("type", "eq", "state transition")], [3, 2]),
    ([("type", "ne", "state transition")], [1, 0]),
    ([("user_id", "eq", "ub")], [1]),
    ([("project_id", "eq", "admin-p")], [3]),
    ([("severity", "eq", "moderate")], [3, 2, 0]),  # a rule change not touching it has none (Aodh)
    ([("timestamp", "gt", _at(1).isoformat())], [3, 2]),
    ([("timestamp", "ge", _at(1).isoformat()), ("timestamp", "lt", _at(3).isoformat())], [2, 1]),
    ([("timestamp", "le", _at(1).isoformat())], [1, 0]),
    ([("timestamp", "gt", _at(2).isoformat()), ("search_offset", "eq", "1")], [3, 2]),
    ([("timestamp", "lt", _at(1).isoformat()), ("search_offset", "eq", 1)], [1, 0]),
]


def test_history_filters(indexer: Indexer, story) -> None:
    a, _ = story
    for filters, expected in HISTORY_FILTERS:
        changes = indexer.get_alarm_history(a.alarm_id, filters, project=None)
        assert [c.timestamp for c in changes] == [_at(m) for m in expected], filters


def test_history_filter_errors(indexer: Indexer, story) -> None:
    a, _ = story
    for field in ("on_behalf_of", "alarm_id", "detail"):
        with pytest.raises(UnknownAlarmQueryField) as e:
            indexer.get_alarm_history(a.alarm_id, [(field, "eq", "x")], project=None)
        assert e.value.field == field
    with pytest.raises(InvalidAlarmQuery) as offset:
        indexer.get_alarm_history(a.alarm_id, [("search_offset", "eq", "5")], project=None)
    assert offset.value.field == "search_offset"
    with pytest.raises(InvalidSortKey):
        indexer.get_alarm_history(a.alarm_id, sorts=["detail"], project=None)


def test_history_pages(indexer: Indexer, story) -> None:
    a, _ = story
    for sorts in ([], ["type:asc"], ["severity:desc", "timestamp:asc"]):
        full = indexer.get_alarm_history(a.alarm_id, sorts=sorts, project=None)
        first = indexer.get_alarm_history(a.alarm_id, sorts=sorts, limit=3, project=None)
        rest = indexer.get_alarm_history(a.alarm_id, sorts=sorts, limit=3, marker=str(first[-1].event_id),
                                         project=None)
        assert first + rest == full and len(rest) == 1, sorts
    with pytest.raises(InvalidMarker):
        indexer.get_alarm_history(a.alarm_id, marker=str(full[0].event_id), project="project-b")


def test_query_alarm_history(indexer: Indexer, story) -> None:
    a, b = story
    everything = indexer.query_alarm_history(project=None)
    assert len(everything) == 6 and everything[0].type == "deletion"
    assert len(indexer.query_alarm_history(project="project-b")) == 2
    transitions = indexer.query_alarm_history(
        {"and": [{"=": {"alarm_id": str(a.alarm_id)}}, {"in": {"type": ["state transition", "deletion"]}}]},
        project=None)
    assert [c.timestamp for c in transitions] == [_at(3), _at(2)]
    by_detail = indexer.query_alarm_history({"=~": {"detail": "samples outside"}}, project=None)
    assert [c.timestamp for c in by_detail] == [_at(2)]
    oldest = indexer.query_alarm_history({"not": {"=": {"on_behalf_of": "project-b"}}}, [{"timestamp": "asc"}],
                                         limit=2, project=None)
    assert _types(oldest) == ["creation", "rule change"]
    assert _types(indexer.query_alarm_history({">": {"timestamp": _at(3).isoformat()}}, project="project-a")) == []
    with pytest.raises(UnknownAlarmQueryField):
        indexer.query_alarm_history({"=": {"state": "ok"}}, project=None)
