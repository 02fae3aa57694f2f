"""Aodh's time constraints, with time zones and daylight-saving changes."""

from __future__ import annotations

import datetime

import pytest

from telescale.alarming.rules.decision import RuleError
from telescale.alarming.rules.time_constraints import within_time_constraints

UTC = datetime.UTC


def _at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def _tc(start: str, duration: float, timezone: str = "") -> dict:
    return {"name": "tc", "description": "", "start": start, "duration": duration, "timezone": timezone}


def test_no_constraint_means_always():
    assert within_time_constraints([], _at(2014, 1, 1))
    assert within_time_constraints(None, _at(2014, 1, 1))


def test_inside_any_of_several_windows():
    # Aodh's test_base_time_constraints: daily 11:00 and 23:00, 3 hours each.
    tcs = [_tc("0 11 * * *", 10800), _tc("0 23 * * *", 10800)]
    assert within_time_constraints(tcs, _at(2014, 1, 1, 12))
    assert within_time_constraints(tcs, _at(2014, 1, 2, 1))
    assert not within_time_constraints(tcs, _at(2014, 1, 2, 5))


def test_complex_cron_expression():
    # Aodh's test_base_time_constraints_complex: every other minute 3–57 of every other hour 3–11, 30 s.
    tcs = [_tc("3-57/2 3-12/2 * * *", 30)]
    for h, m in [(3, 3), (3, 31), (3, 57), (5, 31), (11, 31)]:
        assert within_time_constraints(tcs, _at(2014, 1, 5, h, m)), (h, m)
    for h, m in [(3, 2), (3, 4), (3, 58), (1, 31), (4, 31), (12, 31)]:
        assert not within_time_constraints(tcs, _at(2014, 1, 5, h, m)), (h, m)


def test_monthly_start():
    assert within_time_constraints([_tc("0 11 31 1,3,5,7,8,10,12 *", 10800)], _at(2015, 3, 31, 11, 30))


def test_start_is_read_in_the_constraint_time_zone():
    # Aodh's test_base_time_constraints_timezone: 11:00 UTC is 12:00 in Ljubljana, 06:00 in New York.
    now = _at(2014, 1, 1, 11)
    assert within_time_constraints([_tc("0 11 * * *", 10800, "Europe/Ljubljana")], now)
    assert not within_time_constraints([_tc("0 11 * * *", 10800, "US/Eastern")], now)
    assert within_time_constraints([_tc("0 5 * * *", 10800, "America/New_York")], now)


def test_a_start_counts_to_the_minute():
    tcs = [_tc("0 11 * * *", 0)]
    assert within_time_constraints(tcs, _at(2014, 1, 1, 11))
    assert within_time_constraints(tcs, _at(2014, 1, 1, 10, 59, 30))  # Aodh's minute precision
    assert not within_time_constraints(tcs, _at(2014, 1, 1, 10, 58, 59))
    assert not within_time_constraints(tcs, _at(2014, 1, 1, 11, 0, 1))  # a zero duration ends at the start


def test_window_end_is_inclusive_and_now_may_be_nanoseconds():
    tcs = [_tc("0 11 * * *", 600)]
    assert within_time_constraints(tcs, _at(2014, 1, 1, 11, 10))
    assert not within_time_constraints(tcs, _at(2014, 1, 1, 11, 10, 1))
    ns = int(_at(2014, 1, 1, 11, 5).timestamp()) * 1_000_000_000
    assert within_time_constraints(tcs, ns)


def test_duration_is_real_seconds_across_spring_forward():
    # Paris, 2024-03-31: 02:00 CET jumps to 03:00 CEST. A 01:00 start (00:00 UTC) for 3 h ends at 03:00 UTC
    # (05:00 local), not at 04:00 local as wall-clock arithmetic would say.
    tcs = [_tc("0 1 * * *", 10800, "Europe/Paris")]
    assert within_time_constraints(tcs, _at(2024, 3, 31, 0, 0))
    assert within_time_constraints(tcs, _at(2024, 3, 31, 2, 30))
    assert within_time_constraints(tcs, _at(2024, 3, 31, 3, 0))
    assert not within_time_constraints(tcs, _at(2024, 3, 31, 3, 0, 1))


def test_start_in_the_skipped_hour_opens_when_the_clock_jumps():
    # 02:30 does not exist in Paris on 2024-03-31: the window opens at 03:00 CEST (01:00 UTC).
    tcs = [_tc("30 2 * * *", 1800, "Europe/Paris")]
    assert not within_time_constraints(tcs, _at(2024, 3, 31, 0, 35))
    assert within_time_constraints(tcs, _at(2024, 3, 31, 1, 10))
    assert not within_time_constraints(tcs, _at(2024, 3, 31, 1, 31))
    assert within_time_constraints(tcs, _at(2024, 4, 1, 0, 40))  # 02:40 CEST the next day


def test_start_in_the_repeated_hour_opens_twice_at_fall_back():
    # Paris, 2024-10-27: 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
    tcs = [_tc("30 2 * * *", 600, "Europe/Paris")]
    assert within_time_constraints(tcs, _at(2024, 10, 27, 0, 35))
    assert not within_time_constraints(tcs, _at(2024, 10, 27, 1, 0))
    assert within_time_constraints(tcs, _at(2024, 10, 27, 1, 35))
    assert not within_time_constraints(tcs, _at(2024, 10, 27, 2, 0))


def test_window_over_midnight_in_a_time_zone():
    # 22:00 in Tokyo (13:00 UTC) for 4 hours.
    tcs = [_tc("0 22 * * *", 4 * 3600, "Asia/Tokyo")]
    assert within_time_constraints(tcs, _at(2024, 5, 1, 16, 59))
    assert not within_time_constraints(tcs, _at(2024, 5, 1, 17, 1))
    assert not within_time_constraints(tcs, _at(2024, 5, 1, 12, 0))


@pytest.mark.parametrize(("tc", "field"), [
    (_tc("not cron", 60), "start"),
    (_tc("0 11 * * *", 60, "Mars/Olympus"), "timezone"),
    (_tc("0 11 * * *", -1), "duration"),
    ({"start": "0 11 * * *"}, "duration"),
])
def test_bad_constraints_name_the_field(tc, field):
    with pytest.raises(RuleError, match=field):
        within_time_constraints([tc], _at(2014, 1, 1))
