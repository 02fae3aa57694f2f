"""``unit_conversion``: each taken sample's value scaled and the sample renamed (``memory`` MiB → B).

Options: ``scale`` (a number, or an expression: see :class:`~telescale.metering.transformers.base.Scale`),
``target: {name, unit, type, max}``, ``map_from``/``map_to`` and ``meters``. Stateless.
"""

from __future__ import annotations

from collections.abc import Sequence

from telescale.metering.expression import EvaluationError
from telescale.metering.sample import Sample
from telescale.metering.transformers.base import DropLog, MeterFilter, Options, Scale, Target


class UnitConversion:
    def __init__(self, options: Options) -> None:
        self.filter = MeterFilter(options)
        self.scale = Scale(options)
        self.target = Target.read(options)
        self.drop = DropLog(options.name)
        options.done()

    def process(self, samples: Sequence[Sample]) -> list[Sample]:
        taken, out = self.filter.split(samples)
        for s in taken:
            try:
                out.append(self.target.apply(s, self.scale(s, s.value)))
            except EvaluationError as e:
                self.drop(s, f"scale: {e}")
        return out

    def flush(self) -> list[Sample]:
        return []
