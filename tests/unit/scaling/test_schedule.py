"""Scheduled capacity: windows from cron starts in a time zone, the next change, and combined bounds."""

from __future__ import annotations

import datetime
import uuid

import pytest

from telescale.scaling.model import Group, ScheduleSpec
from telescale.scaling.policies import (
    PolicyError,
    active_window,
    effective_bounds,
    next_change,
    schedule_to_dict,
    validate_schedule,
)

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def group(min_size: int = 1, max_size: int = 5) -> Group:
    return Group(id=uuid.uuid4(), name="web", project_id=None, user_id=None, min_size=min_size, max_size=max_size,
                 desired_capacity=min_size, current_size=min_size, cooldown=60.0, member_driver={"type": "process"})


WORKDAY = ScheduleSpec(cron="0 8 * * 1-5", duration=10 * 3600, timezone="Europe/Paris", min_size=4, max_size=10)


def test_window_in_a_time_zone() -> None:
    # Monday 2024-03-04, 08:00 in Paris is 07:00 UTC
    assert active_window(WORKDAY, at("2024-03-04T06:59:59+00:00")) is None
    start, end = active_window(WORKDAY, at("2024-03-04T07:00:00+00:00"))  # type: ignore[misc]
    assert start == at("2024-03-04T07:00:00+00:00") and end == at("2024-03-04T17:00:00+00:00")
    assert active_window(WORKDAY, at("2024-03-04T16:59:59+00:00")) == (start, end)
    assert active_window(WORKDAY, at("2024-03-04T17:00:00+00:00")) is None  # the end is outside
    assert active_window(WORKDAY, at("2024-03-09T10:00:00+00:00")) is None  # Saturday


def test_start_exactly_now_is_inside() -> None:
    spec = ScheduleSpec(cron="30 12 * * *", duration=60, max_size=3)
    assert active_window(spec, at("2024-01-01T12:30:00+00:00")) == (at("2024-01-01T12:30:00+00:00"),
                                                                    at("2024-01-01T12:31:00+00:00"))
    assert active_window(spec, at("2024-01-01T12:30:00.000001+00:00")) is not None
    assert active_window(spec, at("2024-01-01T12:29:59.999999+00:00")) is None


def test_now_in_another_offset() -> None:
    now = at("2024-03-04T09:30:00+02:00")  # 07:30 UTC
    window = active_window(WORKDAY, now)
    assert window is not None and window[0] == at("2024-03-04T07:00:00+00:00")


def test_window_across_dst_lasts_its_duration() -> None:
    # Paris goes to summer time at 02:00 on 2024-03-31; a 01:00 start lasting 3 h ends at 03:00 UTC
    spec = ScheduleSpec(cron="0 1 * * *", duration=3 * 3600, timezone="Europe/Paris", min_size=2)
    start, end = active_window(spec, at("2024-03-31T01:30:00+00:00"))  # type: ignore[misc]
    assert start == at("2024-03-31T00:00:00+00:00") and end == at("2024-03-31T03:00:00+00:00")


def test_next_change() -> None:
    before = at("2024-03-04T06:00:00+00:00")
    assert next_change(WORKDAY, before) == at("2024-03-04T07:00:00+00:00")
    assert next_change(WORKDAY, at("2024-03-04T12:00:00+00:00")) == at("2024-03-04T17:00:00+00:00")
    assert next_change(WORKDAY, at("2024-03-04T17:00:00+00:00")) == at("2024-03-05T07:00:00+00:00")
    friday_evening = at("2024-03-08T18:00:00+00:00")
    assert next_change(WORKDAY, friday_evening) == at("2024-03-11T07:00:00+00:00")
    assert next_change(WORKDAY, at("2024-03-04T07:00:00+00:00")) == at("2024-03-04T17:00:00+00:00")


def test_overlapping_windows_next_change_is_the_next_start() -> None:
    spec = ScheduleSpec(cron="0 * * * *", duration=5400, max_size=9)  # every hour, lasting 1.5 h
    assert next_change(spec, at("2024-01-01T10:10:00+00:00")) == at("2024-01-01T11:00:00+00:00")
    assert active_window(spec, at("2024-01-01T10:10:00+00:00"))[0] == at("2024-01-01T10:00:00+00:00")  # type: ignore[index]


