"""Parsing and printing times the way Gnocchi's clients send and expect them.

Inside Telescale a time is int64 nanoseconds since the epoch (UTC) and a duration is int64 nanoseconds.
Clients send timestamps as ISO 8601 (naive means UTC), as epoch seconds, or relative to now
(`-2 days`, `now`); durations as seconds or as text (`1 minute`, `10s`, `0:01:00`).
"""

from __future__ import annotations

import datetime
import functools
import re
import time
import warnings
from collections.abc import Sequence
from typing import Any

import iso8601
import numpy as np
import pytimeparse

NS = 1_000_000_000
# The int64 nanosecond clock ends in April 2262; refuse anything past the start of 2261.  Like Gnocchi,
# nothing before the epoch is accepted, so one range holds for measures, query arguments and searches.
MAX_TIMESTAMP_SECONDS = 9_183_110_400  # 2261-01-01T00:00:00Z
MIN_TIMESTAMP_SECONDS = 0
# Gnocchi's own words for a timestamp before 1970; its conformance suite looks for them.
_RANGE = "Timestamp must be after Epoch (1970-01-01T00:00:00+00:00) and before 2261-01-01T00:00:00+00:00"
_UNITS = (("milliseconds", 1e3), ("microseconds", 1e6), ("nanoseconds", 1e9))
_RELATIVE = re.compile(r"^\s*([+-])\s*(.+)$")
_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


class TimeParseError(ValueError):
    """A timestamp or timespan that cannot be read."""


class TimestampOutOfRange(TimeParseError):
    """A timestamp outside 1970–2261; one message wherever it is raised, naming the value sent."""


def out_of_range(value: Any) -> TimestampOutOfRange:
    """The error for `value` (as the client sent it), saying what to send when it looks like ms/µs/ns."""
    seconds = _number(value)
    if seconds is not None and seconds > MAX_TIMESTAMP_SECONDS:
        for unit, factor in _UNITS:
            if MIN_TIMESTAMP_SECONDS <= seconds / factor <= MAX_TIMESTAMP_SECONDS:
                return TimestampOutOfRange(f"timestamp {value} is out of range; it looks like {unit} since the "
                                           f"epoch: send seconds ({seconds / factor!r})")
    return TimestampOutOfRange(f"timestamp {value} is out of range; {_RANGE}")


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value)
    return None


def now_ns() -> int:
    return time.time_ns()


def parse_timespan(value: Any) -> int:
    """A positive duration in ns from seconds (number or numeric string) or text like `1 minute`."""
    if isinstance(value, bool):
        raise TimeParseError("Unable to parse timespan")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            seconds = float(text)
        else:
            parsed = pytimeparse.parse(text)
            if parsed is None:
                raise TimeParseError("Unable to parse timespan")
            seconds = float(parsed)
    else:
        raise TimeParseError("Unable to parse timespan")
    if not np.isfinite(seconds):
        raise TimeParseError("Unable to parse timespan")
    if seconds > MAX_TIMESTAMP_SECONDS:  # past the int64 nanosecond range, as timestamps
        raise TimeParseError(f"Timespan out of range: must be at most {MAX_TIMESTAMP_SECONDS} seconds")
    ns = round(max(seconds, 0.0) * NS)
    if ns <= 0:
        raise TimeParseError("Timespan must be positive")
    return ns


