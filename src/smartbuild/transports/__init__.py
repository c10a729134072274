"""Builtin transports (a builtin plugin): Modbus TCP/RTU, BLE and mDNS."""

from __future__ import annotations

from typing import Any

from smartbuild.hookspecs import hookimpl


@hookimpl
def register_transports(register: Any) -> None:
    """Register the builtin transports (their protocol libraries load on first use)."""
    from smartbuild.transports.ble.transport import BleTransport
    from smartbuild.transports.mdns.transport import MdnsTransport
    from smartbuild.transports.modbus.transport import ModbusRtuTransport, ModbusTcpTransport

    register("modbus-tcp", ModbusTcpTransport)
    register("modbus-rtu", ModbusRtuTransport)
    register("ble", BleTransport)
    register("mdns", MdnsTransport)
