"""Which member drivers exist, by the ``type`` a group's ``member_driver`` names."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from telescale.scaling.drivers.base import DriverContext, DriverError, MemberDriver
from telescale.scaling.drivers.heat import HeatDriver
from telescale.scaling.drivers.nova import NovaDriver
from telescale.scaling.drivers.process import ProcessDriver
from telescale.scaling.drivers.webhook import WebhookDriver

DRIVERS: Mapping[str, type[MemberDriver]] = MappingProxyType(
    {driver.kind: driver for driver in (WebhookDriver, ProcessDriver, HeatDriver, NovaDriver)})


def driver_class(spec: Mapping[str, Any]) -> type[MemberDriver]:
    if not isinstance(spec, Mapping):
        raise DriverError(f"member_driver must be an object whose \"type\" is one of {', '.join(sorted(DRIVERS))}")
    kind = spec.get("type")
    if kind not in DRIVERS:
        raise DriverError(f"member_driver.type must be one of {', '.join(sorted(DRIVERS))}, not {kind!r}")
    return DRIVERS[kind]


def validate_driver(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``{"type": …, options…}`` with the options normalised; ``DriverError`` naming the known types."""
    cls = driver_class(spec)
    return {"type": cls.kind, **cls.validate(spec)}


def build_driver(spec: Mapping[str, Any], context: DriverContext) -> MemberDriver:
    cls = driver_class(spec)
    return cls(spec, context)
