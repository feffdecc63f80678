"""The set of device drivers the manager knows (product.md §6).

A new device type is one new module exposing a module-level `DRIVER` (a `Driver` instance),
added to `BUILTIN_DRIVER_MODULES` — or registered into a registry by whoever builds it. Nothing
else in the manager changes: every route, page and check asks the registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from .base import ActionError, Driver

BUILTIN_DRIVER_MODULES = ("bilbycast.drivers.edge", "bilbycast.drivers.relay", "bilbycast.drivers.appear_x")
BUILTIN_DRIVERS = BUILTIN_DRIVER_MODULES   # the name product.md §6 uses

# How the UI draws a node whose device type has no driver (product.md §6).
GENERIC_STYLE = {"color": "#94a3b8", "accent": None, "icon": "generic"}


class DriverRegistry:
    def __init__(self, drivers: Iterable[Driver] = ()) -> None:
        self._drivers: dict[str, Driver] = {}
        for driver in drivers:
            self.register(driver)

    def register(self, driver: Driver) -> Driver:
        """Add a driver; a duplicate device type is a startup error."""
        if not isinstance(driver, Driver):
            raise TypeError(f"not a Driver: {driver!r}")
        if driver.device_type in self._drivers:
            raise ValueError(f"duplicate driver for device type {driver.device_type!r}")
        self._drivers[driver.device_type] = driver
        return driver

    def register_module(self, module_name: str) -> Driver:
        module = importlib.import_module(module_name)
        driver = getattr(module, "DRIVER", None)
        if driver is None:
            raise ValueError(f"driver module {module_name} has no DRIVER")
        return self.register(driver)

    def get(self, device_type: str) -> Driver | None:
        return self._drivers.get(device_type)

    def require(self, device_type: str) -> Driver:
        """The driver, or the refusal every command to an unknown type gets (422 unknown_action)."""
        driver = self._drivers.get(device_type)
        if driver is None:
            raise ActionError(422, "unknown_action", f"No driver for device type {device_type!r}; "
                                                     "commands to this node are refused")
        return driver

    def __contains__(self, device_type: object) -> bool:
        return device_type in self._drivers

    def device_types(self) -> list[str]:
        return sorted(self._drivers)

    def all(self) -> list[Driver]:
        return [self._drivers[name] for name in sorted(self._drivers)]

    def describe_all(self) -> dict:
        """The body of GET /api/v1/device-types (api.md §7.4)."""
        return {"device_types": [driver.describe() for driver in self.all()]}


def default_registry(modules: Iterable[str] = BUILTIN_DRIVER_MODULES) -> DriverRegistry:
    registry = DriverRegistry()
    for name in modules:
        registry.register_module(name)
    return registry
