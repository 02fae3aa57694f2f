"""The shared binary operators keep a missing value (NaN) missing, `**` included."""

import math

import numpy as np

from telescale.query.ufuncs import ARITHMETIC


def test_power_keeps_holes_that_ieee_would_fill():
    for name in ("**", "^", "pow"):
        out = ARITHMETIC[name](np.array([np.nan, 1.0, 2.0, 4.0]), np.array([0.0, np.nan, 3.0, 0.5]))
        assert np.isnan(out[:2]).all() and out[2:].tolist() == [8.0, 2.0]
    assert math.isnan(ARITHMETIC["**"](np.float64("nan"), 0.0))
    assert ARITHMETIC["**"](np.float64(3.0), 2.0) == 9.0
