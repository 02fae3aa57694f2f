"""HPA target tracking: ceil(current × value / target), a tolerance band, and an empty group."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.scaling.model import TargetSpec
from telescale.scaling.policies import PolicyError, metric_label, target_capacity, target_to_dict, validate_target

CPU = TargetSpec(operations="(aggregate mean (metric cpu mean))", target=50.0)


@pytest.mark.parametrize(("current", "value", "expected"), [
    (3, 84.0, 6),  # 3 × 1.68 = 5.04 → 6
    (3, 100.0, 6),
    (4, 20.0, 2),  # 4 × 0.4 = 1.6 → 2
    (4, 0.0, 0),  # no load at all
    (3, 54.0, 3),  # ratio 1.08: inside the 10 % band
    (3, 46.0, 3),  # ratio 0.92: inside
    (3, 55.0, 3),  # ratio 1.1: the band's edge is inside, as HPA
    (3, 56.0, 4),  # ratio 1.12: outside, 3.36 → 4
    (10, 40.0, 8),
    (0, 120.0, 3),  # no members but load: counted as one, 2.4 → 3
    (0, 50.0, 1),  # … inside the band: that one member
    (0, 0.0, 0),
])
def test_capacity(current: int, value: float, expected: int) -> None:
    assert target_capacity(current, value, CPU)[0] == expected


def test_text_says_how() -> None:
    desired, text = target_capacity(3, 84.0, CPU)
    assert desired == 6
    assert text == "mean cpu 84.0 vs target 50.0: ratio 1.68 × 3 = 5.04 → 6"
    assert "within the tolerance of 10%" in target_capacity(3, 52.0, CPU)[1]
    assert "no members: counted as 1" in target_capacity(0, 120.0, CPU)[1]


def test_float_noise_does_not_add_a_member() -> None:
    spec = TargetSpec(operations="(metric load mean)", target=0.1, tolerance=0.0)
    assert target_capacity(10, 0.7, spec)[0] == 70  # 10 × 0.7 / 0.1 is 70.00000000000001 in floats


def test_zero_tolerance_acts_on_any_difference() -> None:
    spec = TargetSpec(operations="(metric x mean)", target=100.0, tolerance=0.0)
    assert target_capacity(10, 101.0, spec)[0] == 11
    assert target_capacity(10, 100.0, spec)[0] == 10


@settings(max_examples=300, deadline=None)
@given(current=st.integers(1, 200), value=st.floats(0, 1e4, allow_nan=False),
       target=st.floats(0.01, 1e4, allow_nan=False), tolerance=st.floats(0, 0.5))
def test_per_member_value_lands_at_or_under_target(current: int, value: float, target: float,
                                                  tolerance: float) -> None:
    desired, _ = target_capacity(current, value, TargetSpec("(metric x mean)", target, tolerance=tolerance))
    if abs(value / target - 1) <= tolerance:
        assert desired == current
    else:
        # the same total load spread over ``desired`` members is at most the target (up to float rounding)
        needed = current * value / target
        assert desired >= needed - 1e-6
        assert desired == 0 or desired - 1 < needed


def test_label() -> None:
    assert metric_label("(aggregate mean (metric cpu mean))") == "mean cpu"
    assert metric_label("(metric cpu mean)") == "(metric cpu mean)"
    assert metric_label("(" * 70) == "value"


def test_validate_defaults_and_round_trip() -> None:
    spec = validate_target({"operations": " (aggregate mean (metric cpu mean)) ", "target": 50})
    assert spec == TargetSpec("(aggregate mean (metric cpu mean))", 50.0, None, 300.0, 0.1, 15.0)
    assert validate_target(target_to_dict(spec)) == spec


@pytest.mark.parametrize(("body", "message"), [
    ({"target": 50}, "operations: required"),
    ({"operations": "  ", "target": 50}, "operations: required"),
    ({"operations": "(metric x mean)"}, "target: required"),
    ({"operations": "(metric x mean)", "target": 0}, "target: must be a number > 0"),
    ({"operations": "(metric x mean)", "target": "50"}, "target: must be a number"),
    ({"operations": "(metric x mean)", "target": 5, "tolerance": 1}, "tolerance: must be a fraction in [0, 1)"),
    ({"operations": "(metric x mean)", "target": 5, "tolerance": -0.1}, "tolerance: must be a fraction"),
    ({"operations": "(metric x mean)", "target": 5, "window": 0}, "window: must be a number of seconds > 0"),
    ({"operations": "(metric x mean)", "target": 5, "interval": 0.5}, "interval: must be a number of seconds >= 1"),
    ({"operations": "(metric x mean)", "target": 5, "granularity": -60}, "granularity: must be"),
    ({"operations": "(metric x mean)", "target": 5, "thresold": 1}, "unknown field(s) thresold"),
])
def test_validate_errors(body: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        validate_target(body)
    assert message in str(caught.value)


def test_bad_value() -> None:
    with pytest.raises(PolicyError, match="metric value"):
        target_capacity(3, float("nan"), CPU)
