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

ARITHMETIC: dict[str, Ufunc] = {
    "%": np.mod, "mod": np.mod,
    "+": np.add, "add": np.add,
    "-": np.subtract, "sub": np.subtract,
    "*": np.multiply, "×": np.multiply, "mul": np.multiply,
    "/": np.true_divide, "÷": np.true_divide, "div": np.true_divide,
    "**": np.power, "^": np.power, "pow": np.power,
}
