"""Query-string values: booleans, timestamps and timespans, with Gnocchi's 400 wording."""

from __future__ import annotations

from telescale.api.errors import argument_error, bad_request
from telescale.timeseries import CALENDAR_UNITS
from telescale.timeutil import TimeParseError, TimestampOutOfRange, parse_timespan, parse_timestamp

_TRUE = ("true", "1", "yes", "y", "on", "t")
_FALSE = ("false", "0", "no", "n", "off", "f")


def parse_bool(value: str | bool | None, name: str, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argument_error(f"Unrecognized value '{value}', acceptable values are 'true' or 'false'", name)


def timestamp_arg(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except TimestampOutOfRange as e:
        raise argument_error(str(e), name) from None
    except TimeParseError:
        raise argument_error("Must be a datetime or a timestamp", name) from None


def timespan_arg(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_timespan(value)
    except TimeParseError:
        raise argument_error("Unable to parse timespan", name) from None


def resample_args(value: str | None, granularity: int | None) -> tuple[int | None, str | None]:
    """`resample=` as (duration ns, None) or (None, calendar unit Y/H/Q/M/W); it needs a granularity."""
    if not value:
        return None, None
    if granularity is None:
        raise bad_request("A granularity must be specified to resample")
    if value in CALENDAR_UNITS:
        return None, value
    return timespan_arg(value, "resample"), None
