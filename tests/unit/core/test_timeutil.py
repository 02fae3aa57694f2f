"""Timestamps and timespans in every form Gnocchi clients send."""

from __future__ import annotations

import datetime
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telescale.timeutil import (
    NS,
    TimeParseError,
    format_timespan,
    format_timestamps,
    parse_timespan,
    parse_timestamp,
    parse_timestamps,
)

S = 1_000_000_000


@pytest.mark.parametrize("text, seconds", [
    ("1 minute", 60), ("10s", 10), ("1 hour", 3600), (60, 60), ("60", 60), (3.6, 3.6), ("0:01:01", 61),
    ("2 days", 172800),
])
def test_timespans(text: object, seconds: float) -> None:
    assert parse_timespan(text) == round(seconds * S)


@pytest.mark.parametrize("text", ["1 shenanigan", "foobar", 0, "-5", None, True, "nan", -1.7976931348623157e308,
                                  1e300, "1e300", 1e10])
def test_bad_timespans(text: object) -> None:
    with pytest.raises(TimeParseError):
        parse_timespan(text)


def test_timestamps_forms() -> None:
    now = 1_700_000_000 * S
    assert parse_timestamp("2015-03-06T14:34") == 1425652440 * S
    assert parse_timestamp("2013-01-01 23:23:20") == 1357082600 * S
    assert parse_timestamp("2015-03-06T15:34:00+01:00") == 1425652440 * S
    assert parse_timestamp(1425652437.5) == 1425652437_500_000_000
    assert parse_timestamp("1425652440") == 1425652440 * S
    assert parse_timestamp("-5 minutes", now=now) == now - 300 * S
    assert parse_timestamp("now", now=now) == now
    with pytest.raises(TimeParseError):
        parse_timestamp("1915-100-06T14:33:57")


def test_batch_parsing_and_mixing() -> None:
    got = parse_timestamps(["2015-03-06T14:34:12", "2015-03-06T14:34:12+01:00"])
    assert got.tolist() == [1425652452 * S, 1425648852 * S]
    assert parse_timestamps([1, 2.5]).tolist() == [S, 2_500_000_000]
    with pytest.raises(TimeParseError, match="all be epoch numbers or all be strings"):
        parse_timestamps([1478012832, "-5 minutes"])


def test_epoch_numbers_sent_as_strings_are_seconds_not_years() -> None:
    """numpy reads "1764590400" as the year 1764…; the ISO fast path must leave such strings alone."""
    assert parse_timestamps(["1764590400", "2025-12-01T12:00:00"]).tolist() == [1764590400 * S, 1764590400 * S]
    with pytest.raises(TimeParseError, match="looks like milliseconds since the epoch: send seconds"):
        parse_timestamps(["1764590400000"])


def test_formatting() -> None:
    assert format_timestamps(np.array([1425652452 * S])) == ["2015-03-06T14:34:12+00:00"]
    assert format_timestamps(np.array([S + S // 2])) == ["1970-01-01T00:00:01.500000+00:00"]
    assert format_timespan(60 * S) == "0:01:00"
    assert format_timespan(3_600_000_000) == "0:00:03.600000"
    assert format_timespan(None) is None


@pytest.mark.parametrize("values", [["9999-01-01T00:00:00"], ["2300-01-01"], [1e20], [-1e20], [1e308], ["-1e308"],
                                    ["2300-01-01T00:00:00+01:00"]])
def test_out_of_range_timestamps_are_refused_not_wrapped(values: list) -> None:
    with pytest.raises(TimeParseError, match="out of range"):
        parse_timestamps(values)
    with pytest.raises(TimeParseError, match="out of range"):
        parse_timestamp(values[0])


@given(st.lists(st.integers(min_value=-2_208_988_800, max_value=9_000_000_000), min_size=1, max_size=50),
       st.booleans())
def test_format_timestamps_matches_isoformat(seconds: list[int], fractional: bool) -> None:
    """The table-driven fast path (whole seconds) and the sub-second path both equal Python's isoformat."""
    ns = np.array(seconds, dtype=np.int64) * NS + (250_000_000 if fractional else 0)
    expected = [(datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(microseconds=int(n) // 1000)
                 ).isoformat() for n in ns.tolist()]
    assert format_timestamps(ns) == expected


_LAYOUTS = st.tuples(st.sampled_from("T "), st.sampled_from([0, 1, 3, 6, 9]),
                     st.sampled_from(["", "Z", "+00:00", "+02:00", "-05:30", "+0100", "-1200"]))


@given(st.lists(st.integers(min_value=86_400, max_value=9_000_000_000), min_size=1, max_size=40),
       st.integers(min_value=0, max_value=999_999_999), _LAYOUTS)
def test_batches_of_one_layout_equal_parsing_each_string(seconds: list[int], fraction: int, layout: tuple) -> None:
    """The column-wise parser of uniform batches gives what the general parsers give for every string."""
    sep, digits, zone = layout
    base = datetime.datetime(1970, 1, 1)
    texts = [(base + datetime.timedelta(seconds=s)).strftime(f"%Y-%m-%d{sep}%H:%M:%S")
             + (f".{fraction:09d}"[:digits + 1] if digits else "") + zone for s in seconds]
    if zone and zone != "Z" and ":" not in zone:  # ±HHMM: not a form iso8601 reads, numpy's result is the reference
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns that it converts offsets
            expected = np.array(texts, dtype="datetime64[ns]").astype(np.int64).tolist()
    else:
        expected = [parse_timestamp(t) for t in texts]
        if digits > 6:  # the one-by-one parser keeps microseconds; batches keep nanoseconds, as numpy does
            expected = [e + int(f"{fraction:09d}"[6:digits].ljust(3, "0")) for e in expected]
    assert parse_timestamps(texts).tolist() == expected


@pytest.mark.parametrize("values", [["2025-02-29T00:00:00"], ["2025-04-31T00:00:00+00:00"], ["2025-13-01T00:00:00Z"],
                                    ["2025-01-01T00:00:00", "2025-01-01T25:00:00"], ["2025-01-01T00:00:00+25:00"]])
def test_impossible_dates_in_a_uniform_batch_are_refused(values: list[str]) -> None:
    with pytest.raises(TimeParseError):
        parse_timestamps(values)
