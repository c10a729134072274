"""`smartbuild read`, `write` and `watch`: typed point values through the device templates."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from smartbuild.cli import App, get_app
from smartbuild.commands import FiniteFloat
from smartbuild.complete import complete_device, complete_zone
from smartbuild.errors import ExitStatus, UsageError

if TYPE_CHECKING:
    from smartbuild.transports.base import Device, Reading


def format_value(reading: Reading) -> str:
    """Return a reading as people read it: value, unit, enum label."""
    if not reading.ok:
        return f"[red]error: {reading.error}[/red]"
    value = reading.value
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if reading.unit:
        text += f" {reading.unit}"
    if reading.text:
        text += f" ({reading.text})"
    return text


def readings_exit(readings: Sequence[Reading]) -> int:
    """Return 0 when all were read, 3 when none was, 4 when some failed."""
    failed = sum(not r.ok for r in readings)
    if not failed:
        return int(ExitStatus.OK)
    return int(ExitStatus.UNREACHABLE if failed == len(readings) else ExitStatus.PARTIAL)


def _points_of(device: Device, names: Sequence[str]) -> list[str]:
    return list(names) or list(device.template.points)


def read_devices(
    app: App, requests: list[tuple[Device, list[str]]]
) -> tuple[list[Reading], dict[str, Any]]:
    """Read several devices concurrently; return the readings and per-device counters."""
    from smartbuild.aio import run_sync
    from smartbuild.devices import Connections

    async def go() -> tuple[list[Reading], dict[str, Any]]:
        async with Connections(app) as conns:
            by_device = await conns.read_many(requests)
            return [r for d, _ in requests for r in by_device[d.id]], conns.stats()

    return run_sync(go())


def show_readings(app: App, readings: Sequence[Reading], stats: dict[str, Any]) -> None:
    """Print readings as a table, or as JSON with per-device counters."""
    if app.output.json_mode:
        app.output.emit_json({"readings": list(readings), "devices": stats})
        return
    from rich.table import Table

    table = Table()
    for column in ("device", "point", "value"):
        table.add_column(column)
    for r in readings:
        table.add_row(r.device, r.point, format_value(r))
    app.output.print(table)


@click.command()
@click.argument("device", required=False, shell_complete=complete_device)
@click.argument("points", nargs=-1)
@click.option(
    "--zone",
    "zones",
    multiple=True,
    shell_complete=complete_zone,
    help="Read every device of a zone.",
)
@click.option(
    "--raw", "raw_target", metavar="HOST[:PORT]", help="Read a Modbus device without a template."
)
@click.option(
    "--unit", type=click.IntRange(0, 255), default=1, show_default=True, help="With --raw: unit id."
)
@click.option(
    "--table",
    type=click.Choice(["holding", "input", "coil", "discrete"]),
    default="holding",
    show_default=True,
    help="With --raw: register table.",
)
@click.option(
    "--address", type=int, help="With --raw: PDU address, or Modicon (40001) with --modicon."
)
@click.option(
    "--modicon",
    is_flag=True,
    help="With --raw: --address is in Modicon notation (40001 = holding 0).",
)
@click.option(
    "--count",
    type=click.IntRange(1, 125),
    default=1,
    show_default=True,
    help="With --raw: registers to read.",
)
@click.option(
    "--type",
    "dtype",
    default="uint16",
    show_default=True,
    help="With --raw: int16, uint16, int32, uint32, int64, uint64, float32, float64, string, bits.",
)
@click.option(
    "--word-order",
    type=click.Choice(["ABCD", "CDAB", "BADC", "DCBA"]),
    default="ABCD",
    show_default=True,
    help="With --raw: word/byte order.",
)
@click.option(
    "--timeout",
    type=FiniteFloat(min=0.01, max=60),
    default=1.0,
    show_default=True,
    help="With --raw: seconds to wait for an answer.",
)
def read(
    device: str | None, points: tuple[str, ...], zones: tuple[str, ...], raw_target: str | None,
    unit: int, table: str, address: int | None, modicon: bool, count: int, dtype: str,
    word_order: str, timeout: float,
) -> None:  # fmt: skip
    """Read typed point values (with units) from devices of the site."""
    app = get_app()
    if raw_target:
        from smartbuild.commands.modbus_tools import raw_read

        if address is None:
            raise UsageError(
                "--raw needs --address", hint="e.g. --address 40001 --modicon or --address 0"
            )
        if device:
            raise UsageError("give either a DEVICE or --raw HOST[:PORT], not both")
        raw_read(app, raw_target, unit, table, address, modicon, count, dtype, word_order, timeout)
        return
    from smartbuild.devices import select_devices

    if device is None and not zones:
        raise UsageError("name a DEVICE (or --zone Z)", hint="`smartbuild devices` lists them")
    chosen = select_devices(app, [device] if device else [], zones)
    requests = [(d, _points_of(d, points if device else ())) for d in chosen]
    for d, names in requests:
        for name in names:
            d.point(name)
    readings, stats = read_devices(app, requests)
    show_readings(app, readings, stats)
    code = readings_exit(readings)
    if code:
        click.get_current_context().exit(code)


def parse_value(device: Device, point: str, text: str) -> Any:
    """Parse a value typed by a person: a number, an enum label, on/off for bits."""
    spec = device.point(point)
    if spec.enum:
        for key, label in spec.enum.items():
            if text.lower() == str(label).lower():
                return key
    if spec.table in ("coil", "discrete") or spec.type == "bits":
        lowered = text.lower()
        if lowered in ("on", "true", "1", "yes"):
            return True
        if lowered in ("off", "false", "0", "no"):
            return False
    if spec.type == "string" or spec.ble_format == "utf8":
        return text
    try:
        number = float(text)
    except ValueError:
        labels = f" or one of {', '.join(map(str, spec.enum.values()))}" if spec.enum else ""
        raise UsageError(f"{text!r} is not a number{labels}") from None
    return (
        int(number)
        if number.is_integer() and spec.scale == 1 and "float" not in spec.type
        else number
    )


@click.command()
@click.argument("device", shell_complete=complete_device)
@click.argument("point")
@click.argument("value")
@click.option("--yes", "-y", is_flag=True, help="Write without asking (needed without a terminal).")
def write(device: str, point: str, value: str, yes: bool) -> None:
    """Write one point in engineering units: bounds-checked, confirmed, read back, journaled."""
    from smartbuild.aio import run_sync
    from smartbuild.apply import Run, WriteRequest, apply_writes, bounds_problems, confirm
    from smartbuild.devices import Connections, select_devices
    from smartbuild.errors import DeviceError, PartialFailure, SafetyRefusal

    app = get_app()
    dev = select_devices(app, [device])[0]
    spec = dev.point(point)
    target = parse_value(dev, point, value)
    problems = bounds_problems(dev, point, target)
    if problems:
        raise SafetyRefusal("refused: " + "; ".join(problems), hint="nothing was written")
    unit = f" {spec.unit}" if spec.unit else ""
    confirm(
        app, f"write {target}{unit} to {dev.id}.{point} ({dev.transport} {dev.spec.address})?", yes
    )

    async def go() -> Any:
        async with Connections(app) as conns:
            with Run(app, f"write {dev.id} {point} {value}") as run:
                outcome = (
                    await apply_writes(
                        run, conns, [WriteRequest(dev, point, target, "manual write")]
                    )
                )[0]
                run.status = {"written": "ok", "unchanged": "ok"}.get(
                    outcome.status, outcome.status
                )
                return run.id, outcome

    run_id, outcome = run_sync(go())
    if app.output.json_mode:
        app.output.emit_json({"run": run_id, "outcome": outcome})
    else:
        verb = {
            "written": "[green]written and verified[/green]",
            "unchanged": "already at that value: nothing written",
        }
        app.output.print(
            f"{dev.id}.{point}: {outcome.before} → {outcome.requested}{unit}: "
            f"{verb.get(outcome.status, outcome.status)} (run {run_id})"
        )
    if outcome.status == "failed":
        # the transport's message names the device already; DeviceError adds the name again
        cause = (outcome.message or "write failed").removeprefix(f"{dev.id}: ")
        raise DeviceError(dev.id, cause, hint=f"`smartbuild log --run {run_id}`")
    if outcome.status == "unverified":
        raise PartialFailure(
            f"{dev.id}.{point}: {outcome.message}", hint=f"`smartbuild log --run {run_id}`"
        )


@click.command()
@click.argument("device_ids", nargs=-1, shell_complete=complete_device)
@click.option(
    "--zone",
    "zones",
    multiple=True,
    shell_complete=complete_zone,
    help="Watch every device of a zone.",
)
@click.option(
    "--interval",
    type=FiniteFloat(min=0.05),
    help="Refresh every N seconds (default: each point's poll interval).",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after N refreshes.")
@click.option("--duration", type=FiniteFloat(min=0), help="Stop after N seconds.")
def watch(
    device_ids: tuple[str, ...], zones: tuple[str, ...], interval: float | None,
    count: int | None, duration: float | None,
) -> None:  # fmt: skip
    """Follow point values live (a table on a terminal, JSON Lines with --json)."""
    from smartbuild.aio import run_sync
    from smartbuild.devices import select_devices
    from smartbuild.watching import watch_loop

    app = get_app()
    chosen = select_devices(app, device_ids, zones)
    if not chosen:
        raise UsageError("no devices to watch", hint="the site has no enabled devices")
    deadline = time.monotonic() + duration if duration is not None else None
    run_sync(watch_loop(app, chosen, interval=interval, count=count, deadline=deadline))
