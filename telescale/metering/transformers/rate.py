"""``rate_of_change`` and ``delta``: each sample compared with the previous sample of its series.

Both keep the last accepted ``(value, timestamp)`` per series. The first sample of a series gives nothing
(there is nothing to compare it with); a sample not newer than the one kept (Δt ≤ 0: a duplicate or a late
arrival) is dropped with a log line and leaves the state alone, so it cannot fake a counter reset.

* ``rate_of_change``: Δv/Δt per second, times ``scale``. For a ``cumulative`` input a value lower than
  the previous one is a counter reset (the process or host restarted and counted from zero), so the
  current value itself is the increase, as Ceilometer did. Output type ``gauge`` unless ``target.type``.
* ``delta``: Δv (no reset rule: a gauge may go down), output type ``delta``; ``growth_only`` drops
  negative deltas.

The differences and rates of a batch are computed as arrays; only the look-up of each sample's
predecessor walks the batch in order (a series may appear more than once in one batch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from telescale.metering.expression import EvaluationError
from telescale.metering.sample import Sample
from telescale.metering.transformers.base import DropLog, MeterFilter, Options, Scale, SeriesState, Target


class _Differencing:
    """Pairs each taken sample with its series' previous one; subclasses turn the pairs into values."""

    kind = "delta"

    def __init__(self, options: Options) -> None:
        self.filter = MeterFilter(options)
        self.state: SeriesState[tuple[float, float]] = SeriesState.read(options)
        self.drop = DropLog(options.name)

    def process(self, samples: Sequence[Sample]) -> list[Sample]:
        taken, out = self.filter.split(samples)
        self.state.expire()
        pairs: list[Sample] = []
        previous: list[tuple[float, float]] = []
        for s in taken:
            key = s.series
            prev = self.state.get(key)
            if prev is not None and s.timestamp <= prev[1]:
                self.drop(s, f"not newer than the previous sample ({prev[1]}): out of order or repeated")
                continue
            self.state.put(key, (s.value, s.timestamp))
            if prev is not None:
                pairs.append(s)
                previous.append(prev)
        if pairs:
            before = np.array(previous, dtype=np.float64).reshape(-1, 2)
            now = np.array([(s.value, s.timestamp) for s in pairs], dtype=np.float64).reshape(-1, 2)
            values = self.compute(pairs, before, now)
            out.extend(self.emit(pairs, values))
        return out

    def flush(self) -> list[Sample]:
        return []

    def compute(self, pairs: list[Sample], before: np.ndarray, now: np.ndarray) -> np.ndarray:
        """One output value per pair (NaN: no output); ``before``/``now`` are (value, timestamp) rows."""
        raise NotImplementedError

    def emit(self, pairs: list[Sample], values: np.ndarray) -> list[Sample]:
        raise NotImplementedError


class RateOfChange(_Differencing):
    """Δv/Δt with counter resets, scaled and renamed (``cpu`` → ``cpu_util``)."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.scale = Scale(options)
        self.target = Target.read(options, kind="gauge")
        options.done()

    def compute(self, pairs: list[Sample], before: np.ndarray, now: np.ndarray) -> np.ndarray:
        increase = now[:, 0] - before[:, 0]
        cumulative = np.fromiter((s.kind == "cumulative" for s in pairs), dtype=bool, count=len(pairs))
        reset = cumulative & (increase < 0)
        increase[reset] = now[reset, 0]
        return increase / (now[:, 1] - before[:, 1])

    def emit(self, pairs: list[Sample], values: np.ndarray) -> list[Sample]:
        out = []
        for s, rate in zip(pairs, values.tolist(), strict=True):
            try:
                out.append(self.target.apply(s, self.scale(s, rate)))
            except EvaluationError as e:
                self.drop(s, f"scale: {e}")
        return out


class Delta(_Differencing):
    """Δv since the previous sample of the series."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.growth_only = options.get("growth_only", bool, False)
        self.target = Target.read(options, kind="delta")
        options.done()

    def compute(self, pairs: list[Sample], before: np.ndarray, now: np.ndarray) -> np.ndarray:
        delta = now[:, 0] - before[:, 0]
        if self.growth_only:
            delta[delta < 0] = np.nan
        return delta

    def emit(self, pairs: list[Sample], values: np.ndarray) -> list[Sample]:
        return [self.target.apply(s, d) for s, d in zip(pairs, values.tolist(), strict=True) if d == d]
