"""Heat's ScalingPolicy maths, case by case, and against an independent re-statement of it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.scaling.model import StepSpec
from telescale.scaling.policies import PolicyError, describe_step, step_capacity, step_to_dict, validate_step

C, E, P = "change_in_capacity", "exact_capacity", "percent_change_in_capacity"

# (current, adjustment_type, scaling_adjustment, min_adjustment_step, min_size, max_size, expected)
CASES = [
    (3, C, 2, None, 0, 10, 5),
    (3, C, -2, None, 0, 10, 1),
    (3, C, 9, None, 0, 10, 10),  # clamped to max
    (3, C, -5, None, 1, 10, 1),  # clamped to min
    (0, C, 1, None, 0, 10, 1),  # from zero
    (3, C, 0, None, 0, 10, 3),
    (3, C, 2.0, None, 0, 10, 5),  # JSON 2.0 is a whole number
    (3, E, 7, None, 0, 10, 7),
    (3, E, 12, None, 0, 10, 10),  # clamped to max
    (3, E, 0, None, 1, 10, 1),  # clamped to min
    (0, E, 4, None, 0, 10, 4),
    (3, P, 50, None, 0, 10, 4),  # +1.5 truncated to +1
    (3, P, -50, None, 0, 10, 2),  # -1.5 truncated toward zero to -1
    (3, P, 10, None, 0, 10, 4),  # +0.3 rounded away from zero to +1
    (3, P, -10, None, 0, 10, 2),  # -0.3 rounded away from zero to -1
    (3, P, 0.5, None, 0, 10, 4),  # +0.015: still one member
    (4, P, 25, None, 0, 10, 5),  # exactly +1
    (4, P, -25, None, 0, 10, 3),  # exactly -1
    (10, P, 33, None, 0, 20, 13),  # +3.3 → +3
    (10, P, -33, None, 0, 20, 7),  # -3.3 → -3
    (7, P, 15, None, 0, 20, 8),  # +1.05 → +1
    (3, P, 10, 2, 0, 10, 5),  # min_adjustment_step 2 replaces +1
    (3, P, -10, 2, 0, 10, 1),  # … and -1, keeping the sign
    (10, P, 50, 2, 0, 20, 15),  # a step smaller than |delta| changes nothing
    (10, P, -50, 2, 0, 20, 5),
    (10, P, 50, 5, 0, 20, 15),  # a step equal to |delta| changes nothing
    (3, P, 50, 0, 0, 10, 4),  # min_adjustment_step 0 is no minimum
    (0, P, 50, None, 0, 10, 0),  # no members: delta 0, no change
    (0, P, 50, 2, 0, 10, 0),  # Heat's edge: delta 0 with a step gives -2, clamped to min 0
    (0, P, 50, 2, 1, 10, 1),  # … clamped to min 1
    (5, P, 0, 3, 0, 10, 2),  # 0 % with a step: -3, as Heat
    (5, P, 0, None, 0, 10, 5),
    (4, P, 200, None, 0, 10, 10),  # +8 → 12, clamped to max
    (4, P, -200, None, 1, 10, 1),  # -8 → -4, clamped to min
    (4, P, -100, None, 0, 10, 0),
    (6, P, 50, None, 2, 6, 6),  # already at max
]


@pytest.mark.parametrize(("current", "kind", "adj", "step", "low", "high", "expected"), CASES)
def test_heat_cases(current: int, kind: str, adj: float, step: int | None, low: int, high: int,
                    expected: int) -> None:
    assert step_capacity(current, StepSpec(kind, adj, step), low, high) == expected


def _reference(current: int, kind: str, adj: float, step: int | None, low: int, high: int) -> int:
    """Heat's scalingutil re-stated another way: int() truncates, sign() for the small steps."""
    if kind == C:
        new = current + int(adj)
    elif kind == E:
        new = int(adj)
    else:
        delta = current * adj / 100.0
        if delta == 0:
            change = 0
        elif abs(delta) < 1:
            change = 1 if delta > 0 else -1
        else:
            change = int(delta)
        if step and step > abs(change):
            change = step if change > 0 else -step
        new = current + change
    return min(high, max(low, new))


@settings(max_examples=400, deadline=None)
@given(current=st.integers(0, 500), low=st.integers(0, 50), span=st.integers(0, 500),
       kind=st.sampled_from([C, E, P]), whole=st.integers(-300, 300),
       percent=st.floats(-400, 400, allow_nan=False, allow_infinity=False),
       step=st.one_of(st.none(), st.integers(0, 20)))
def test_matches_a_restatement(current: int, low: int, span: int, kind: str, whole: int, percent: float,
                               step: int | None) -> None:
    high = low + span
    if kind == P:
        adj: float = percent
    else:
        adj, step = (abs(whole) if kind == E else whole), None
    got = step_capacity(current, StepSpec(kind, adj, step), low, high)
    assert got == _reference(current, kind, adj, step, low, high)
    assert low <= got <= high


