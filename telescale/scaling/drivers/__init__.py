"""Member drivers: how a scaling group's capacity becomes running members (webhook, process, heat, nova)."""

from telescale.scaling.drivers.base import (
    ActuationFailed,
    DriverContext,
    DriverError,
    MemberDriver,
    Resized,
)
from telescale.scaling.drivers.registry import DRIVERS, build_driver, validate_driver

__all__ = ["DRIVERS", "ActuationFailed", "DriverContext", "DriverError", "MemberDriver", "Resized", "build_driver",
           "validate_driver"]
