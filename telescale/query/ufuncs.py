"""The binary operators Gnocchi's query languages share, by every name they accept, as numpy ufuncs.

Used by the aggregates operations (``/v1/aggregates``) and by the metric value search
(``/v1/search/metric``), so both accept exactly the same spellings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Ufunc = Callable[[Any, Any], Any]

COMPARISONS: dict[str, Ufunc] = {
    "=": np.equal, "==": np.equal, "eq": np.equal,
    "<": np.less, "lt": np.less,
    ">": np.greater, "gt": np.greater,
    "<=": np.less_equal, "≤": np.less_equal, "le": np.less_equal,
    ">=": np.greater_equal, "≥": np.greater_equal, "ge": np.greater_equal,
    "!=": np.not_equal, "≠": np.not_equal, "ne": np.not_equal,
}

def _power(a: Any, b: Any) -> Any:
    """``np.power``, except that a missing value (NaN) stays missing, as it does through every other operator:
    IEEE defines ``NaN ** 0`` and ``1 ** NaN`` as 1, which would turn a hole into a value."""
    out = np.power(a, b)
    missing = np.isnan(a) | np.isnan(b)
    if np.ndim(out) == 0:
        return np.nan if missing else out
    return np.where(missing, np.nan, out)


ARITHMETIC: dict[str, Ufunc] = {
    "%": np.mod, "mod": np.mod,
    "+": np.add, "add": np.add,
    "-": np.subtract, "sub": np.subtract,
    "*": np.multiply, "×": np.multiply, "mul": np.multiply,
    "/": np.true_divide, "÷": np.true_divide, "div": np.true_divide,
    "**": _power, "^": _power, "pow": _power,
}
