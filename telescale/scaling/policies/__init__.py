"""The pure half of autoscaling: Heat's step maths, HPA's target tracking, scheduled bounds, the decision gates,
the scale-in order and the signal bodies. No I/O and no clock: the scaler passes ``now`` and the history in,
stores what comes out, and acts on it."""

from telescale.scaling.policies.behavior import (
    LIMIT_KINDS,
    SELECTS,
    behavior_to_dict,
    default_behavior,
    validate_behavior,
)
from telescale.scaling.policies.bounds import Bounds, group_bounds
from telescale.scaling.policies.errors import PolicyError
from telescale.scaling.policies.gates import Past, Verdict, decide
from telescale.scaling.policies.schedule import (
    active_window,
    effective_bounds,
    next_change,
    schedule_to_dict,
    validate_schedule,
)
from telescale.scaling.policies.signals import (
    AODH_STATES,
    MAX_BODY,
    Signal,
    SignalError,
    parse_signal,
    should_act,
)
from telescale.scaling.policies.step import ADJUSTMENT_TYPES, describe_step, step_capacity, step_to_dict, validate_step
from telescale.scaling.policies.target import metric_label, target_capacity, target_to_dict, validate_target
from telescale.scaling.policies.victims import choose_victims, removal_key

__all__ = [
    "ADJUSTMENT_TYPES", "AODH_STATES", "LIMIT_KINDS", "MAX_BODY", "SELECTS",
    "Bounds", "Past", "PolicyError", "Signal", "SignalError", "Verdict",
    "active_window", "behavior_to_dict", "choose_victims", "decide", "default_behavior", "describe_step",
    "effective_bounds", "group_bounds", "metric_label", "next_change", "parse_signal", "removal_key",
    "schedule_to_dict", "should_act", "step_capacity", "step_to_dict", "target_capacity", "target_to_dict",
    "validate_behavior", "validate_schedule", "validate_step", "validate_target",
]
