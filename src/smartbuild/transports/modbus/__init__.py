"""The Modbus family (a builtin plugin): Modbus TCP and RTU transports on pymodbus."""

from __future__ import annotations

from typing import Any

from smartbuild.hookspecs import hookimpl


@hookimpl
def register_transports(register: Any) -> None:
    """Register modbus-tcp and modbus-rtu (pymodbus loads on first use)."""
    from smartbuild.transports.modbus.transport import ModbusRtuTransport, ModbusTcpTransport

    register("modbus-tcp", ModbusTcpTransport)
    register("modbus-rtu", ModbusRtuTransport)
