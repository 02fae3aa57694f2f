"""The decision gates: each alone, their order, HPA's windows and rate limits, dry run, and invariants."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.scaling.model import Action, Behavior, DirectionBehavior, Group, RateLimit, Recommendation
from telescale.scaling.policies import Bounds, Past, decide

T0 = datetime.datetime(2024, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
FREE = Behavior(DirectionBehavior(0.0, ()), DirectionBehavior(0.0, ()))  # no window, no limit


def ago(seconds: float) -> datetime.datetime:
    return T0 - datetime.timedelta(seconds=seconds)


def group(desired: int = 3, **changes: object) -> Group:
    g = Group(id=uuid.uuid4(), name="web", project_id=None, user_id=None, min_size=1, max_size=10,
              desired_capacity=desired, current_size=desired, cooldown=60.0, member_driver={"type": "process"},
              behavior=FREE)
    return dataclasses.replace(g, **changes)  # type: ignore[arg-type]


def rec(desired: int, bypass: bool = False) -> Recommendation:
    return Recommendation(desired=desired, source="signal", rule=f"exact_capacity {desired}", bypass_cooldown=bypass)


NO_PAST = Past()


def test_scales_out_and_in() -> None:
    v = decide(group(3), rec(5), NO_PAST, T0)
    assert (v.outcome, v.desired, v.blocked_by) == ("scale_out", 5, None)
    assert v.reason == "scale out from 3 to 5: recommended 5 (exact_capacity 5)"
    v = decide(group(3), rec(2), NO_PAST, T0)
    assert (v.outcome, v.desired, v.blocked_by) == ("scale_in", 2, None)


def test_paused() -> None:
    v = decide(group(3, paused=True), rec(5), NO_PAST, T0)
    assert (v.outcome, v.desired, v.blocked_by) == ("none", 3, "paused")
    assert v.reason.startswith("paused: the group is paused") and "recommended 5" in v.reason


def test_in_flight() -> None:
    action = Action(id=uuid.uuid4(), decision_id=uuid.uuid4(), desired=4, previous=3, reason="", started_at=ago(5))
    v = decide(group(3, action=action), rec(6), NO_PAST, T0)
    assert (v.outcome, v.desired, v.blocked_by) == ("none", 3, "in_flight")
    assert "an action is in flight (3 → 4 since 11:59:55 UTC)" in v.reason


def test_at_limit_both_ends() -> None:
    v = decide(group(10), rec(12), NO_PAST, T0)
    assert (v.outcome, v.blocked_by) == ("none", "at_limit")
    assert v.reason.startswith("at_limit: already at max_size 10")
    v = decide(group(1), rec(0), NO_PAST, T0)
    assert v.blocked_by == "at_limit" and "already at min_size 1" in v.reason


def test_scheduled_floor_holds_a_scale_in() -> None:
    bounds = Bounds(2, 10, 6, "schedule '0 8 * * *' (UTC) open")
    v = decide(group(6), rec(4), NO_PAST, T0, bounds)
    assert v.blocked_by == "at_limit" and "held at the scheduled desired capacity 6" in v.reason
    v = decide(group(8), rec(4), NO_PAST, T0, bounds)
    assert (v.outcome, v.desired) == ("scale_in", 6)
    assert "raised to the scheduled desired capacity 6" in v.reason
    v = decide(group(10), rec(12), NO_PAST, T0, bounds)
    assert v.reason.startswith("at_limit: already at max_size 10 (schedule '0 8 * * *' (UTC) open)")


def test_clamped_recommendation_still_scales() -> None:
    v = decide(group(3), rec(15), NO_PAST, T0)
    assert (v.outcome, v.desired) == ("scale_out", 10)
    assert "held at max_size 10" in v.reason


def test_bounds_move_the_group_when_the_recommendation_does_not() -> None:
    v = decide(group(3), rec(3), NO_PAST, T0, Bounds(5, 10, None, "schedule"))
    assert (v.outcome, v.desired) == ("scale_out", 5) and "raised to min_size 5" in v.reason
    v = decide(group(8), rec(9), NO_PAST, T0, Bounds(1, 5, None, "schedule"))
    assert (v.outcome, v.desired) == ("scale_in", 5)  # above a lowered max: the bounds win


def test_no_change() -> None:
    v = decide(group(3), rec(3), NO_PAST, T0)
    assert (v.outcome, v.desired, v.blocked_by) == ("none", 3, "no_change")
    # during a cooldown too: the policy asked for nothing, so the log does not blame the cooldown
    v = decide(group(3, cooldown_end=T0 + datetime.timedelta(seconds=30)), rec(3), NO_PAST, T0)
    assert v.blocked_by == "no_change"


def test_cooldown_names_the_times() -> None:
    g = group(5, cooldown_end=T0 + datetime.timedelta(seconds=41))
    v = decide(g, rec(7), Past(changes=[(ago(19), 3, 5)]), T0)
    assert (v.outcome, v.desired, v.blocked_by) == ("none", 5, "cooldown")
    assert v.reason == ("cooldown: the last change (3 → 5) was at 11:59:41 UTC, next allowed at 12:00:41 UTC "
                        "(in 41 s); recommended 7 (exact_capacity 7)")
    assert "next change allowed at 12:00:41 UTC (in 41 s)" in decide(g, rec(7), NO_PAST, T0).reason
    # group-wide: a scale-out's cooldown holds a scale-in as well
    assert decide(g, rec(2), NO_PAST, T0).blocked_by == "cooldown"


def test_cooldown_over_or_bypassed() -> None:
    assert decide(group(5, cooldown_end=ago(1)), rec(7), NO_PAST, T0).outcome == "scale_out"
    assert decide(group(5, cooldown_end=T0), rec(7), NO_PAST, T0).outcome == "scale_out"  # ends at now
    g = group(5, cooldown_end=T0 + datetime.timedelta(seconds=41))
    assert decide(g, rec(7, bypass=True), NO_PAST, T0).outcome == "scale_out"


def _down_window(seconds: float) -> Behavior:
    return Behavior(DirectionBehavior(0.0, ()), DirectionBehavior(seconds, ()))


def test_scale_down_window_holds_at_the_highest() -> None:
    g = group(6, behavior=_down_window(300))
    past = Past(recommendations=[(ago(200), 6), (ago(100), 4)])
    v = decide(g, rec(3), past, T0)
    assert (v.outcome, v.desired, v.blocked_by) == ("none", 6, "stabilization")
    assert ("scale-down stabilisation window 300 s: the highest recommendation in it, 6 at 11:56:40 UTC, "
            "holds the group at 6") in v.reason


def test_scale_down_window_partial_and_expired() -> None:
    g = group(6, behavior=_down_window(300))
    v = decide(g, rec(3), Past(recommendations=[(ago(200), 5), (ago(100), 4)]), T0)
    assert (v.outcome, v.desired) == ("scale_in", 5) and "limits the change to 5" in v.reason
    v = decide(g, rec(3), Past(recommendations=[(ago(400), 9), (ago(300), 9)]), T0)  # both out of the window
    assert (v.outcome, v.desired) == ("scale_in", 3)


def test_scale_up_window_holds_at_the_lowest() -> None:
    g = group(3, behavior=Behavior(DirectionBehavior(60.0, ()), DirectionBehavior(0.0, ())))
    v = decide(g, rec(6), Past(recommendations=[(ago(30), 3), (ago(15), 5)]), T0)
    assert v.blocked_by == "stabilization" and "lowest recommendation in it, 3 at 11:59:30 UTC" in v.reason
    v = decide(g, rec(6), Past(recommendations=[(ago(30), 4), (ago(15), 5)]), T0)
    assert (v.outcome, v.desired) == ("scale_out", 4)


def test_stabilisation_bypassed_for_schedules() -> None:
    g = group(6, behavior=_down_window(300))
    v = decide(g, rec(3, bypass=True), Past(recommendations=[(ago(10), 6)]), T0)
    assert (v.outcome, v.desired) == ("scale_in", 3)


def test_hpa_scale_down_sequence() -> None:
    """A recommendation every 15 s, a 60 s scale-down window: the group follows the highest of the last 60 s."""
    g = group(10, behavior=_down_window(60))
    history: list[tuple[datetime.datetime, int]] = []
    sizes = []
    for i, recommended in enumerate([10, 8, 6, 4, 4, 4, 4, 4]):
        now = T0 + datetime.timedelta(seconds=15 * i)
        v = decide(g, rec(recommended), Past(recommendations=list(history)), now)
        history.append((now, recommended))
        g = dataclasses.replace(g, desired_capacity=v.desired)
        sizes.append(v.desired)
    assert sizes == [10, 10, 10, 10, 8, 6, 4, 4]


def _up_limits(*limits: RateLimit, select: str = "max") -> Behavior:
    return Behavior(DirectionBehavior(0.0, limits, select), DirectionBehavior(0.0, ()))


def _down_limits(*limits: RateLimit, select: str = "max") -> Behavior:
    return Behavior(DirectionBehavior(0.0, ()), DirectionBehavior(0.0, limits, select))


PCT_UP = RateLimit("percent", 100, 15)
FOUR = RateLimit("members", 4, 15)


def test_rate_limit_percent_up() -> None:
    v = decide(group(2, behavior=_up_limits(PCT_UP)), rec(10), NO_PAST, T0)
    assert (v.outcome, v.desired) == ("scale_out", 4)
    assert "scale-up limited by 100% per 15 s (select max), from 2 15 s ago to 4" in v.reason


def test_rate_limit_select_max_and_min() -> None:
    assert decide(group(2, behavior=_up_limits(PCT_UP, FOUR)), rec(10), NO_PAST, T0).desired == 6  # 2 + 4
    assert decide(group(2, behavior=_up_limits(PCT_UP, FOUR, select="min")), rec(10), NO_PAST, T0).desired == 4
    big = group(8, max_size=20, behavior=_up_limits(PCT_UP, FOUR))
    assert decide(big, rec(30), NO_PAST, T0).desired == 16  # 100 % of 8 allows more than 4 members


def test_rate_limit_counts_changes_within_the_period() -> None:
    g = group(4, behavior=_up_limits(PCT_UP))
    v = decide(g, rec(10), Past(changes=[(ago(10), 2, 4)]), T0)
    assert (v.outcome, v.desired, v.blocked_by) == ("none", 4, "rate_limit")
    assert "from 2 15 s ago: 4 already reached" in v.reason
    assert decide(g, rec(10), Past(changes=[(ago(20), 2, 4)]), T0).desired == 8  # that change is older


def test_rate_limit_down_both_kinds_both_selects() -> None:
    half = RateLimit("percent", 50, 60)
    two = RateLimit("members", 2, 60)
    assert decide(group(10, behavior=_down_limits(half)), rec(1), NO_PAST, T0).desired == 5
    assert decide(group(10, behavior=_down_limits(two)), rec(1), NO_PAST, T0).desired == 8
    assert decide(group(10, behavior=_down_limits(half, two)), rec(1), NO_PAST, T0).desired == 5  # most permissive
    assert decide(group(10, behavior=_down_limits(half, two, select="min")), rec(1), NO_PAST, T0).desired == 8
    assert decide(group(3, behavior=_down_limits(half)), rec(1), NO_PAST, T0).desired == 1  # floor(1.5) = 1
    v = decide(group(8, behavior=_down_limits(two)), rec(1), Past(changes=[(ago(30), 10, 8)]), T0)
    assert v.blocked_by == "rate_limit"


def test_rate_limit_disabled_direction() -> None:
    behavior = Behavior(DirectionBehavior(0.0, (PCT_UP,), "disabled"), DirectionBehavior(0.0, ()))
    v = decide(group(3, behavior=behavior), rec(5), NO_PAST, T0)
    assert (v.blocked_by, v.desired) == ("rate_limit", 3) and "scale-up is disabled" in v.reason
    assert decide(group(3, behavior=behavior), rec(2), NO_PAST, T0).outcome == "scale_in"


def test_rate_limits_apply_to_schedules() -> None:
    v = decide(group(2, behavior=_up_limits(PCT_UP)), rec(10, bypass=True), NO_PAST, T0)
    assert v.desired == 4


def test_percent_alone_cannot_grow_an_empty_group() -> None:
    # as HPA: 100 % of 0 is 0; the default behaviour's 4-member limit is what lets a group leave zero
    g = group(0, min_size=0, behavior=_up_limits(PCT_UP))
    assert decide(g, rec(3), NO_PAST, T0).blocked_by == "rate_limit"
    assert decide(dataclasses.replace(g, behavior=Behavior()), rec(3), NO_PAST, T0).desired == 3


def test_dry_run() -> None:
    v = decide(group(3, dry_run=True), rec(5), NO_PAST, T0)
    assert (v.outcome, v.desired, v.blocked_by) == ("dry_run", 5, None)
    assert v.reason == "dry run, would scale out from 3 to 5: recommended 5 (exact_capacity 5)"
    g = group(3, dry_run=True, cooldown_end=T0 + datetime.timedelta(seconds=5))
    assert decide(g, rec(5), NO_PAST, T0).blocked_by == "cooldown"  # the gates still say what would hold it


def test_order_of_the_gates() -> None:
    action = Action(id=uuid.uuid4(), decision_id=uuid.uuid4(), desired=4, previous=3, reason="", started_at=ago(5))
    behavior = Behavior(DirectionBehavior(60.0, (PCT_UP,)), DirectionBehavior(0.0, ()))
    everything = group(4, paused=True, action=action, cooldown_end=T0 + datetime.timedelta(seconds=5),
                       behavior=behavior)
    past = Past(recommendations=[(ago(30), 4)], changes=[(ago(5), 2, 4)])
    expected = [("paused", {"paused": False}), ("in_flight", {"action": None}), ("cooldown", {"cooldown_end": None}),
                ("stabilization", {"behavior": Behavior(DirectionBehavior(0.0, (PCT_UP,)), behavior.scale_down)}),
                ("rate_limit", {"behavior": FREE})]
    g = everything
    for blocker, release in expected:
        assert decide(g, rec(8), past, T0).blocked_by == blocker
        g = dataclasses.replace(g, **release)  # type: ignore[arg-type]
    assert decide(g, rec(8), past, T0).outcome == "scale_out"


# -- invariants --------------------------------------------------------------------------------------------------

limits = st.lists(st.builds(RateLimit, st.sampled_from(["members", "percent"]), st.integers(1, 300).map(float),
                            st.integers(1, 120).map(float)), max_size=3)
directions = st.builds(DirectionBehavior, st.integers(0, 600).map(float), limits.map(tuple),
                       st.sampled_from(["max", "min", "disabled"]))


@settings(max_examples=400, deadline=None)
@given(low=st.integers(0, 10), span=st.integers(0, 20), offset=st.integers(-5, 25),
       floor=st.none() | st.integers(0, 30),
       recommended=st.integers(0, 50), bypass=st.booleans(), up=directions, down=directions,
       dry=st.booleans(), cooling=st.booleans(),
       recs=st.lists(st.tuples(st.integers(0, 700), st.integers(0, 50)), max_size=6),
       moves=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 30), st.integers(0, 30)), max_size=4))
def test_invariants(low: int, span: int, offset: int, floor: int | None, recommended: int, bypass: bool,
                    up: DirectionBehavior, down: DirectionBehavior, dry: bool, cooling: bool,
                    recs: list[tuple[int, int]], moves: list[tuple[int, int, int]]) -> None:
    high = low + span
    current = max(0, low + offset)
    bounds = Bounds(low, high, floor, "test")
    g = group(current, min_size=low, max_size=high, behavior=Behavior(up, down), dry_run=dry,
              cooldown_end=T0 + datetime.timedelta(seconds=30) if cooling else None)
    past = Past(recommendations=sorted((ago(s), r) for s, r in recs),
                changes=sorted((ago(s), b, a) for s, b, a in moves))
    v = decide(g, rec(recommended, bypass), past, T0, bounds)
    assert (v.outcome == "none") == (v.blocked_by is not None)
    if v.outcome == "none":
        assert v.desired == current
    else:
        assert v.desired != current
        assert v.outcome == ("dry_run" if dry else "scale_out" if v.desired > current else "scale_in")
    lowest = min(max(low, floor if floor is not None else low), high)
    if lowest <= current <= high:
        assert lowest <= v.desired <= high
        # never opposite to the recommendation
        assert (v.desired - current) * (recommended - current) >= 0
        assert abs(v.desired - current) <= abs(recommended - current)
    else:
        # outside the bounds: the decision only moves toward them
        target = bounds.clamp(recommended)
        assert min(current, target) <= v.desired <= max(current, target)
