"""``arithmetic``: a new meter computed from other meters of the same resource.

``expr: "100 * $(memory.usage) / $(memory)"`` with ``target: {name: memory.util, unit: "%"}``. The latest
value of each referenced meter is kept per resource; after each batch, every resource that received one
of them and has a value for all of them (none older than ``forget_after``) gives one sample, stamped with
the newest input's time and carrying the newest input's resource. The inputs pass through unchanged.
The expression is our own evaluator's (:mod:`telescale.metering.expression`), never ``eval``; one that
cannot be computed (division by zero …) gives no sample and a log line.

Correct with several agents because the ring gives all series of one resource to one agent
(:mod:`telescale.metering.ownership` places samples by resource).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from telescale.metering.expression import EvaluationError
from telescale.metering.sample import Sample
from telescale.metering.transformers.base import DropLog, Options, SeriesState, Target


class Arithmetic:
    def __init__(self, options: Options) -> None:
        self.expression = options.expression("expr", refs=True)
        if self.expression is None:
            raise options.error("expr", 'mandatory, e.g. "100 * $(memory.usage) / $(memory)"')
        if not self.expression.refs:
            raise options.error("expr", "names no meter: write each input as $(meter name)")
        self.target = Target.read(options, kind="gauge")
        if not self.target.name:
            raise options.error("target.name", "mandatory: the name of the computed meter")
        self.meters = {name: placeholder for placeholder, name in self.expression.refs.items()}
        self.state: SeriesState[dict[str, Sample]] = SeriesState.read(options)
        self.drop = DropLog(options.name)
        options.done()

    def process(self, samples: Sequence[Sample]) -> list[Sample]:
        self.state.expire()
        touched: dict[str, dict[str, Sample]] = {}
        for s in samples:
            if s.name not in self.meters:
                continue
            latest = touched.get(s.resource_id)
            if latest is None:
                latest = touched[s.resource_id] = self.state.get(s.resource_id) or {}
            known = latest.get(s.name)
            if known is None or s.timestamp >= known.timestamp:
                latest[s.name] = s
            self.state.put(s.resource_id, latest)
        out = list(samples)
        horizon = max((s.timestamp for s in samples), default=0.0) - self.state.forget_after
        for latest in touched.values():
            inputs = [latest.get(name) for name in self.meters]
            if any(i is None or i.timestamp < horizon for i in inputs):
                continue
            newest = max(inputs, key=lambda i: i.timestamp)  # type: ignore[union-attr]
            variables = {self.meters[i.name]: i.value for i in inputs}  # type: ignore[union-attr]
            try:
                value = self.expression(variables)
            except EvaluationError as e:
                self.drop(newest, str(e))
                continue
            out.append(self.target.apply(replace(newest, unit=None), value))
        return out

    def flush(self) -> list[Sample]:
        return []
