"""Transformers of the agent's pipeline, built from their configuration mapping.

``build({"name": "rate_of_change", ...options})`` gives an object with ``process(samples)`` and
``flush()``. Each takes the samples its ``meters`` patterns select (all by default) and lets the others
through. Their state is per series (or per resource for ``arithmetic``), and the agents' hash ring gives
each resource to one agent, so the results are right whatever the number of agents — what Ceilometer's
transformers never were.

| name | does |
| --- | --- |
| ``rate_of_change`` | Δv/Δt per second, counter resets of cumulative inputs handled, ``scale``, ``target`` |
| ``unit_conversion`` | value × ``scale`` (or the expression's value), renamed by ``target``/``map_from``/``map_to`` |
| ``delta`` | Δv since the previous sample, ``growth_only`` drops decreases |
| ``arithmetic`` | ``expr: "100 * $(memory.usage) / $(memory)"`` per resource, into ``target.name`` |
| ``batch`` / ``accumulator`` | hold ``size`` samples or ``interval`` seconds, release on flush |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from telescale.metering.transformers.arithmetic import Arithmetic
from telescale.metering.transformers.base import Options, Transformer
from telescale.metering.transformers.batch import Batch
from telescale.metering.transformers.rate import Delta, RateOfChange
from telescale.metering.transformers.scale import UnitConversion

__all__ = ["KINDS", "Transformer", "build"]

KINDS: dict[str, Callable[[Options], Transformer]] = {
    "rate_of_change": RateOfChange,
    "unit_conversion": UnitConversion,
    "delta": Delta,
    "arithmetic": Arithmetic,
    "batch": Batch,
    "accumulator": Batch,
}


def build(config: Mapping[str, Any]) -> Transformer:
    """A transformer from its mapping; :class:`ValueError` names the bad key."""
    if not isinstance(config, Mapping):
        raise ValueError(f"transformer: must be a mapping with a name, got {config!r}")
    name = config.get("name")
    if name not in KINDS:
        raise ValueError(f"transformer: name: must be one of {', '.join(KINDS)}, got {name!r}")
    return KINDS[name](Options(name, config))
