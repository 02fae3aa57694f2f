"""The behaviour JSON: HPA's defaults for what is left out, HPA's bounds, and the round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.scaling.model import Behavior, DirectionBehavior, RateLimit
from telescale.scaling.policies import PolicyError, behavior_to_dict, default_behavior, validate_behavior


def test_defaults_are_hpas() -> None:
    b = default_behavior()
    assert b.scale_up == DirectionBehavior(0.0, (RateLimit("percent", 100, 15), RateLimit("members", 4, 15)), "max")
    assert b.scale_down == DirectionBehavior(300.0, (RateLimit("percent", 100, 15),), "max")
    assert validate_behavior(None) == b
    assert validate_behavior({}) == b


def test_missing_parts_take_defaults() -> None:
    b = validate_behavior({"scale_up": {"stabilization": 30}, "scale_down": {"select": "disabled"}})
    assert b.scale_up.stabilization == 30 and b.scale_up.limits == default_behavior().scale_up.limits
    assert b.scale_down == DirectionBehavior(300.0, default_behavior().scale_down.limits, "disabled")


def test_the_documented_example() -> None:
    b = validate_behavior({"scale_up": {"stabilization": 0, "limits": [{"kind": "percent", "value": 100,
                                                                          "period": 15}], "select": "max"},
                           "scale_down": {"stabilization": 120, "limits": [{"kind": "members", "value": 1,
                                                                             "period": 60}], "select": "min"}})
    assert b == Behavior(DirectionBehavior(0.0, (RateLimit("percent", 100.0, 15.0),), "max"),
                         DirectionBehavior(120.0, (RateLimit("members", 1.0, 60.0),), "min"))


def test_empty_limits_mean_no_limit() -> None:
    assert validate_behavior({"scale_up": {"limits": []}}).scale_up.limits == ()


@pytest.mark.parametrize(("body", "message"), [
    ([], "behavior: must be a JSON object"),
    ({"scaleUp": {}}, "behavior: unknown field(s) scaleUp"),
    ({"scale_up": {"stabilization": 3601}}, "behavior.scale_up.stabilization: must be seconds in [0, 3600]"),
    ({"scale_down": {"stabilization": -1}}, "behavior.scale_down.stabilization: must be seconds in [0, 3600]"),
    ({"scale_up": {"select": "Max"}}, "behavior.scale_up.select: must be one of max, min, disabled"),
    ({"scale_up": {"limits": {"kind": "percent"}}}, "behavior.scale_up.limits: must be a list"),
    ({"scale_up": {"limits": [{"kind": "pods", "value": 4, "period": 15}]}},
     "behavior.scale_up.limits[0].kind: must be one of members, percent"),
    ({"scale_up": {"limits": [{"kind": "members", "value": 0, "period": 15}]}},
     "behavior.scale_up.limits[0].value: must be > 0"),
    ({"scale_up": {"limits": [{"kind": "members", "value": 1.5, "period": 15}]}}, "must be a whole number"),
    ({"scale_up": {"limits": [{"kind": "members", "value": 1, "period": 1801}]}},
     "behavior.scale_up.limits[0].period: must be seconds in [1, 1800]"),
    ({"scale_up": {"limits": [{"kind": "members", "value": 1}]}}, "value and period are required"),
    ({"scale_up": {"window": 5}}, "behavior.scale_up: unknown field(s) window"),
])
def test_errors(body: object, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        validate_behavior(body)
    assert message in str(caught.value)


limits = st.lists(st.builds(RateLimit, st.sampled_from(["members", "percent"]), st.integers(1, 500).map(float),
                            st.integers(1, 1800).map(float)), max_size=3).map(tuple)
directions = st.builds(DirectionBehavior, st.integers(0, 3600).map(float), limits,
                       st.sampled_from(["max", "min", "disabled"]))


@settings(max_examples=100, deadline=None)
@given(up=directions, down=directions)
def test_round_trip(up: DirectionBehavior, down: DirectionBehavior) -> None:
    b = Behavior(up, down)
    assert validate_behavior(behavior_to_dict(b)) == b
