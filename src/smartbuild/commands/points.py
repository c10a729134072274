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
    from smartbuild.model.device import Device, Reading


def format_value(reading: Reading) -> str:
    """Return a reading as people read it (rich markup): value, unit, enum label."""
    from smartbuild.console import escape

    if not reading.ok:
        return f"[red]error: {escape(str(reading.error))}[/red]"
    value = reading.value
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if reading.unit:
        text += f" {reading.unit}"
    if reading.text:
        text += f" ({reading.text})"
    return escape(text)


def readings_exit(readings: Sequence[Reading]) -> int:
    """Return 0 when all were read, 3 when none was, 4 when some failed."""
    failed = sum(not r.ok for r in readings)
    if not failed:
        return int(ExitStatus.OK)
    return int(ExitStatus.UNREACHABLE if failed == len(readings) else ExitStatus.PARTIAL)


def _points_of(device: Device, names: Sequence[str], show_all: bool = True) -> list[str]:
    """Return the points asked for, or every point (scale-factor helpers only with --all)."""
    if names:
        return list(names)
    helpers = {getattr(p, "sf", None) for p in device.template.points.values()} - {None}
    return [n for n in device.template.points if show_all or n not in helpers]


def read_devices(
    app: App, requests: list[tuple[Device, list[str]]]
) -> tuple[list[Reading], dict[str, Any]]:
    """Read several devices concurrently; return the readings and per-device counters."""
    result = app.run(lambda session: session.read(requests))
    return result.readings, result.stats


def show_readings(app: App, readings: Sequence[Reading], stats: dict[str, Any]) -> None:
    """Print readings as a table, or as JSON with per-device counters."""
    if app.output.json_mode:
        app.output.emit_json({"readings": list(readings), "devices": stats})
        return
    from rich.table import Table

    table = Table()
    for column in ("device", "point", "value"):
        table.add_column(column)
    from smartbuild.console import escape

    for r in readings:
        table.add_row(escape(r.device), escape(r.point), format_value(r))
    app.output.print(table)


@click.command()
@click.argument("device", required=False, shell_complete=complete_device)
@click.argument("points", nargs=-1)
@click.option(
    "--all", "show_all", is_flag=True, help="Also show scale-factor helper points (SunSpec *_SF)."
)
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
    help="With --raw: --address is in Modicon notation; its first digit picks the table (40001 = holding 0, 30001 = input 0).",
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
    device: str | None, points: tuple[str, ...], show_all: bool, zones: tuple[str, ...],
    raw_target: str | None,
    unit: int, table: str, address: int | None, modicon: bool, count: int, dtype: str,
    word_order: str, timeout: float,
) -> None:  # fmt: skip
    """Read typed point values (with units) from devices of the site."""
    app = get_app()
    if raw_target is not None:
        from smartbuild.commands.modbus_tools import raw_read

        if address is None:
            raise UsageError(
                "--raw needs --address", hint="e.g. --address 40001 --modicon or --address 0"
            )
        if device:
            raise UsageError("give either a DEVICE or --raw HOST[:PORT], not both")
        raw_read(app, raw_target, unit, table, address, modicon, count, dtype, word_order, timeout)
        return
    if device is None and not zones:
        raise UsageError("name a DEVICE (or --zone Z)", hint="`smartbuild devices` lists them")
    ids = [device] if device else []
    # plain=True: on a warm config cache the devices come as plain data (no schema is imported)
    session = app.session
    if device and points and set(points) <= set(session.device_ids()):
        (first,) = session.select([device], plain=True)
        if not any(p in first.template.points for p in points):
            ids, points = [device, *points], ()  # `read DEV1 DEV2`: several devices, like watch
    chosen = session.select(ids, zones, plain=True)
    requests = [(d, _points_of(d, points if ids and points else (), show_all)) for d in chosen]
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
    kind = spec.value_kind()
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("on", "true", "1", "yes"):
            return True
        if lowered in ("off", "false", "0", "no"):
            return False
    if kind == "text":
        return text
    try:
        number = float(text)  # nan and inf pass here: the bounds refuse them (exit 5)
    except ValueError:
        from smartbuild.model.quantity import parse_quantity

        try:  # "21.5°C", "70 °F": converted into the point's unit; "21,5" gets a hint
            number = parse_quantity(text, spec.unit)
        except ValueError as error:
            labels = f" (or one of {', '.join(map(str, spec.enum.values()))})" if spec.enum else ""
            raise UsageError(f"{error}{labels}") from None
    return int(number) if number.is_integer() and spec.scale == 1 and kind == "integer" else number