def test_effective_bounds_without_windows_are_the_groups() -> None:
    b = effective_bounds(group(1, 5), [WORKDAY], at("2024-03-09T10:00:00+00:00"))
    assert (b.min_size, b.max_size, b.floor_desired) == (1, 5, None)
    assert "group bounds" in b.reason


def test_effective_bounds_one_window() -> None:
    b = effective_bounds(group(1, 5), [WORKDAY], at("2024-03-04T10:00:00+00:00"))
    assert (b.min_size, b.max_size, b.floor_desired) == (4, 10, None)
    assert "schedule '0 8 * * 1-5' (Europe/Paris) open 2024-03-04 08:00–2024-03-04 18:00" in b.reason


def test_effective_bounds_several_windows() -> None:
    lunch = ScheduleSpec(cron="0 12 * * *", duration=3600, min_size=6, desired_capacity=7)
    low_max = ScheduleSpec(cron="0 * * * *", duration=3600, max_size=8, desired_capacity=5)
    b = effective_bounds(group(1, 5), [WORKDAY, lunch, low_max], at("2024-03-04T12:30:00+00:00"))
    assert (b.min_size, b.max_size, b.floor_desired) == (6, 10, 7)  # highest min, widest max, highest desired
    only_lunch = effective_bounds(group(1, 5), [lunch], at("2024-03-04T12:30:00+00:00"))
    # the group's max 5 is below the schedule's min 6: the max is raised to fit, and the reason says so
    assert (only_lunch.min_size, only_lunch.max_size, only_lunch.floor_desired) == (6, 6, 6)
    assert "max_size raised to 6" in only_lunch.reason and "desired 7 held at max_size 6" in only_lunch.reason


def test_validate_and_round_trip() -> None:
    spec = validate_schedule({"cron": "0 8 * * 1-5", "duration": 36000, "timezone": "Europe/Paris",
                              "min_size": 4, "max_size": 10})
    assert spec == WORKDAY
    assert validate_schedule(schedule_to_dict(spec)) == spec
    assert validate_schedule({"cron": "0 8 * * *", "duration": 60, "desired_capacity": 3}).timezone == "UTC"


@pytest.mark.parametrize(("body", "message"), [
    ({"cron": "0 25 * * *", "duration": 60, "min_size": 1}, "cron: not a cron expression: '0 25 * * *'"),
    ({"cron": 5, "duration": 60, "min_size": 1}, "cron: not a cron expression"),
    ({"cron": "0 8 * * *", "duration": 60, "min_size": 1, "timezone": "Mars/Olympus"},
     "timezone: unknown time zone 'Mars/Olympus'"),
    ({"cron": "0 8 * * *", "min_size": 1}, "duration: required"),
    ({"cron": "0 8 * * *", "duration": 0, "min_size": 1}, "duration: must be a number of seconds > 0"),
    ({"cron": "0 8 * * *", "duration": 60}, "give at least one of min_size, max_size, desired_capacity"),
    ({"cron": "0 8 * * *", "duration": 60, "min_size": 5, "max_size": 3}, "min_size 5 is greater than max_size 3"),
    ({"cron": "0 8 * * *", "duration": 60, "desired_capacity": 5, "max_size": 3},
     "desired_capacity 5 is greater than max_size 3"),
    ({"cron": "0 8 * * *", "duration": 60, "min_size": -1}, "min_size: must be an integer >= 0"),
    ({"cron": "0 8 * * *", "duration": 60, "min_size": 1.5}, "min_size: must be a whole number"),
    ({"cron": "0 8 * * *", "duration": 60, "min_size": 1, "tz": "UTC"}, "unknown field(s) tz"),
])
def test_validate_errors(body: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        validate_schedule(body)
    assert message in str(caught.value)


def test_naive_now_is_refused() -> None:
    with pytest.raises(PolicyError, match="aware datetime"):
        active_window(WORKDAY, datetime.datetime(2024, 3, 4, 10, 0))
