"""``batch`` (alias ``accumulator``): holds samples back and releases them together.

Released when ``size`` samples are held (default 100), when the oldest held has waited ``interval``
seconds (checked as samples arrive; default: no time limit) and always at :meth:`flush`, which the
pipeline calls every flush interval and at shutdown, so nothing stays held when the agent stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from telescale.metering.sample import Sample
from telescale.metering.transformers.base import Options


class Batch:
    def __init__(self, options: Options, clock: Callable[[], float] = time.monotonic) -> None:
        size = options.get("size", int, 100)
        if size < 1:
            raise options.error("size", f"must be at least 1, got {size}")
        self.size = size
        self.interval = options.number("interval", None, positive=True)
        self.clock = clock
        self._held: list[Sample] = []
        self._since = 0.0
        options.done()

    def process(self, samples: Sequence[Sample]) -> list[Sample]:
        if not samples:
            return self._release() if self._expired() else []
        if not self._held:
            self._since = self.clock()
        self._held.extend(samples)
        if len(self._held) >= self.size or self._expired():
            return self._release()
        return []

    def flush(self) -> list[Sample]:
        return self._release()

    def _expired(self) -> bool:
        return bool(self._held) and self.interval is not None and self.clock() - self._since >= self.interval

    def _release(self) -> list[Sample]:
        held, self._held = self._held, []
        return held
