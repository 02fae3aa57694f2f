"""Scale-in order: failed, then unhealthy, then the oldest, then by name."""

from __future__ import annotations

import datetime
import uuid

import pytest

from telescale.scaling.model import Member
from telescale.scaling.policies import PolicyError, choose_victims

GROUP = uuid.uuid4()


def member(name: str, minutes: int | None, status: str = "active") -> Member:
    created = None if minutes is None else datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC) + \
        datetime.timedelta(minutes=minutes)
    return Member(id=uuid.uuid4(), group_id=GROUP, name=name, ref=name, status=status, created_at=created)


def names(members: list[Member]) -> list[str]:
    return [m.name for m in members]


def test_oldest_first() -> None:
    ms = [member("c", 30), member("a", 10), member("b", 20)]
    assert names(choose_victims(ms, 2)) == ["a", "b"]


def test_broken_members_first() -> None:
    ms = [member("old", 0), member("sick", 50, "unhealthy"), member("dead", 60, "failed"), member("new", 40)]
    assert names(choose_victims(ms, 4)) == ["dead", "sick", "old", "new"]
    assert names(choose_victims(ms, 1)) == ["dead"]


def test_ties_by_name_and_unknown_age_counts_as_oldest() -> None:
    ms = [member("b", 10), member("a", 10), member("z", None)]
    assert names(choose_victims(ms, 3)) == ["z", "a", "b"]


def test_naive_and_aware_times_compare() -> None:
    naive = Member(id=uuid.uuid4(), group_id=GROUP, name="naive", ref="1",
                   created_at=datetime.datetime(2023, 12, 31, 23, 0))
    assert names(choose_victims([member("aware", 0), naive], 1)) == ["naive"]


def test_counts() -> None:
    ms = [member("a", 1), member("b", 2)]
    assert choose_victims(ms, 0) == []
    assert names(choose_victims(ms, 5)) == ["a", "b"]
    assert choose_victims([], 3) == []
    with pytest.raises(PolicyError, match="integer >= 0"):
        choose_victims(ms, -1)
