"""Field tools for Modbus devices without a template: `read --raw` and `probe`."""

from __future__ import annotations

from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.commands import FiniteFloat
from smartbuild.errors import DeviceError, UnreachableError, UsageError


async def _raw(
    target: str, unit: int, table: str, address: int, count: int, timeout: float
) -> list[Any]:
    from smartbuild.transports.modbus.targets import parse_target
    from smartbuild.transports.modbus.transport import READ_FUNCTIONS, Link, NoAnswer

    host, port = parse_target(target, resolve=True)

    def factory() -> Any:
        from pymodbus.client import AsyncModbusTcpClient

        return AsyncModbusTcpClient(host, port=port, timeout=timeout, retries=0, reconnect_delay=0)

    link = Link(f"{host}:{port}", factory, connect_delay_s=0, pause_s=0)
    try:
        response = await link.call(READ_FUNCTIONS[table], address, count=count, device_id=unit)
    except NoAnswer as error:
        raise UnreachableError(f"{host}:{port} unit {unit}: {error}") from None
    finally:
        link.close()
    return list(response.bits[:count] if table in ("coil", "discrete") else response.registers)


def _table_and_pdu(table: str, address: int, modicon: bool) -> tuple[str, int]:
    """Return the table and PDU address to read; with --modicon the leading digit names the table.

    An explicit --table that disagrees with the digit is a usage error, not a silent choice.
    """
    if not modicon:
        return table, address
    from click.core import ParameterSource

    from smartbuild.transports.modbus.codec import modicon_address

    try:
        modicon_table, pdu = modicon_address(address)
    except ValueError as error:
        raise UsageError(f"--address {error}", hint="e.g. --address 30001 --modicon") from None
    source = click.get_current_context().get_parameter_source("table")
    if source not in (None, ParameterSource.DEFAULT) and table != modicon_table:
        raise UsageError(
            f"--address {address} --modicon is in the {modicon_table} table, not {table}",
            hint="drop --table: in Modicon notation the leading digit names the table",
        )
    return modicon_table, pdu


def raw_read(
    app: App, target: str, unit: int, table: str, address: int, modicon: bool, count: int,
    dtype: str, word_order: str, timeout: float,
) -> None:  # fmt: skip
    """Read registers from HOST[:PORT] and decode them as the given type."""
    from smartbuild.aio import run_sync
    from smartbuild.transports.modbus import codec as modbus_codec
    from smartbuild.transports.modbus.transport import ModbusExceptionResponse, quiet_pymodbus

    quiet_pymodbus(app.output.verbosity)
    table, pdu = _table_and_pdu(table, address, modicon)
    dtype_u = dtype.upper()
    if dtype_u not in modbus_codec.DATA_TYPES:
        raise UsageError(
            f"unknown type {dtype!r}",
            hint=f"one of {', '.join(t.lower() for t in modbus_codec.DATA_TYPES)}",
        )
    needed = modbus_codec.register_count(dtype_u, count if dtype_u in ("STRING", "BITS") else None)
    if table in ("holding", "input") and needed > count:
        count = needed
    try:
        values = run_sync(_raw(target, unit, table, pdu, count, timeout))
    except ModbusExceptionResponse as error:
        raise DeviceError(f"{target} unit {unit}", str(error)) from None
    decoded: Any = values
    if table in ("holding", "input"):
        decoded = modbus_codec.decode(
            values[:needed] if dtype_u not in ("STRING", "BITS") else values, dtype_u, word_order
        )
    data = {
        "target": target, "unit": unit, "table": table, "pdu_address": pdu, "count": count,
        "registers": values, "type": dtype, "word_order": word_order, "value": decoded,
    }  # fmt: skip
    if app.output.json_mode:
        app.output.emit_json(data)
        return
    words = " ".join(
        f"{v:#06x}" if isinstance(v, int) and not isinstance(v, bool) else str(v) for v in values
    )
    app.output.print(f"{target} unit {unit} {table} @ PDU {pdu} ×{count}: {words}")
    app.output.print(f"as {dtype} {word_order}: [bold]{decoded}[/bold]")


@click.command()
@click.argument("target", metavar="HOST[:PORT]")
@click.option("--unit", type=click.IntRange(0, 255), default=1, show_default=True, help="Unit id.")
@click.option("--address", type=int, required=True, help="PDU address (or Modicon with --modicon).")
@click.option(
    "--modicon",
    is_flag=True,
    help="--address is in Modicon notation, whose first digit names the table "
    "(30001 = input 0, 40001 = holding 0).",
)
@click.option(
    "--count", type=click.Choice(["2", "4"]), default="2", show_default=True, help="Registers."
)
@click.option(
    "--table", type=click.Choice(["holding", "input"]), default="holding", show_default=True
)
@click.option(
    "--timeout",
    type=FiniteFloat(min=0.01, max=60),
    default=1.0,
    show_default=True,
    help="Seconds to wait.",
)
def probe(
    target: str, unit: int, address: int, modicon: bool, count: str, table: str, timeout: float
) -> None:
    """Decode registers in all four word orders, for undocumented register maps."""
    from smartbuild.aio import run_sync
    from smartbuild.transports.modbus import codec as modbus_codec
    from smartbuild.transports.modbus.transport import ModbusExceptionResponse, quiet_pymodbus

    app = get_app()
    quiet_pymodbus(app.output.verbosity)
    table, pdu = _table_and_pdu(table, address, modicon)
    if table not in ("holding", "input"):
        raise UsageError(
            f"--address {address} --modicon is in the {table} table; probe decodes registers",
            hint=f"read bits with `smartbuild read --raw {target} --address {address} --modicon`",
        )
    try:
        registers = run_sync(_raw(target, unit, table, pdu, int(count), timeout))
    except ModbusExceptionResponse as error:
        raise DeviceError(f"{target} unit {unit}", str(error)) from None
    table_data = modbus_codec.decode_all_orders(registers)
    if app.output.json_mode:
        app.output.emit_json(
            {
                "target": target,
                "unit": unit,
                "table": table,
                "pdu_address": pdu,
                "registers": registers,
                "decoded": table_data,
            }
        )
        return
    from rich.table import Table

    out = Table(
        title=f"{target} unit {unit} {table} @ PDU {pdu}: "
        + " ".join(f"{r:#06x}" for r in registers),
        title_justify="left",
    )
    out.add_column("type")
    orders = list(next(iter(table_data.values())))
    for order in orders:
        out.add_column(order, justify="right")
    for dtype, by_order in table_data.items():
        out.add_row(dtype.lower(), *(_fmt(by_order[o]) for o in orders))
    app.output.print(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