def test_describe_percent_truncated() -> None:
    spec = StepSpec(P, 50)
    assert describe_step(3, spec, 0, 10) == "percent_change_in_capacity +50% of 3 = +1.5 → +1 (truncated) = 4"


def test_describe_percent_small_with_step_and_clamp() -> None:
    text = describe_step(3, StepSpec(P, 10, 2), 0, 4)
    assert text == ("percent_change_in_capacity +10% of 3 = +0.3 → +1 (rounded away from zero) → +2 "
                    "(min_adjustment_step 2) = 5, clamped to max_size 4")


def test_describe_zero_step_edge() -> None:
    text = describe_step(0, StepSpec(P, 50, 2), 1, 4)
    assert "→ -2 (min_adjustment_step 2; a zero step counts as negative" in text
    assert text.endswith("= -2, clamped to min_size 1")


def test_describe_change_and_exact() -> None:
    assert describe_step(3, StepSpec(C, 20)) == "change_in_capacity +20 from 3 = 23"  # no bounds given: no clamp
    assert describe_step(3, StepSpec(C, -5)) == "change_in_capacity -5 from 3 = -2, clamped to min_size 0"
    assert describe_step(3, StepSpec(C, 2), 0, 10) == "change_in_capacity +2 from 3 = 5"
    assert describe_step(3, StepSpec(C, -4), 1, 10) == "change_in_capacity -4 from 3 = -1, clamped to min_size 1"
    assert describe_step(3, StepSpec(E, 12), 0, 10) == "exact_capacity 12 (was 3), clamped to max_size 10"


def test_validate_good() -> None:
    spec = validate_step({"adjustment_type": P, "scaling_adjustment": 33.5, "min_adjustment_step": 2,
                          "cooldown": 60})
    assert spec == StepSpec(P, 33.5, 2, 60.0)
    assert validate_step(step_to_dict(spec)) == spec
    assert validate_step({"adjustment_type": C, "scaling_adjustment": -2.0}) == StepSpec(C, -2, None, None)
    assert validate_step({"adjustment_type": E, "scaling_adjustment": 0}).scaling_adjustment == 0


@pytest.mark.parametrize(("body", "message"), [
    ({"adjustment_type": "ChangeInCapacity", "scaling_adjustment": 1},
     "adjustment_type: must be one of change_in_capacity, exact_capacity, percent_change_in_capacity"),
    ({"scaling_adjustment": 1}, "adjustment_type: must be one of"),
    ({"adjustment_type": C}, "scaling_adjustment: required"),
    ({"adjustment_type": C, "scaling_adjustment": "2"}, "scaling_adjustment: must be a number, got '2'"),
    ({"adjustment_type": C, "scaling_adjustment": True}, "scaling_adjustment: must be a number"),
    ({"adjustment_type": P, "scaling_adjustment": float("nan")}, "scaling_adjustment: must be a number"),
    ({"adjustment_type": C, "scaling_adjustment": 1.5}, "scaling_adjustment: must be a whole number"),
    ({"adjustment_type": E, "scaling_adjustment": -1}, "exact_capacity must be an integer >= 0"),
    ({"adjustment_type": E, "scaling_adjustment": 2.5}, "scaling_adjustment: must be a whole number"),
    ({"adjustment_type": C, "scaling_adjustment": 1, "min_adjustment_step": 1},
     "min_adjustment_step: only for adjustment_type percent_change_in_capacity"),
    ({"adjustment_type": P, "scaling_adjustment": 10, "min_adjustment_step": -1},
     "min_adjustment_step: must be an integer >= 0"),
    ({"adjustment_type": P, "scaling_adjustment": 10, "min_adjustment_step": 1.5},
     "min_adjustment_step: must be a whole number"),
    ({"adjustment_type": C, "scaling_adjustment": 1, "cooldown": -5}, "cooldown: must be a number of seconds >= 0"),
    ({"adjustment_type": C, "scaling_adjustment": 1, "colldown": 5}, "unknown field(s) colldown"),
    ([], "step policy: must be a JSON object"),
])
def test_validate_errors(body: object, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        validate_step(body)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_bad_inputs_to_the_maths() -> None:
    with pytest.raises(PolicyError, match="adjustment_type"):
        step_capacity(3, StepSpec("bogus", 1), 0, 10)
    with pytest.raises(PolicyError, match="whole number"):
        step_capacity(3, StepSpec(C, 1.5), 0, 10)
    with pytest.raises(PolicyError, match="min_size 5 and max_size 3"):
        step_capacity(3, StepSpec(C, 1), 5, 3)
    with pytest.raises(PolicyError, match="current capacity"):
        step_capacity(-1, StepSpec(C, 1), 0, 3)
