"""The drivers' member bookkeeping: names, scale-in order, replacement sizes, Nova states, acknowledged sizes."""

from __future__ import annotations

import datetime
import uuid

import pytest

from telescale.scaling.drivers.members import next_index, surplus
from telescale.scaling.drivers.nova import member_status
from telescale.scaling.drivers.webhook import acknowledged_size
from telescale.scaling.model import Member

GROUP = uuid.uuid4()


def member(name: str, status: str = "active", minute: int = 0) -> Member:
    return Member(id=uuid.uuid4(), group_id=GROUP, name=name, ref=name, status=status,
                  created_at=datetime.datetime(2026, 1, 1, 0, minute, tzinfo=datetime.UTC))


def test_names_continue_after_the_highest_index() -> None:
    assert next_index("web", []) == 1
    assert next_index("web", [member("web-1"), member("web-7"), member("web-x"), member("api-9")]) == 8
    assert next_index("we.b", [member("web-3")]) == 1  # the prefix is literal, not a pattern


def test_surplus_goes_unhealthy_first_then_oldest_and_skips_failed() -> None:
    members = [member("a", minute=1), member("b", "unhealthy", minute=5), member("c", minute=0),
               member("d", "failed", minute=0)]
    assert [m.name for m in surplus(members, 1)] == ["b", "c"]
    assert surplus(members, 3) == []


@pytest.mark.parametrize(("nova", "known", "expected"), [
    ("ACTIVE", None, "active"), ("BUILD", None, "active"), ("ACTIVE", "unhealthy", "unhealthy"),
    ("ACTIVE", "failed", "active"), ("ERROR", "active", "failed"), ("DELETED", None, "failed"),
    ("SHUTOFF", "active", "unhealthy"), (None, "active", "failed")])
def test_nova_states(nova: str | None, known: str | None, expected: str) -> None:
    assert member_status(nova, known) == expected


@pytest.mark.parametrize(("answer", "size"), [
    (b"", 4), (b"accepted", 4), (b'{"current_size": 3}', 3), (b'{"capacity": 2}', 2),
    (b'{"current_size": true}', 4), (b'{"current_size": -1}', 4), (b'{"current_size": "3"}', 4), (b"[3]", 4),
    (b'{"current_size": 0, "capacity": 9}', 0), (b"\xff\xfe", 4)])
def test_the_acknowledged_size(answer: bytes, size: int) -> None:
    assert acknowledged_size(answer, 4) == size
