"""The BLE family (a builtin plugin): Bluetooth LE on bleak (BlueZ)."""

from __future__ import annotations

from typing import Any

from smartbuild.hookspecs import hookimpl


@hookimpl
def register_transports(register: Any) -> None:
    """Register the ble transport (bleak loads on first use)."""
    from smartbuild.transports.ble.transport import BleTransport

    register("ble", BleTransport)
