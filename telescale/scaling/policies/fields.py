"""Small checks shared by the validators: a number, a whole number, no unknown keys, each with a message that
names the field. Kept apart so that step, target, schedule and behaviour validation read the same way."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from telescale.scaling.policies.errors import PolicyError


def require_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` itself, when it is a JSON object."""
    if not isinstance(value, Mapping):
        raise PolicyError(f"{what}: must be a JSON object, got {_kind(value)}")
    return value


def reject_unknown(spec: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    """Refuse keys the spec does not know (a typo would otherwise be silently ignored)."""
    allowed = tuple(allowed)
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise PolicyError(f"{what}: unknown field(s) {', '.join(unknown)}; expected some of {', '.join(allowed)}")


def number(value: Any, field: str) -> float:
    """A finite JSON number (not a boolean, not a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PolicyError(f"{field}: must be a number, got {value!r}")
    return float(value)


def whole(value: Any, field: str) -> int:
    """A whole number: an integer, or a float without a fractional part (JSON ``2.0``)."""
    n = number(value, field)
    if not n.is_integer():
        raise PolicyError(f"{field}: must be a whole number, got {value!r}")
    return int(n)


def optional_number(spec: Mapping[str, Any], key: str, default: float | None, what: str) -> float | None:
    value = spec.get(key)
    return default if value is None else number(value, f"{what}.{key}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__
