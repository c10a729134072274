"""Field tools for Modbus devices without a template: `read --raw` and `probe`."""

from __future__ import annotations

from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.commands import FiniteFloat
from smartbuild.errors import DeviceError, ExitStatus, UnreachableError, UsageError


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
        # the device answered, but nothing was read: exit 3 like a read that reached nothing
        raise DeviceError(
            f"{target} unit {unit}", str(error), exit_status=ExitStatus.UNREACHABLE
        ) from None
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
@click.option("--address", type=int, help="PDU address (or Modicon with --modicon).")
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
@click.option(
    "--infer", is_flag=True, help="Scan holding and input ranges and guess the register map."
)
@click.option("--range", "ranges", multiple=True, metavar="[TABLE:]A-B",
              help="--infer: addresses to scan (repeatable; default 0-399 and holding:40000-40199).")  # fmt: skip
@click.option("--reads", type=click.IntRange(1, 20), default=3, show_default=True,
              help="--infer: reads of the served registers (stability, counters).")  # fmt: skip
@click.option("--interval", type=FiniteFloat(min=0, max=60), default=1.0, show_default=True,
              help="--infer: seconds between reads.")  # fmt: skip
@click.option("--max-requests", type=click.IntRange(10, 10_000), default=600, show_default=True,
              help="--infer: request budget.")  # fmt: skip
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="--infer: write the proposed template YAML to this file.")  # fmt: skip
def probe(
    target: str, unit: int, address: int | None, modicon: bool, count: str, table: str,
    timeout: float, infer: bool, ranges: tuple[str, ...], reads: int, interval: float,
    max_requests: int, output: str | None,
) -> None:  # fmt: skip
    """Decode registers in all four word orders, for undocumented register maps.

    With --infer, scan holding and input ranges and propose a whole register map instead.
    """
    from smartbuild.aio import run_sync
    from smartbuild.transports.modbus import codec as modbus_codec
    from smartbuild.transports.modbus.transport import ModbusExceptionResponse, quiet_pymodbus

    app = get_app()
    if infer:
        infer_map(app, target, unit, ranges, reads, interval, max_requests, timeout, output, None,
                  table_view=True)  # fmt: skip
        return
    if address is None:
        raise UsageError("probe needs --address (or --infer to scan a whole map)")
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
        # the device answered, but nothing was read: exit 3 like a read that reached nothing
        raise DeviceError(
            f"{target} unit {unit}", str(error), exit_status=ExitStatus.UNREACHABLE
        ) from None
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


def infer_map(
    app: App, target: str, unit: int, ranges: tuple[str, ...], reads: int, interval: float,
    max_requests: int, timeout: float, output: str | None, name: str | None, table_view: bool,
) -> None:  # fmt: skip
    """Scan a unit, infer its register map and write a proposed template (shared CLI body)."""
    from pathlib import Path

    from smartbuild.aio import run_sync
    from smartbuild.transports.modbus.infer import confidence
    from smartbuild.transports.modbus.infer_scan import (
        ScanPlan,
        infer_unit,
        parse_ranges,
        template_yaml,
    )
    from smartbuild.transports.modbus.transport import Link, quiet_pymodbus, split_host_port

    quiet_pymodbus(app.output.verbosity)
    host, port = split_host_port(target)
    plan = ScanPlan(parse_ranges(list(ranges) or DEFAULT_RANGES), reads=reads, interval=interval,
                    max_requests=max_requests)  # fmt: skip

    def factory() -> Any:
        from pymodbus.client import AsyncModbusTcpClient

        return AsyncModbusTcpClient(host, port=port, timeout=timeout, retries=0, reconnect_delay=0)

    async def go() -> Any:
        link = Link(f"{host}:{port}", factory, connect_delay_s=0, pause_s=0)
        try:
            return await infer_unit(link, unit, plan)
        finally:
            link.close()

    app.output.info(f"scanning {host}:{port} unit {unit}: {', '.join(list(ranges) or DEFAULT_RANGES)}, "
                    f"{reads} reads, at most {max_requests} requests")  # fmt: skip
    result = run_sync(go())
    if result.error and not any(result.served.values()):
        raise UnreachableError(f"{host}:{port} unit {unit}: {result.error}",
                               hint="check the address, port and unit id")  # fmt: skip
    if result.error:
        app.output.warn(f"{host}:{port} unit {unit} stopped answering: {result.error}; "
                        "the guesses below cover what was read before")  # fmt: skip
    if not any(result.served.values()):
        raise UnreachableError(
            f"{host}:{port} unit {unit} served no register in the ranges scanned "
            f"({result.requests} requests)",
            hint="check the address and unit id, or widen --range",
        )
    slug = "".join(ch if ch.isalnum() else "-" for ch in f"{host}-{port}-u{unit}")
    text = template_yaml(result, name or f"inferred-{slug}", f"Inferred map of {host}:{port} unit {unit}",
                         f"{host}:{port} unit {unit}")  # fmt: skip
    if output:
        Path(output).write_text(text, encoding="utf-8")
        app.output.info(f"wrote {output}: {len(result.points)} points, {result.requests} requests")
    points = [{"table": c.table, "address": c.address, "type": c.type, "word_order": c.order,
               "scale": c.scale, "looks_like": c.quantity.name if c.quantity else None,
               "unit": c.quantity.unit if c.quantity else None, "values": list(c.values),
               "confidence": confidence(c), "notes": list(c.notes)} for c in result.points]  # fmt: skip
    if app.output.json_mode:
        app.output.emit_json({"target": f"{host}:{port}", "unit": unit, "requests": result.requests,
                              "served": result.served, "points": points, "template": text})  # fmt: skip
        return
    if not table_view:
        if not output:
            click.echo(text, nl=False)
        return
    from rich.markup import escape
    from rich.table import Table

    out = Table(title=f"{host}:{port} unit {unit}: {len(points)} points proposed, "
                      f"{result.requests} requests", title_justify="left")  # fmt: skip
    for column in (
        "table",
        "address",
        "type",
        "order",
        "scale",
        "looks like",
        "values",
        "confidence",
    ):
        out.add_column(column)
    for p in points:
        shown = ", ".join(_fmt(v) for v in p["values"])
        out.add_row(p["table"], str(p["address"]), p["type"], p["word_order"], f"{p['scale']:g}",
                    escape(f"{p['looks_like']} ({p['unit'] or '-'})"), shown, f"{p['confidence']:.2f}")  # fmt: skip
    app.output.print(out)


DEFAULT_RANGES = ["0-399", "holding:40000-40199"]
