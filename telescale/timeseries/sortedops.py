"""Set operations on arrays that are already sorted, without the extra sort numpy's generic ones do.

``np.unique``, ``np.isin`` and ``np.union1d`` sort their input again; bucket keys and stored
timestamps are sorted already, so a neighbour comparison or a ``searchsorted`` gives the same
answer in linear (or n log m) time with fewer temporaries. Each function documents the numpy call it
is equal to, given its precondition.
"""

from __future__ import annotations

import numpy as np


def unique_sorted(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` for a sorted (non-decreasing) 1-d array."""
    a = np.asarray(a)
    if a.size < 2:
        return a.copy()
    keep = np.empty(a.size, dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def isin_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.isin(a, b)`` for any ``a`` and a sorted (non-decreasing) ``b``."""
    a = np.asarray(a)
    b = np.asarray(b)
    if b.size == 0 or a.size == 0:
        return np.zeros(a.shape, dtype=bool)
    pos = np.searchsorted(b, a, side="left")
    np.minimum(pos, b.size - 1, out=pos)
    return b[pos] == a


def union_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.union1d(a, b)`` for two sorted 1-d arrays (the stable sort merges the two runs)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if b.size == 0:
        return unique_sorted(a)
    if a.size == 0:
        return unique_sorted(b)
    if a[-1] < b[0]:
        both = np.concatenate((a, b))
    elif b[-1] < a[0]:
        both = np.concatenate((b, a))
    else:
        both = np.sort(np.concatenate((a, b)), kind="stable")
    return unique_sorted(both)
