"""Heat's ``OS::Heat::ScalingPolicy`` maths, exactly: a signal moves the group by a fixed step.

``change_in_capacity`` adds the adjustment, ``exact_capacity`` sets it, ``percent_change_in_capacity`` adds
``current × adjustment / 100`` rounded as Heat does (``heat/scaling/scalingutil.py``): a step smaller than one
member rounds away from zero (so any non-zero percent moves at least one member), a larger one truncates toward
zero; then ``min_adjustment_step`` replaces the step when it is larger, with the step's sign — and a step of
0 (no members, or 0 %) counts as negative there, as in Heat, so a percent policy with a minimum step on an
empty group proposes a scale-in that the clamp then holds at ``min_size``. Every type is clamped to
[``min_size``, ``max_size``]. Pure functions: the caller gives the current capacity and the bounds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from telescale.scaling.model import StepSpec
from telescale.scaling.policies.errors import PolicyError
from telescale.scaling.policies.fields import number, reject_unknown, require_mapping, whole

CHANGE = "change_in_capacity"
EXACT = "exact_capacity"
PERCENT = "percent_change_in_capacity"
ADJUSTMENT_TYPES = (CHANGE, EXACT, PERCENT)
_UNBOUNDED = 2**62
_FIELDS = ("adjustment_type", "scaling_adjustment", "min_adjustment_step", "cooldown")


@dataclass(frozen=True)
class _Steps:
    """How the capacity was reached, for :func:`describe_step`."""

    unclamped: int
    result: int
    delta: float | None = None  # percent only: current × adjustment / 100
    rounded: int | None = None  # percent only: the step after Heat's rounding
    rounding: str = ""  # "rounded away from zero" | "truncated" | "" (already whole)
    stepped: int | None = None  # percent only: the step after min_adjustment_step, when it changed it


def step_capacity(current: int, spec: StepSpec, min_size: int, max_size: int) -> int:
    """The capacity a signal to this policy sets, from ``current``, clamped to [``min_size``, ``max_size``]."""
    return _compute(current, spec, min_size, max_size).result


def describe_step(current: int, spec: StepSpec, min_size: int = 0, max_size: int | None = None) -> str:
    """The computation in words, for the decision log: ``percent_change_in_capacity +50% of 3 = +1.5 → +1
    (truncated) = 4``; without ``max_size`` no upper clamp is shown (the decision gates clamp, and say so)."""
    s = _compute(current, spec, min_size, _UNBOUNDED if max_size is None else max_size)
    adj = spec.scaling_adjustment
    if spec.adjustment_type == CHANGE:
        text = f"{CHANGE} {_signed(adj)} from {current} = {s.unclamped}"
    elif spec.adjustment_type == EXACT:
        text = f"{EXACT} {_plain(adj)} (was {current})"
    else:
        assert s.delta is not None and s.rounded is not None
        text = f"{PERCENT} {_signed(adj)}% of {current} = {_signed(s.delta)}"
        if s.rounding:
            text += f" → {_signed(s.rounded)} ({s.rounding})"
        if s.stepped is not None:
            why = "" if s.rounded else "; a zero step counts as negative, as in Heat"
            text += f" → {_signed(s.stepped)} (min_adjustment_step {spec.min_adjustment_step}{why})"
        text += f" = {s.unclamped}"
    if s.result != s.unclamped:
        bound = "min_size" if s.unclamped < min_size else "max_size"
        text += f", clamped to {bound} {s.result}"
    return text


def validate_step(spec: Any) -> StepSpec:
    """A :class:`StepSpec` from its JSON form (``adjustment_type``, ``scaling_adjustment`` required;
    ``min_adjustment_step`` for percent only; ``cooldown`` in seconds, optional)."""
    spec = require_mapping(spec, "step policy")
    reject_unknown(spec, _FIELDS, "step policy")
    kind = spec.get("adjustment_type")
    if kind not in ADJUSTMENT_TYPES:
        raise PolicyError(f"adjustment_type: must be one of {', '.join(ADJUSTMENT_TYPES)}, got {kind!r}")
    if spec.get("scaling_adjustment") is None:
        raise PolicyError("scaling_adjustment: required (a number: members to add, the capacity, or a percent)")
    adj = number(spec["scaling_adjustment"], "scaling_adjustment")
    if kind == EXACT:
        adj = whole(adj, "scaling_adjustment")
        if adj < 0:
            raise PolicyError(f"scaling_adjustment: exact_capacity must be an integer >= 0, got {_plain(adj)}")
    elif kind == CHANGE:
        adj = whole(adj, "scaling_adjustment")
    step = spec.get("min_adjustment_step")
    if step is not None:
        if kind != PERCENT:
            raise PolicyError(f"min_adjustment_step: only for adjustment_type {PERCENT}, not {kind}")
        step = whole(step, "min_adjustment_step")
        if step < 0:
            raise PolicyError(f"min_adjustment_step: must be an integer >= 0, got {step}")
    cooldown = spec.get("cooldown")
    if cooldown is not None:
        cooldown = number(cooldown, "cooldown")
        if cooldown < 0:
            raise PolicyError(f"cooldown: must be a number of seconds >= 0, got {_plain(cooldown)}")
    return StepSpec(adjustment_type=kind, scaling_adjustment=adj, min_adjustment_step=step, cooldown=cooldown)


def step_to_dict(spec: StepSpec) -> dict[str, Any]:
    """The JSON form :func:`validate_step` reads back."""
    out: dict[str, Any] = {"adjustment_type": spec.adjustment_type, "scaling_adjustment": spec.scaling_adjustment}
    if spec.adjustment_type != PERCENT:
        out["scaling_adjustment"] = int(spec.scaling_adjustment)
    if spec.min_adjustment_step is not None:
        out["min_adjustment_step"] = spec.min_adjustment_step
    if spec.cooldown is not None:
        out["cooldown"] = spec.cooldown
    return out


def _compute(current: int, spec: StepSpec, min_size: int, max_size: int) -> _Steps:
    _check_inputs(current, spec, min_size, max_size)
    adj = spec.scaling_adjustment
    if spec.adjustment_type == CHANGE:
        return _clamped(_Steps(current + int(adj), 0), min_size, max_size)
    if spec.adjustment_type == EXACT:
        return _clamped(_Steps(int(adj), 0), min_size, max_size)
    delta = current * adj / 100.0
    if math.fabs(delta) < 1.0:
        rounded = int(math.ceil(delta) if delta > 0.0 else math.floor(delta))
        rounding = "rounded away from zero" if delta != rounded else ""
    else:
        rounded = int(math.floor(delta) if delta > 0.0 else math.ceil(delta))
        rounding = "truncated" if delta != rounded else ""
    step = rounded
    minimum = spec.min_adjustment_step
    if minimum and minimum > abs(rounded):
        step = minimum if rounded > 0 else -minimum
    stepped = step if step != rounded else None
    return _clamped(_Steps(current + step, 0, delta, rounded, rounding, stepped), min_size, max_size)


def _clamped(steps: _Steps, min_size: int, max_size: int) -> _Steps:
    # Heat checks the maximum first; bounds are validated so that both orders agree.
    result = max_size if steps.unclamped > max_size else min_size if steps.unclamped < min_size else steps.unclamped
    return dataclasses.replace(steps, result=result)


def _check_inputs(current: int, spec: StepSpec, min_size: int, max_size: int) -> None:
    if spec.adjustment_type not in ADJUSTMENT_TYPES:
        raise PolicyError(f"adjustment_type: must be one of {', '.join(ADJUSTMENT_TYPES)}, "
                          f"got {spec.adjustment_type!r}")
    if spec.adjustment_type != PERCENT and not float(spec.scaling_adjustment).is_integer():
        raise PolicyError(f"scaling_adjustment: {spec.adjustment_type} needs a whole number, "
                          f"got {spec.scaling_adjustment!r}")
    if current < 0:
        raise PolicyError(f"current capacity must be >= 0, got {current}")
    if min_size < 0 or min_size > max_size:
        raise PolicyError(f"min_size {min_size} and max_size {max_size}: need 0 <= min_size <= max_size")


def _plain(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _signed(x: float) -> str:
    if x == 0:
        return "0"
    return ("+" if x > 0 else "-") + _plain(abs(x))
