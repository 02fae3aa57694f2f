"""Aodh's time constraints: an alarm is evaluated only inside one of its windows.

A window opens at each time its ``start`` cron expression fires, in its ``timezone`` (an IANA name;
empty = UTC), and lasts ``duration`` seconds. No constraints means always. Outside every window the
alarm is not evaluated at all, so its state stays as it is.

As Aodh, a start counts to the minute: a time less than a minute before a start is already inside
(cron has minute precision, and Aodh's exact-match check reads it that way). Unlike Aodh, which adds
``duration`` to a wall-clock time, the duration is real elapsed seconds, so a window across a DST
change lasts what it says; a start in the hour skipped by DST opens when the clock jumps (croniter's
reading), and one in the hour repeated fires in both.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import croniter

from telescale.alarming.rules.decision import RuleError
from telescale.timeutil import to_datetime

#: Aodh's minute precision around a start.
_EXACT = datetime.timedelta(seconds=60)


def within_time_constraints(constraints: Iterable[Mapping[str, Any]] | None, now: int | datetime.datetime) -> bool:
    """Whether ``now`` (int ns since the epoch, or an aware datetime) is inside at least one window."""
    constraints = list(constraints or ())
    if not constraints:
        return True
    now_utc = to_datetime(now) if isinstance(now, int) else now.astimezone(datetime.UTC)
    return any(in_window(tc, now_utc) for tc in constraints)


def in_window(constraint: Mapping[str, Any], now: datetime.datetime) -> bool:
    """Whether the aware time ``now`` is inside the window of one constraint."""
    start, duration = constraint.get("start"), constraint.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
        raise RuleError(f"time_constraints.duration: must be a number of seconds ≥ 0, got {duration!r}")
    local = now.astimezone(_zone(constraint.get("timezone") or ""))
    try:
        upcoming = croniter.croniter(start, local)
        upcoming.get_prev()
        following = upcoming.get_next(datetime.datetime)
        latest = croniter.croniter(start, local).get_prev(datetime.datetime)
    except (croniter.CroniterError, ValueError, TypeError, KeyError) as e:
        raise RuleError(f"time_constraints.start: not a cron expression: {start!r} ({e})") from None
    if abs(now - following.astimezone(datetime.UTC)) < _EXACT:
        return True
    opened = latest.astimezone(datetime.UTC)
    return opened <= now <= opened + datetime.timedelta(seconds=duration)


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> datetime.tzinfo:
    if not name:
        return datetime.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(f"time_constraints.timezone: unknown time zone {name!r}") from None