@click.command()
@click.argument("device", shell_complete=complete_device)
@click.argument("point")
@click.argument("value")
@click.option("--yes", "-y", is_flag=True, help="Write without asking (needed without a terminal).")
@click.option(
    "--wait",
    type=FiniteFloat(0, 3600),
    default=0.0,
    show_default=True,
    help="Seconds to wait for another run's write lease on a device before refusing (exit 5).",
)
def write(device: str, point: str, value: str, yes: bool, wait: float) -> None:
    """Write one point in engineering units: bounds-checked, confirmed, read back, journaled."""
    from smartbuild.model.writes import WriteStatus

    app = get_app()
    app.session.lease_wait_s = wait
    dev = app.session.select([device])[0]
    spec = dev.point(point)
    target = parse_value(dev, point, value)
    unit = f" {spec.unit}" if spec.unit else ""
    run_id, outcome = app.run(
        lambda session: session.write(
            dev, point, target, confirm=app.confirm(yes), command=f"write {dev.id} {point} {value}"
        )
    )
    status = outcome.status
    if app.output.json_mode:
        app.output.emit_json({"run": run_id, "outcome": outcome})
    else:
        verb = {
            WriteStatus.WRITTEN: "[green]written and verified[/green]",
            WriteStatus.UNCHANGED: "already at that value: nothing written",
        }
        before = "?" if outcome.before is None else escape_value(outcome.before)
        app.output.print(
            f"{escape_value(dev.id)}.{escape_value(point)}: {before} → "
            f"{escape_value(outcome.requested)}{unit}: {verb.get(status, str(status))} (run {run_id})"
        )
    code = write_exit_status(outcome)
    if code:
        if not app.output.json_mode:  # JSON: the one document above says it all
            cause = (outcome.message or str(status)).removeprefix(f"{dev.id}: ")
            app.output.error(
                f"{dev.id}.{point}: {status}: {cause}", f"`smartbuild log --run {run_id}`"
            )
        click.get_current_context().exit(code)


def write_exit_status(outcome: Any) -> int:
    """Return the exit status of one write: 0 done, 3 unreachable, 5 refused, 4 failed."""
    from smartbuild.model.writes import WriteStatus

    status = outcome.status
    if status.ok:
        return int(ExitStatus.OK)
    if status == WriteStatus.REFUSED and outcome.cause == "unreachable":
        return int(ExitStatus.UNREACHABLE)
    if status in (WriteStatus.REFUSED, WriteStatus.CONFLICT):
        return int(ExitStatus.REFUSED)
    return int(ExitStatus.PARTIAL)  # rejected, unknown, reverted: the write did not hold


def escape_value(value: Any) -> str:
    """Return a value for display (device text escaped)."""
    from smartbuild.console import escape

    return escape(f"{value:g}" if isinstance(value, float) else str(value))


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
    app = get_app()
    chosen = app.session.select(device_ids, zones)
    if not chosen:
        raise UsageError("no devices to watch", hint="the site has no enabled devices")
    deadline = time.monotonic() + duration if duration is not None else None
    read_any = app.run(lambda session: _watch(app, session, chosen, interval, count, deadline))
    if not read_any:  # like read: nothing reachable is exit 3, not a quiet success
        click.get_current_context().exit(int(ExitStatus.UNREACHABLE))


async def _watch(
    app: App, session: Any, devices: Sequence[Device], interval: float | None,
    count: int | None, deadline: float | None,
) -> bool:  # fmt: skip
    """Show refreshes until count or deadline; return True when any point was read."""
    out = app.output
    read_any = False
    latest: dict[tuple[str, str], Reading] = {}
    live = None
    if not out.json_mode and out.out.is_terminal:  # a live table; else the final one, once
        from rich.live import Live

        live = Live(_watch_table(latest), console=out.out, auto_refresh=False, transient=False)
        live.start()
    try:
        async for batch in session.watch(
            devices, interval=interval, count=count, deadline=deadline
        ):
            for reading in batch:
                latest[(reading.device, reading.point)] = reading
                read_any = read_any or reading.ok
            if out.json_mode:
                out.emit_jsonl(batch)
            elif live is not None:
                live.update(_watch_table(latest), refresh=True)
    finally:
        if live is not None:
            live.stop()
        elif not out.json_mode and latest:  # no terminal: the final table, once
            out.print(_watch_table(latest))
    return read_any


def _watch_table(latest: dict[tuple[str, str], Reading]) -> Any:
    from rich.table import Table

    from smartbuild.console import escape

    table = Table(title=f"watching {len(latest)} points (Ctrl-C to stop)", title_justify="left")
    for column in ("device", "point", "value", "age"):
        table.add_column(column)
    now = time.time()
    for (device, point), reading in sorted(latest.items()):
        table.add_row(
            escape(device), escape(point), format_value(reading), f"{now - reading.time:.0f}s"
        )
    return table
