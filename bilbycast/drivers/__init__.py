"""Device drivers: pure, I/O-free knowledge of each device type (product.md §6–§7).

Import the contract from `bilbycast.drivers.base` and the registry from
`bilbycast.drivers.registry`; each built-in type lives in its own module exposing `DRIVER`.
"""

from .base import ActionError, CommandSpec, Driver
from .registry import BUILTIN_DRIVER_MODULES, DriverRegistry, default_registry

__all__ = ["ActionError", "CommandSpec", "Driver", "DriverRegistry", "BUILTIN_DRIVER_MODULES",
           "default_registry"]
