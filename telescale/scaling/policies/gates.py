"""The decision: from what a policy recommends to what happens, and why, in a sentence a person reads.

The gates run in a fixed order and the first that stops the change names itself in ``blocked_by`` (one of
:data:`telescale.scaling.model.BLOCKERS`):

1. ``paused``; 2. ``in_flight`` (one action at a time per group);
3. the bounds (the group's, or a schedule's with its desired floor): a recommendation that the bounds bring
   back to the current capacity is ``at_limit``; one that equals the current capacity is ``no_change`` here
   already, so the log says the policy asked for nothing rather than naming a cooldown that held nothing back;
4. ``cooldown`` (group-wide, as Heat: a scale-out also delays the next scale-in);
5. ``stabilization`` (HPA): a scale-up goes no higher than the lowest recommendation of the last
   ``scale_up.stabilization`` seconds, this one included; a scale-down no lower than the highest of the last
   ``scale_down.stabilization`` seconds;
6. ``rate_limit`` (HPA): each limit allows a change relative to the desired capacity ``period`` seconds ago
   (the current one minus the changes since); ``select`` ``max`` takes the most permissive, ``min`` the least,
   ``disabled`` forbids the direction. A limit that allows part of the change still scales, and says so;
7. ``no_change`` needs no gate of its own here: a recommendation equal to the current capacity stops at 3, and
   the gates 5 and 6 name themselves when they hold the whole change back;
8. a dry-run group gets ``dry_run`` with what it would set.

Cooldown and stabilisation are skipped for ``Recommendation.bypass_cooldown`` (scheduled capacity); rate limits
never are. When the current capacity is outside the bounds (a schedule just lowered the maximum), the bounds
win even against the recommendation's direction. Pure: ``now`` and the history are parameters.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from telescale.scaling.model import DirectionBehavior, Group, RateLimit, Recommendation
from telescale.scaling.policies.bounds import Bounds, group_bounds


@dataclass(frozen=True)
class Verdict:
    """What the decision does: ``outcome`` is ``scale_out``, ``scale_in``, ``none`` or ``dry_run``;
    ``desired`` the capacity to set (the current one for ``none``); ``blocked_by`` says what stopped it."""

    outcome: str
    desired: int
    blocked_by: str | None
    reason: str


@dataclass(frozen=True)
class Past:
    """The group's recent history: ``recommendations`` as (when, recommended), newest last, and the actual
    ``changes`` of its desired capacity as (when, before, after)."""

    recommendations: Sequence[tuple[datetime.datetime, int]] = field(default_factory=tuple)
    changes: Sequence[tuple[datetime.datetime, int, int]] = field(default_factory=tuple)


def decide(group: Group, rec: Recommendation, past: Past, now: datetime.datetime,
           bounds: Bounds | None = None) -> Verdict:
    """Run the gates over one recommendation for ``group`` at ``now``."""
    current = group.desired_capacity
    bounds = group_bounds(group) if bounds is None else bounds
    asked = f"recommended {rec.desired}" + (f" ({rec.rule})" if rec.rule else "")

    def blocked(blocker: str, why: str) -> Verdict:
        return Verdict("none", current, blocker, f"{blocker}: {why}; {asked}")

    if group.paused:
        return blocked("paused", "the group is paused, resume it to act")
    if group.action is not None:
        a = group.action
        return blocked("in_flight", f"an action is in flight ({a.previous} → {a.desired} since "
                                    f"{_clock(a.started_at, now)}), one at a time")
    target = bounds.clamp(rec.desired)
    if target == current:
        if rec.desired == current:
            return blocked("no_change", f"the desired capacity is already {current}")
        return blocked("at_limit", _at_limit(rec.desired, current, bounds))
    notes = [_clamp_note(rec.desired, target, bounds)] if target != rec.desired else []
    up = target > current
    direction = group.behavior.scale_up if up else group.behavior.scale_down
    if not rec.bypass_cooldown:
        if group.cooldown_end is not None and group.cooldown_end > now:
            return blocked("cooldown", _cooldown(group.cooldown_end, past, now))
        stabilized, why = _stabilize(direction, up, rec, past, now, bounds, current, target)
        if stabilized == current:
            return blocked("stabilization", why)
        if stabilized != target:
            target = stabilized
            notes.append(why)
    limited, why = _rate_limit(direction, up, past, now, current, target)
    if limited == current:
        return blocked("rate_limit", why)
    if limited != target:
        target = limited
        notes.append(why)
    verb = "scale out" if target > current else "scale in"
    said = f"{verb} from {current} to {target}: {asked}" + "".join(f"; {n}" for n in notes)
    if group.dry_run:
        return Verdict("dry_run", target, None, f"dry run, would {said}")
    return Verdict("scale_out" if target > current else "scale_in", target, None, said)


def _at_limit(recommended: int, current: int, bounds: Bounds) -> str:
    scheduled = "" if bounds.reason.startswith("group bounds") else f" ({bounds.reason})"
    if recommended > current:
        return f"already at max_size {bounds.max_size}{scheduled}"
    if bounds.floor_desired is not None and current == min(bounds.floor_desired, bounds.max_size) \
            and current > bounds.min_size:
        return f"held at the scheduled desired capacity {current}{scheduled}"
    return f"already at min_size {bounds.min_size}{scheduled}"


def _clamp_note(recommended: int, target: int, bounds: Bounds) -> str:
    if target < recommended:
        return f"held at max_size {bounds.max_size}"
    if target == bounds.min_size:
        return f"raised to min_size {bounds.min_size}"
    return f"raised to the scheduled desired capacity {target}"


def _cooldown(end: datetime.datetime, past: Past, now: datetime.datetime) -> str:
    wait = math.ceil((end - now).total_seconds())
    if past.changes:
        when, before, after = max(past.changes, key=lambda c: c[0])
        return (f"the last change ({before} → {after}) was at {_clock(when, now)}, "
                f"next allowed at {_clock(end, now)} (in {wait} s)")
    return f"next change allowed at {_clock(end, now)} (in {wait} s)"


def _stabilize(direction: DirectionBehavior, up: bool, rec: Recommendation, past: Past, now: datetime.datetime,
               bounds: Bounds, current: int, target: int) -> tuple[int, str]:
    """HPA's stabilisation: the lowest (up) or highest (down) recommendation within the window, this one
    included; returns the capacity it allows (``current`` when it holds the change back entirely)."""
    window = direction.stabilization
    cutoff = now - datetime.timedelta(seconds=window)
    recent = [(when, r) for when, r in past.recommendations if cutoff < when <= now] + [(now, rec.desired)]
    # the extreme value; among equals the newest, the one a person would look for in the log
    when, held = min(recent, key=lambda wr: ((wr[1] if up else -wr[1]), -wr[0].timestamp()))
    value = min(bounds.clamp(held), target) if up else max(bounds.clamp(held), target)
    source = (f"{'scale-up' if up else 'scale-down'} stabilisation window {window:g} s: the "
              f"{'lowest' if up else 'highest'} recommendation in it, {held} at {_clock(when, now)}")
    if (up and value <= current) or (not up and value >= current):
        return current, f"{source}, holds the group at {current}"
    return value, f"{source}, limits the change to {value}"


def _rate_limit(direction: DirectionBehavior, up: bool, past: Past, now: datetime.datetime, current: int,
                target: int) -> tuple[int, str]:
    """HPA's rate limits of the direction; returns the capacity allowed (between current and target)."""
    name = "scale-up" if up else "scale-down"
    if direction.select == "disabled":
        return current, f"{name} is disabled (select: disabled)"
    if not direction.limits:
        return target, ""
    allowed = [(*_allowed(lim, up, past, now, current), lim) for lim in direction.limits]
    # "max" selects the limit allowing the biggest change: the highest capacity up, the lowest down
    most = (up and direction.select == "max") or (not up and direction.select == "min")
    capacity, base, limit = (max if most else min)(allowed, key=lambda item: item[0])
    cap = max(capacity, current) if up else min(capacity, current)
    if (up and target <= cap) or (not up and target >= cap):
        return target, ""
    what = f"{_describe(limit)} (select {direction.select}), from {base} {limit.period:g} s ago"
    if cap == current:
        return current, f"{name} rate limit {what}: {current} already reached"
    return cap, f"{name} limited by {what} to {cap}"


