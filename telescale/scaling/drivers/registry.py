"""Which member drivers exist, by the ``type`` a group's ``member_driver`` names.

A driver's module is imported the first time a group uses it: the ``nova`` driver pulls in openstacksdk,
which every API worker would otherwise load at start for nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from telescale.scaling.drivers.base import DriverContext, DriverError, MemberDriver

#: type → "module:class" of its driver.
DRIVERS: Mapping[str, str] = {
    "webhook": "telescale.scaling.drivers.webhook:WebhookDriver",
    "process": "telescale.scaling.drivers.process:ProcessDriver",
    "heat": "telescale.scaling.drivers.heat:HeatDriver",
    "nova": "telescale.scaling.drivers.nova:NovaDriver",
}


def driver_class(spec: Mapping[str, Any]) -> type[MemberDriver]:
    if not isinstance(spec, Mapping):
        raise DriverError(f"member_driver must be an object whose \"type\" is one of {', '.join(sorted(DRIVERS))}")
    kind = spec.get("type")
    if kind not in DRIVERS:
        raise DriverError(f"member_driver.type must be one of {', '.join(sorted(DRIVERS))}, not {kind!r}")
    module, _, name = DRIVERS[kind].partition(":")
    cls: type[MemberDriver] = getattr(importlib.import_module(module), name)
    return cls


def validate_driver(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``{"type": …, options…}`` with the options normalised; ``DriverError`` naming the known types."""
    cls = driver_class(spec)
    return {"type": cls.kind, **cls.validate(spec)}


def build_driver(spec: Mapping[str, Any], context: DriverContext) -> MemberDriver:
    cls = driver_class(spec)
    return cls(spec, context)
