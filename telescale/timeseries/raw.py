"""The unaggregated tail of one metric.

Kept so that late measures inside the back window, and ``rate:`` methods (which need the point before
a bucket), can recompute whole buckets from raw points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from telescale.timeseries import codec


@dataclass
class RawSeries:
    """Sorted unique int64 ns timestamps with their float64 values."""

    timestamps: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype=np.int64)
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.timestamps.shape != self.values.shape:
            raise ValueError("timestamps and values must have the same length")

    @classmethod
    def empty(cls) -> RawSeries:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))

    def __len__(self) -> int:
        return int(self.timestamps.size)

    @property
    def last(self) -> int | None:
        return int(self.timestamps[-1]) if self.timestamps.size else None

    def serialize(self) -> bytes:
        return codec.encode_raw(self.timestamps, self.values)

    @classmethod
    def unserialize(cls, data: bytes | None) -> RawSeries:
        """None (never stored) gives an empty series."""
        if not data:
            return cls.empty()
        ts, vals = codec.decode_raw(data)
        return cls(ts, vals)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RawSeries)
            and np.array_equal(self.timestamps, other.timestamps)
            and np.array_equal(self.values.view(np.uint64), other.values.view(np.uint64))
        )
