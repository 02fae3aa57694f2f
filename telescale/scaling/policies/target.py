"""Target tracking, as Kubernetes' HPA: keep a metric of the members near a target by sizing the group.

``desired = ceil(current × value / target)``; when ``value / target`` is within ``tolerance`` of 1 nothing
changes (HPA's default band is 10 %), so a metric hovering around its target does not make the group flap.
A group with no members but a positive value is counted as one member, so that load on an empty group still
brings the first member (HPA cannot scale from zero; KEDA's activation does the same). A product within
float noise of a whole number is taken as that number before ``ceil`` (``10 × 0.7 / 0.1`` is
70.00000000000001 in floats, and must not add a member); the band's edge is inside, noise included.
The caller reads the value (an aggregates expression over the members' resources); this is the maths.
"""

from __future__ import annotations

import math
import re
from typing import Any

from telescale.scaling.model import TargetSpec
from telescale.scaling.policies.errors import PolicyError
from telescale.scaling.policies.fields import number, optional_number, reject_unknown, require_mapping

_FIELDS = ("operations", "target", "granularity", "window", "tolerance", "interval")
#: ``(aggregate mean (metric cpu mean))`` → "mean cpu", the label the decision log shows.
#: Float noise: 55 / 50 is 1.1000000000000001, which must still be inside a 10 % band.
_EPSILON = 1e-9
#: Relative float noise of a product and a division (a few units in the last place).
_NOISE = 1e-12
_SIMPLE = re.compile(r"^\(\s*aggregate\s+(\S+)\s+\(\s*metric\s+(\S+)\s+\S+\s*\)\s*\)$")


def target_capacity(current: int, value: float, spec: TargetSpec) -> tuple[int, str]:
    """The capacity that brings ``value`` to ``spec.target``, and how it was reached, in words."""
    if current < 0:
        raise PolicyError(f"current capacity must be >= 0, got {current}")
    value = number(value, "metric value")
    if spec.target <= 0:
        raise PolicyError(f"target: must be a number > 0, got {spec.target!r}")
    label = metric_label(spec.operations)
    ratio = value / spec.target
    head = f"{label} {_fmt(value)} vs target {_fmt(spec.target)}"
    base, note = current, ""
    if current == 0:
        if value <= 0:
            return 0, f"{head}: no members and no load → stays 0"
        base, note = 1, " (no members: counted as 1)"
    if abs(ratio - 1.0) <= spec.tolerance + _EPSILON:
        return base, (f"{head}: ratio {_fmt(ratio)} within the tolerance of {spec.tolerance * 100:.3g}%{note}"
                      f" → {base}")
    desired = max(0, math.ceil(_snap(base * ratio)))
    return desired, f"{head}: ratio {_fmt(ratio)} × {base}{note} = {_fmt(base * ratio)} → {desired}"


def _snap(x: float) -> float:
    """``x`` itself, or the whole number it is within float noise of."""
    nearest = round(x)
    return float(nearest) if abs(x - nearest) <= _NOISE * max(1.0, abs(x)) else x


def metric_label(operations: str) -> str:
    """A short name for the expression: ``mean cpu`` for ``(aggregate mean (metric cpu mean))``, else the
    expression itself when short, else ``value``."""
    match = _SIMPLE.match(operations.strip())
    if match:
        return f"{match.group(1)} {match.group(2)}"
    return operations.strip() if len(operations.strip()) <= 60 else "value"


def validate_target(spec: Any) -> TargetSpec:
    """A :class:`TargetSpec` from its JSON form: ``operations`` (an aggregates expression; its syntax is
    checked by the caller) and ``target`` required; ``granularity``, ``window`` (300 s), ``tolerance`` (0.1)
    and ``interval`` (15 s) optional."""
    spec = require_mapping(spec, "target_tracking policy")
    reject_unknown(spec, _FIELDS, "target_tracking policy")
    operations = spec.get("operations")
    if not isinstance(operations, str) or not operations.strip():
        raise PolicyError("operations: required, an aggregates expression such as "
                          "'(aggregate mean (metric cpu mean))'")
    if spec.get("target") is None:
        raise PolicyError("target: required, the value of the metric each member should carry")
    target = number(spec["target"], "target")
    if target <= 0:
        raise PolicyError(f"target: must be a number > 0, got {_fmt(target)}")
    what = "target_tracking policy"
    granularity = optional_number(spec, "granularity", None, what)
    if granularity is not None and granularity <= 0:
        raise PolicyError(f"granularity: must be a number of seconds > 0, got {_fmt(granularity)}")
    window = optional_number(spec, "window", 300.0, what)
    assert window is not None
    if window <= 0:
        raise PolicyError(f"window: must be a number of seconds > 0, got {_fmt(window)}")
    tolerance = optional_number(spec, "tolerance", 0.1, what)
    assert tolerance is not None
    if not 0 <= tolerance < 1:
        raise PolicyError(f"tolerance: must be a fraction in [0, 1) (0.1 = 10 %), got {_fmt(tolerance)}")
    interval = optional_number(spec, "interval", 15.0, what)
    assert interval is not None
    if interval < 1:
        raise PolicyError(f"interval: must be a number of seconds >= 1, got {_fmt(interval)}")
    return TargetSpec(operations=operations.strip(), target=target, granularity=granularity, window=window,
                      tolerance=tolerance, interval=interval)


def target_to_dict(spec: TargetSpec) -> dict[str, Any]:
    """The JSON form :func:`validate_target` reads back."""
    return {"operations": spec.operations, "target": spec.target, "granularity": spec.granularity,
            "window": spec.window, "tolerance": spec.tolerance, "interval": spec.interval}


def _fmt(x: float) -> str:
    if float(x).is_integer():
        return f"{x:.1f}"
    return f"{x:.4g}" if abs(x) < 1 else f"{x:.2f}".rstrip("0").rstrip(".")