def _from_datetime(dt: datetime.datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    delta = dt - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


def _check_range(seconds: np.ndarray, values: Sequence[Any]) -> None:
    """Refuse the batch naming its first out-of-range value; one vectorised test when all are fine."""
    bad = (seconds > MAX_TIMESTAMP_SECONDS) | (seconds < MIN_TIMESTAMP_SECONDS)
    if bad.any():
        raise out_of_range(values[int(np.argmax(bad))])


def parse_timestamp(value: Any, now: int | None = None) -> int:
    """One timestamp in ns: epoch seconds, ISO 8601, `now`, or relative (`-5 minutes`)."""
    ns = _parse_one(value, now)
    _check_range(np.array([ns / NS]), [value])
    return ns


def _epoch_ns(seconds: float, value: Any) -> int:
    """Epoch seconds in ns, checked against the range first (a huge float times NS would be infinite)."""
    _check_range(np.array([seconds]), [value])
    return round(seconds * NS)


def _parse_one(value: Any, now: int | None) -> int:
    if isinstance(value, bool):
        raise TimeParseError(f"Unable to parse timestamp {value!r}")
    if isinstance(value, int | float):
        if not np.isfinite(value):
            raise TimeParseError(f"Unable to parse timestamp {value!r}")
        return _epoch_ns(float(value), value)
    if not isinstance(value, str):
        raise TimeParseError(f"Unable to parse timestamp {value!r}")
    text = value.strip()
    if _NUMBER.match(text):
        return _epoch_ns(float(text), value)
    if text.lower() == "now":
        return now if now is not None else now_ns()
    relative = _RELATIVE.match(text)
    if relative and pytimeparse.parse(relative.group(2)) is not None:
        sign, span = relative.groups()
        delta = parse_timespan(span)
        base = now if now is not None else now_ns()
        return base - delta if sign == "-" else base + delta
    try:
        return _from_datetime(iso8601.parse_date(text, default_timezone=None))
    except (iso8601.ParseError, ValueError, OverflowError):
        raise TimeParseError(f"Unable to parse timestamp {value!r}") from None


def parse_timestamps(values: Sequence[Any], now: int | None = None) -> np.ndarray:
    """Many timestamps at once; epoch numbers and strings may not be mixed in one batch.

    All-numeric batches and naive ISO strings are converted by numpy in one call; anything else (offsets,
    relative times) falls back to parsing each string.
    """
    if not values:
        return np.empty(0, dtype=np.int64)
    first = values[0]
    numeric = isinstance(first, int | float) and not isinstance(first, bool)
    if numeric:
        try:
            seconds = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise TimeParseError("Timestamps must all be epoch numbers or all be strings") from None
        if not set(map(type, values)) <= {int, float}:
            raise TimeParseError("Timestamps must all be epoch numbers or all be strings")
        if not np.isfinite(seconds).all():
            raise TimeParseError("Timestamps must be finite")
        _check_range(seconds, values)
        return np.round(seconds * NS).astype(np.int64)
    if set(map(type, values)) != {str}:
        raise TimeParseError("Timestamps must all be epoch numbers or all be strings")
    fast = _parse_iso_strings(values)
    if fast is not None:
        _check_range(fast / NS, values)
        return fast
    now = now if now is not None else now_ns()
    return np.fromiter((parse_timestamp(v, now) for v in values), dtype=np.int64, count=len(values))


# Years numpy's datetime64[ns] (and the int64 arithmetic below) hold; anything else takes the slow path.
_MIN_YEAR, _MAX_YEAR = 1678, 2260
_DIGIT = -1  # a template position that holds a digit
_DATE_TIME = b"DDDD-DD-DD?DD:DD:DD"  # "?" is the date/time separator, "T" or " "
_DAYS_BEFORE_MONTH = np.array([0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _parse_iso_strings(values: Sequence[str]) -> np.ndarray | None:
    """All-ISO batches without a Python step per string; None when any string needs the slow path.

    The usual batch (every string laid out alike: `YYYY-MM-DDTHH:MM:SS[.f…][Z|±HH:MM]`) is read from its
    bytes by :func:`_parse_iso_uniform`; other ISO batches by one numpy conversion.  The year is checked
    on the strings first, because numpy wraps silently past the int64 ns range; only `YYYY-…` qualifies,
    because numpy would read an epoch number sent as a string ("1764590400") as a year.
    """
    uniform = _parse_iso_uniform(values)
    if uniform is not None:
        return uniform
    if not np.char.endswith(np.array(values, dtype="U5"), "-").all():
        return None
    years = np.array(values, dtype="U4")
    if not np.char.isdigit(years).all():
        return None
    year = years.astype(np.int64)
    if year.max() > _MAX_YEAR or year.min() < _MIN_YEAR:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns on explicit offsets but converts them right
            return np.array(values, dtype="datetime64[ns]").astype(np.int64)
    except ValueError:
        return None


def _iso_template(first: bytes) -> tuple[np.ndarray, int, int] | None:
    """The byte template every string of a uniform batch must follow, read off the first one: each position
    a literal byte or `_DIGIT`; with the fraction's digit count and where the UTC offset's sign is (-1: none)."""
    if len(first) < 19 or first[10:11] not in (b"T", b" "):
        return None
    template = [_DIGIT if c == ord("D") else c for c in _DATE_TIME]
    template[10] = first[10]
    pos, frac = 19, 0
    if first[pos:pos + 1] == b".":
        while pos + 1 + frac < len(first) and first[pos + 1 + frac:pos + 2 + frac].isdigit():
            frac += 1
        if not 1 <= frac <= 9:
            return None
        template += [ord(".")] + [_DIGIT] * frac
        pos += 1 + frac
    tail, sign = first[pos:], -1
    if tail == b"Z":
        template.append(ord("Z"))
    elif len(tail) in (5, 6) and tail[:1] in (b"+", b"-"):
        sign = pos
        template += [ord("+")] + [_DIGIT] * 2 + ([ord(":")] if len(tail) == 6 else []) + [_DIGIT] * 2
    elif tail:
        return None
    return np.array(template, dtype=np.int64), frac, sign


def _parse_iso_uniform(values: Sequence[str]) -> np.ndarray | None:
    """ns since the epoch of strings that all share one layout, computed column-wise from their bytes.

    The strings are joined and viewed as an (n, width) byte matrix; every column is checked against the
    first string's template at once, then the fields are read as digit arithmetic and the date turned
    into days with the civil-calendar formula.  Anything unusual (other layouts, impossible dates, years
    numpy cannot hold) gives None and is left to the general parsers, which word the errors.
    """
    first = values[0]
    width = len(first)
    try:
        joined = "".join(values).encode("ascii")
    except UnicodeEncodeError:
        return None
    if len(joined) != width * len(values) or set(map(len, values)) != {width}:
        return None
    found = _iso_template(joined[:width])
    if found is None:
        return None
    template, frac, sign = found
    m = np.frombuffer(joined, dtype=np.uint8).reshape(len(values), width)
    digit_cols = np.flatnonzero(template == _DIGIT)
    literal_cols = np.flatnonzero((template != _DIGIT) & (np.arange(width) != sign))
    digits = m[:, digit_cols] - np.uint8(ord("0"))  # bytes below "0" wrap round to large values
    if (digits > 9).any() or (m[:, literal_cols] != template[literal_cols].astype(np.uint8)).any():
        return None
    if sign >= 0 and not ((m[:, sign] == ord("+")) | (m[:, sign] == ord("-"))).all():
        return None

    def number(first: int, count: int) -> np.ndarray:  # digits first … first + count - 1 as one int64 each
        return digits[:, first:first + count] @ 10 ** np.arange(count - 1, -1, -1, dtype=np.int64)

    year, month, day, hour, minute, second = (number(i, n) for i, n in ((0, 4), (4, 2), (6, 2), (8, 2), (10, 2),
                                                                        (12, 2)))
    if ((month < 1) | (month > 12) | (year < _MIN_YEAR) | (year > _MAX_YEAR)).any():
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last_day = _DAYS_IN_MONTH[month] - ((month == 2) & ~leap)
    if ((day < 1) | (day > last_day) | (hour > 23) | (minute > 59) | (second > 59)).any():
        return None
    y = year - 1
    days = (y * 365 + y // 4 - y // 100 + y // 400 - 719162  # days from 1970-01-01 to January 1st of `year`
            + _DAYS_BEFORE_MONTH[month] + ((month > 2) & leap) + day - 1)
    ns = (((days * 24 + hour) * 60 + minute) * 60 + second) * NS
    if frac:
        ns += number(14, frac) * 10 ** (9 - frac)
    if sign >= 0:
        off_hours, off_minutes = number(14 + frac, 2), number(16 + frac, 2)
        if ((off_hours > 23) | (off_minutes > 59)).any():
            return None
        ns -= np.where(m[:, sign] == ord("-"), -1, 1) * (off_hours * 60 + off_minutes) * 60 * NS
    return ns


def format_timestamps(timestamps: np.ndarray) -> list[str]:
    """ISO 8601 with an explicit UTC offset, microseconds only when needed (as Python's isoformat).

    Whole seconds (every stored granularity) take a fast path: numpy's per-element date formatting is
    the slowest step of a read, so only the distinct days are formatted and the time of day is looked
    up in a table of the 86,400 possible ``THH:MM:SS+00:00`` suffixes.
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    if not ts.size:
        return []
    if (ts % NS).any():
        text = np.datetime_as_string(ts.astype("datetime64[ns]"), unit="us")
        return [t + "+00:00" for t in text.tolist()]
    days, second_of_day = np.divmod(ts // NS, 86400)
    unique_days, which = np.unique(days, return_inverse=True)
    dates = np.datetime_as_string(unique_days.astype("datetime64[D]"))
    return np.char.add(dates[which], _times_of_day()[second_of_day]).tolist()


@functools.cache
def _times_of_day() -> np.ndarray:
    seconds = np.arange(86400)
    h, m, s = (seconds // 3600).tolist(), (seconds // 60 % 60).tolist(), (seconds % 60).tolist()
    return np.array([f"T{a:02d}:{b:02d}:{c:02d}+00:00" for a, b, c in zip(h, m, s, strict=True)])


def format_timestamp(ns: int) -> str:
    return format_timestamps(np.array([ns], dtype=np.int64))[0]


def format_timespan(ns: int | None) -> str | None:
    """`0:01:00`, `0:00:03.600000`, `1 day, 0:00:00` — Python's timedelta text, which Gnocchi returns."""
    if ns is None:
        return None
    return str(datetime.timedelta(microseconds=ns // 1000))


def to_datetime(ns: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ns // 1000 / 1e6, tz=datetime.UTC)
