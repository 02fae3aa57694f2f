"""A group's ``behavior``: stabilisation windows and rate limits per direction, in JSON and back.

The shape and the bounds are Kubernetes HPA's (``autoscaling/v2`` ``behavior``): ``stabilization`` 0..3600 s,
each limit ``members`` or ``percent`` per ``period`` of 1..1800 s, ``select`` ``max`` (the most permissive
limit wins), ``min`` (the least) or ``disabled`` (never scale that way). A part left out takes HPA's default;
an empty ``limits`` list (unlike HPA, which requires one) means no rate limit, so that a Heat-style step of
+10 is not cut to +4.
"""

from __future__ import annotations

from typing import Any

from telescale.scaling.model import Behavior, DirectionBehavior, RateLimit
from telescale.scaling.policies.errors import PolicyError
from telescale.scaling.policies.fields import number, reject_unknown, require_mapping

LIMIT_KINDS = ("members", "percent")
SELECTS = ("max", "min", "disabled")
MAX_STABILIZATION = 3600.0
MAX_PERIOD = 1800.0
_DIRECTIONS = ("scale_up", "scale_down")


def default_behavior() -> Behavior:
    """HPA's defaults: scale up at once by up to 100 % or 4 members per 15 s (the larger); scale down after a
    300 s window by up to 100 % per 15 s."""
    return Behavior()


def validate_behavior(spec: Any) -> Behavior:
    """A :class:`Behavior` from its JSON form; missing directions or fields take the defaults."""
    if spec is None:
        return default_behavior()
    spec = require_mapping(spec, "behavior")
    reject_unknown(spec, _DIRECTIONS, "behavior")
    defaults = default_behavior()
    return Behavior(scale_up=_direction(spec.get("scale_up"), defaults.scale_up, "behavior.scale_up"),
                    scale_down=_direction(spec.get("scale_down"), defaults.scale_down, "behavior.scale_down"))


def behavior_to_dict(behavior: Behavior) -> dict[str, Any]:
    """The JSON form :func:`validate_behavior` reads back."""
    return {name: {"stabilization": d.stabilization, "select": d.select,
                   "limits": [{"kind": lim.kind, "value": lim.value, "period": lim.period} for lim in d.limits]}
            for name, d in (("scale_up", behavior.scale_up), ("scale_down", behavior.scale_down))}


def _direction(spec: Any, default: DirectionBehavior, what: str) -> DirectionBehavior:
    if spec is None:
        return default
    spec = require_mapping(spec, what)
    reject_unknown(spec, ("stabilization", "limits", "select"), what)
    stabilization = default.stabilization
    if spec.get("stabilization") is not None:
        stabilization = number(spec["stabilization"], f"{what}.stabilization")
        if not 0 <= stabilization <= MAX_STABILIZATION:
            raise PolicyError(f"{what}.stabilization: must be seconds in [0, 3600], got {spec['stabilization']!r}")
    select = spec.get("select", default.select) or default.select
    if select not in SELECTS:
        raise PolicyError(f"{what}.select: must be one of {', '.join(SELECTS)}, got {select!r}")
    limits = default.limits
    if spec.get("limits") is not None:
        raw = spec["limits"]
        if not isinstance(raw, list):
            raise PolicyError(f"{what}.limits: must be a list of {{kind, value, period}}, got {raw!r}")
        limits = tuple(_limit(item, f"{what}.limits[{i}]") for i, item in enumerate(raw))
    return DirectionBehavior(stabilization=stabilization, limits=limits, select=select)


def _limit(spec: Any, what: str) -> RateLimit:
    spec = require_mapping(spec, what)
    reject_unknown(spec, ("kind", "value", "period"), what)
    kind = spec.get("kind")
    if kind not in LIMIT_KINDS:
        raise PolicyError(f"{what}.kind: must be one of {', '.join(LIMIT_KINDS)}, got {kind!r}")
    if spec.get("value") is None or spec.get("period") is None:
        raise PolicyError(f"{what}: value and period are required")
    value = number(spec["value"], f"{what}.value")
    if value <= 0:
        raise PolicyError(f"{what}.value: must be > 0 (use select 'disabled' to forbid a direction), "
                          f"got {spec['value']!r}")
    if kind == "members" and not value.is_integer():
        raise PolicyError(f"{what}.value: a members limit must be a whole number, got {spec['value']!r}")
    period = number(spec["period"], f"{what}.period")
    if not 1 <= period <= MAX_PERIOD:
        raise PolicyError(f"{what}.period: must be seconds in [1, 1800], got {spec['period']!r}")
    return RateLimit(kind=kind, value=value, period=period)
