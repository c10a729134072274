"""`smartbuild sim`: run a simulated building on loopback until Ctrl-C."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.errors import UsageError


def parse_start(text: str | None) -> dt.datetime | None:
    """Parse --start (site-local "2026-01-15 09:00" or ISO with offset); None means now."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"invalid --start {text!r}", hint='write e.g. --start "2026-01-15 09:00"'
        ) from None


def instructions(state: dict[str, Any]) -> list[str]:
    """Return how to point smartbuild at a running simulator, one line each."""
    modbus, mdns, ble = state["modbus"], state.get("mdns"), state.get("ble")
    site = state.get("site_file")
    units = modbus["units"]
    unit_text = f"{units[0]}-{units[-1]}" if len(units) > 1 else str(units[0])
    lines = [
        f"[bold]smartbuild sim[/bold] · {state['zones']} zones · {state['devices']} devices · "
        f"speed {state['speed']:g}× · simulated time {state['sim_time'][:16].replace('T', ' ')}",
        f"  Modbus TCP  {modbus['devices']} devices on {modbus['range']}"
        + (f" (gateway {modbus['gateway']}: RS-485 units behind it)" if modbus["gateway"] else ""),
    ]
    water = state.get("water")
    if water:
        lines.append(f"  water       meter, valve and leak detector (leak {water['leak_lph']:g} L/h, "
                     f"burst {water['burst_m3h']:g} m³/h)")  # fmt: skip
    if mdns:
        lines.append(f"  mDNS        {len(mdns['services'])} services on {mdns['interface']}")
    if ble:
        lines.append(f"  BLE         {len(ble['devices'])} sensors on a private D-Bus")
    bacnet = state.get("bacnet")
    if bacnet:
        where = ", ".join(d["address"] for d in bacnet["devices"])
        lines.append(f"  BACnet/IP   {len(bacnet['devices'])} controllers on {where}")
    if site:
        lines.append(f"  site file   {site}")
    discover = f"smartbuild discover --modbus {modbus['range']} --units {unit_text}"
    if mdns:
        discover += f" --mdns --interface {mdns['interface']}"
    if ble:
        discover += " --ble --duration 3"
    for device in (bacnet or {}).get("devices", []):
        discover += f" --bacnet-target {device['address']}"
    lines += ["", "Point smartbuild at it:"]
    if site:
        lines.append(f"  export SMARTBUILD_SITE={site}")
    if ble:
        lines.append(f"  export DBUS_SYSTEM_BUS_ADDRESS={ble['bus_address']}")
    lines += [
        "  smartbuild devices",
        "  smartbuild read th-z01",
        f"  {discover}",
        f'  smartbuild profile plan office-en16798-cat2 --at "{state["sim_time"][:16]}"',
        "Ctrl-C stops the simulator.",
    ]
    return lines


async def _serve(app: App, options: Any) -> None:
    import asyncio
    import signal
    import sys

    from smartbuild.sim.serve import Simulator

    out = app.output
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # background jobs ignore SIGINT: handle both
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Simulator(options, notice=out.warn) as simulator:
            state = simulator.state
            if out.json_mode:
                out.emit_json(state)
            else:
                for line in instructions(state):
                    out.print(line, soft_wrap=True)
            (out.stdout or sys.stdout).flush()  # a parent waiting on our output sees it now
            await simulator.run(stop)
            writes = simulator.applied_writes
        out.info(f"simulator stopped: {writes} client writes applied, everything shut down")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@click.command()
@click.option(
    "--zones",
    type=int,
    default=12,
    show_default=True,
    help="Zones (1-1000), each with a thermostat and a CO2 sensor.",
)
@click.option("--kind", type=click.Choice(["office", "home", "school", "hotel"]), default="office",
              show_default=True, help="Use of the zones (occupancy, loads, default setpoints).")  # fmt: skip
@click.option(
    "--speed",
    type=float,
    default=60.0,
    show_default=True,
    help="Simulated seconds per wall-clock second.",
)
@click.option(
    "--start",
    "start_text",
    help='Simulated start time, e.g. "2026-01-15 09:00" (Europe/Berlin); default now.',
)
@click.option("--site-out", type=click.Path(dir_okay=False, path_type=Path), default=Path("sim-site.yaml"),
              show_default=True, help="Write the site file of the building here.")  # fmt: skip
@click.option(
    "--base",
    default="127.0.2.1",
    show_default=True,
    help="First loopback address of the Modbus devices.",
)
@click.option(
    "--port", type=int, default=5020, show_default=True, help="Modbus TCP port of every device."
)
@click.option(
    "--ble/--no-ble",
    default=None,
    help="Simulate BLE sensors (default: when dbus-daemon is installed).",
)
@click.option(
    "--mdns/--no-mdns",
    default=True,
    show_default=True,
    help="Announce devices over mDNS on 127.0.0.1.",
)
@click.option(
    "--bacnet/--no-bacnet",
    default=None,
    help="Serve the BACnet/IP controllers (default: when bacpypes3 is installed).",
)
@click.option(
    "--tick",
    type=float,
    default=1.0,
    show_default=True,
    help="Wall-clock seconds between physics updates.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Weather noise seed.")
@click.option("--water", is_flag=True,
              help="Add a water meter, a shut-off valve and a leak detector (units 4-6 on the bus).")  # fmt: skip
@click.option("--leak", "leak", type=float, default=0.0, metavar="L/H",
              help="Inject a continuous leak of this many litres per hour (implies --water).")  # fmt: skip
@click.option("--burst", "burst", type=float, default=0.0, metavar="M3/H",
              help="Inject a burst pipe of this many m³/h (implies --water).")  # fmt: skip
def sim(zones: int, kind: str, speed: float, start_text: str | None, site_out: Path, base: str,
        port: int, ble: bool | None, mdns: bool, bacnet: bool | None, tick: float, seed: int, water: bool,
        leak: float, burst: float) -> None:  # fmt: skip
    """Run a simulated building (Modbus, mDNS and BLE on loopback) until interrupted."""
    from smartbuild.aio import run_sync
    from smartbuild.sim.serve import SimOptions

    app = get_app()
    options = SimOptions(
        home=app.home, zones=zones, kind=kind, speed=speed, base=base, port=port,
        start=parse_start(start_text), site_out=site_out, ble=ble, mdns=mdns, bacnet=bacnet, tick_s=tick, seed=seed,
        water=water, leak_lph=leak, burst_m3h=burst,
    )  # fmt: skip
    options.check()
    run_sync(_serve(app, options))