def _allowed(limit: RateLimit, up: bool, past: Past, now: datetime.datetime, current: int) -> tuple[int, int]:
    """(the capacity this limit allows, the desired capacity ``period`` seconds ago it is relative to)."""
    start = now - datetime.timedelta(seconds=limit.period)
    base = current - sum(after - before for when, before, after in past.changes if start < when <= now)
    base = max(base, 0)
    if limit.kind == "members":
        allowed = base + int(limit.value) if up else base - int(limit.value)
    elif up:
        allowed = math.ceil(round(base * (1 + limit.value / 100), 9))
    else:
        allowed = math.floor(round(base * (1 - limit.value / 100), 9))
    return max(allowed, 0), base


def _describe(limit: RateLimit) -> str:
    if limit.kind == "percent":
        return f"{limit.value:g}% per {limit.period:g} s"
    return f"{int(limit.value)} member{'s' if limit.value != 1 else ''} per {limit.period:g} s"


def _clock(when: datetime.datetime, now: datetime.datetime) -> str:
    """12:01:03 UTC, with the date when it is not today's."""
    when, now = when.astimezone(datetime.UTC), now.astimezone(datetime.UTC)
    return when.strftime("%H:%M:%S UTC" if when.date() == now.date() else "%Y-%m-%d %H:%M:%S UTC")
