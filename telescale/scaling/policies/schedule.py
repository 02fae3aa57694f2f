"""Scheduled capacity: from each cron start, in a time zone, for a duration, the group gets other bounds.

A window opens at each time ``cron`` fires in ``timezone`` and lasts ``duration`` real seconds (so a window
across a DST change lasts what it says, as the alarms' time constraints). While windows are open their
``min_size``/``max_size``/``desired_capacity`` replace the group's: with several open, the widest max, the
highest min and the highest desired win. Everything takes ``now`` as a parameter; the scaler sleeps until
:func:`next_change`.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import croniter

from telescale.scaling.model import Group, ScheduleSpec
from telescale.scaling.policies.bounds import Bounds, group_bounds
from telescale.scaling.policies.errors import PolicyError
from telescale.scaling.policies.fields import number, reject_unknown, require_mapping, whole

_FIELDS = ("cron", "duration", "timezone", "min_size", "max_size", "desired_capacity")
_SIZES = ("min_size", "max_size", "desired_capacity")
_TICK = datetime.timedelta(microseconds=1)


def validate_schedule(spec: Any) -> ScheduleSpec:
    """A :class:`ScheduleSpec` from its JSON form: ``cron`` and ``duration`` (seconds) required, ``timezone``
    (an IANA name, default UTC), and at least one of ``min_size``, ``max_size``, ``desired_capacity``."""
    spec = require_mapping(spec, "scheduled policy")
    reject_unknown(spec, _FIELDS, "scheduled policy")
    cron = spec.get("cron")
    if not isinstance(cron, str) or not croniter.croniter.is_valid(cron.strip()):
        raise PolicyError(f"cron: not a cron expression: {cron!r} (five fields, e.g. '0 8 * * 1-5')")
    timezone = spec.get("timezone") or "UTC"
    if not isinstance(timezone, str):
        raise PolicyError(f"timezone: must be an IANA time zone name such as 'Europe/Paris', got {timezone!r}")
    _zone(timezone)
    if spec.get("duration") is None:
        raise PolicyError("duration: required, the seconds each window lasts")
    duration = number(spec["duration"], "duration")
    if duration <= 0:
        raise PolicyError(f"duration: must be a number of seconds > 0, got {spec['duration']!r}")
    sizes: dict[str, int | None] = {}
    for key in _SIZES:
        value = spec.get(key)
        sizes[key] = None if value is None else whole(value, key)
        if sizes[key] is not None and sizes[key] < 0:  # type: ignore[operator]
            raise PolicyError(f"{key}: must be an integer >= 0, got {value!r}")
    low, high, desired = sizes["min_size"], sizes["max_size"], sizes["desired_capacity"]
    if low is None and high is None and desired is None:
        raise PolicyError("scheduled policy: give at least one of min_size, max_size, desired_capacity")
    if low is not None and high is not None and low > high:
        raise PolicyError(f"min_size {low} is greater than max_size {high}")
    if desired is not None and high is not None and desired > high:
        raise PolicyError(f"desired_capacity {desired} is greater than max_size {high}")
    return ScheduleSpec(cron=cron.strip(), duration=duration, timezone=timezone, min_size=low, max_size=high,
                        desired_capacity=desired)


def schedule_to_dict(spec: ScheduleSpec) -> dict[str, Any]:
    """The JSON form :func:`validate_schedule` reads back."""
    return {"cron": spec.cron, "duration": spec.duration, "timezone": spec.timezone, "min_size": spec.min_size,
            "max_size": spec.max_size, "desired_capacity": spec.desired_capacity}


def active_window(spec: ScheduleSpec, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime] | None:
    """The window containing ``now`` (start ≤ now < end, in UTC), or None. The latest start is enough: windows
    all last as long, so an earlier one that still contains ``now`` is inside the latest one."""
    now = _aware(now)
    start = _latest_start(spec, now)
    end = start + datetime.timedelta(seconds=spec.duration)
    return (start, end) if start <= now < end else None


def next_change(spec: ScheduleSpec, now: datetime.datetime) -> datetime.datetime:
    """When the bounds this schedule sets next change: the end of the open window, or the next start,
    whichever comes first (UTC)."""
    now = _aware(now)
    upcoming = _at(spec, now).get_next(datetime.datetime).astimezone(datetime.UTC)
    window = active_window(spec, now)
    return min(upcoming, window[1]) if window else upcoming


def effective_bounds(group: Group, schedules: Sequence[ScheduleSpec], now: datetime.datetime) -> Bounds:
    """The bounds at ``now``: the open windows' sizes where they set one (the highest min, the widest max,
    the highest desired), the group's own otherwise."""
    now = _aware(now)
    active = [(spec, window) for spec in schedules if (window := active_window(spec, now)) is not None]
    if not active:
        return group_bounds(group)
    mins = [s.min_size for s, _ in active if s.min_size is not None]
    maxes = [s.max_size for s, _ in active if s.max_size is not None]
    floors = [s.desired_capacity for s, _ in active if s.desired_capacity is not None]
    low = max(mins) if mins else group.min_size
    high = max(maxes) if maxes else group.max_size
    notes = []
    if low > high:
        notes.append(f"max_size raised to {low} to fit min_size {low}")
        high = low
    floor = max(floors) if floors else None
    if floor is not None and floor > high:
        notes.append(f"desired {floor} held at max_size {high}")
        floor = high
    names = "; ".join(f"schedule '{s.cron}' ({s.timezone}) open {_hm(w[0], s)}–{_hm(w[1], s)}" for s, w in active)
    sets = f"min_size {low}{'' if mins else ' (group)'}, max_size {high}{'' if maxes else ' (group)'}"
    if floor is not None:
        sets += f", desired ≥ {floor}"
    reason = f"{names}: {sets}" + (f" ({'; '.join(notes)})" if notes else "")
    return Bounds(low, high, floor, reason)


def _latest_start(spec: ScheduleSpec, now: datetime.datetime) -> datetime.datetime:
    """The latest cron start ≤ ``now``. croniter's ``get_prev`` is strict (a start exactly at ``now`` would be
    skipped), so ask from one microsecond later."""
    start = _at(spec, now + _TICK).get_prev(datetime.datetime).astimezone(datetime.UTC)
    if start > now:  # cannot happen with whole-second starts; kept so the contract holds whatever croniter does
        start = _at(spec, now).get_prev(datetime.datetime).astimezone(datetime.UTC)
    return start


def _at(spec: ScheduleSpec, now: datetime.datetime) -> croniter.croniter:
    try:
        return croniter.croniter(spec.cron, now.astimezone(_zone(spec.timezone)))
    except (croniter.CroniterError, ValueError, TypeError, KeyError) as e:
        raise PolicyError(f"cron: not a cron expression: {spec.cron!r} ({e})") from None


def _aware(now: datetime.datetime) -> datetime.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise PolicyError(f"now must be an aware datetime (with a time zone), got {now!r}")
    return now.astimezone(datetime.UTC)


def _hm(when: datetime.datetime, spec: ScheduleSpec) -> str:
    return when.astimezone(_zone(spec.timezone)).strftime("%Y-%m-%d %H:%M")


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> datetime.tzinfo:
    if name in ("UTC", "utc", "Z"):
        return datetime.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"timezone: unknown time zone {name!r} (an IANA name such as 'Europe/Paris')") from None
