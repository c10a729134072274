"""`smartbuild discover`: find devices over Modbus, mDNS and BLE, identify them, save them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.commands import FiniteFloat
from smartbuild.errors import ExitStatus, UsageError
from smartbuild.transports.base import Candidate


def parse_units(text: str) -> list[int]:
    """Parse "1,2,10-20" or "all" into unit ids."""
    if text.strip().lower() == "all":
        return list(range(1, 248))
    units: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                units.extend(range(lo, hi + 1))
            else:
                units.append(int(part))
        except ValueError:
            raise UsageError(
                f"invalid unit list {text!r}", hint="e.g. --units 1,2,10-20 or --units all"
            ) from None
    bad = [u for u in units if not 0 <= u <= 255]
    if bad:
        raise UsageError(f"unit ids must be 0-255, got {bad[0]}")
    return sorted(set(units))


class Discovery:
    """Collects candidates from every transport, identifies and merges them."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.templates = {name: e.value for name, e in app.registry.templates.items()}
        self.found: dict[str, Candidate] = {}
        self.progress: dict[str, str] = {}
        self.errors: list[str] = []
        self.statuses: list[int] = []  # the exit status of each error, in the same order

    def identify(self, candidate: Candidate) -> Candidate:
        """Match a candidate to a template through the identify_device hook."""
        if candidate.template:
            return candidate
        match = self.app.pm.hook.identify_device(candidate=candidate, templates=self.templates)
        if match:
            template, how = match
            return dataclasses.replace(candidate, template=template, matched_by=how)
        return candidate

    def add(self, candidate: Candidate) -> None:
        """Identify and record a candidate (a later report of the same device merges in)."""
        candidate = self.identify(candidate)
        old = self.found.get(candidate.key)
        if old is not None:
            candidate = dataclasses.replace(
                candidate,
                identity={**old.identity, **candidate.identity},
                extra={**old.extra, **candidate.extra},
                template=candidate.template or old.template,
                matched_by=candidate.matched_by or old.matched_by,
                name=candidate.name or old.name,
            )
        self.found[candidate.key] = candidate


def _row(c: Candidate) -> list[str]:
    ident = c.identity
    if c.transport.startswith("modbus"):
        parts = [ident.get("vendor_name"), ident.get("product_code"), ident.get("revision")]
        sunspec = ident.get("sunspec") or {}
        if sunspec:
            parts = [sunspec.get("manufacturer"), sunspec.get("model"), sunspec.get("serial")]
        what = " ".join(str(p) for p in parts if p) or ident.get("server_id") or ""
    else:
        what = " ".join(str(ident[k]) for k in ("vendor", "model", "firmware") if ident.get(k))
    readings = c.extra.get("readings") or {}
    if readings:
        what += (" · " if what else "") + ", ".join(f"{k}={v}" for k, v in readings.items())
    unit = "" if c.unit is None else str(c.unit)
    return [c.transport, c.address, unit, c.name or "", what, c.template or "-", c.matched_by or ""]


def _table(found: dict[str, Candidate], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("transport", "address", "unit", "name", "identity", "template", "matched by"):
        table.add_column(column, overflow="fold")
    for c in sorted(found.values(), key=lambda c: (c.transport, c.address, c.unit or 0)):
        table.add_row(*_row(c))
    return table


async def run_discovery(app: App, plans: dict[str, dict[str, Any]], disc: Discovery) -> None:
    """Run the planned transports concurrently; chain mDNS Modbus endpoints into Modbus."""
    from smartbuild.devices import Connections

    async with Connections(app) as conns:

        async def one(name: str, options: dict[str, Any]) -> None:
            def progress(text: str) -> None:
                disc.progress[name] = text

            try:
                await conns.transport(name).discover(
                    {**options, "progress": progress, "templates": disc.templates}, disc.add
                )
            except Exception as error:  # one transport failing must not stop the others
                from smartbuild.errors import SmartbuildError

                if not isinstance(error, SmartbuildError):
                    raise
                disc.errors.append(
                    f"{name}: {error.message}" + (f" ({error.hint})" if error.hint else "")
                )
                disc.statuses.append(int(error.exit_status))

        await asyncio.gather(*(one(n, o) for n, o in plans.items()))
        chained = [
            c.extra["modbus_endpoint"]
            for c in disc.found.values()
            if c.extra.get("modbus_endpoint")
        ]
        if chained and "modbus-tcp" in app.registry.transports:
            options = dict(plans.get("modbus-tcp", {}))
            options.update(targets=sorted(set(chained)), units=options.get("units") or [0, 1, 255])
            await one("modbus-tcp", options)


@click.command()
@click.option(
    "--modbus",
    "modbus_targets",
    multiple=True,
    metavar="TARGETS",
    help="Hosts, host:port, ranges (10.0.0.5-40) or CIDR blocks (repeatable).",
)
@click.option(
    "--units",
    default="0,1,2,100,247,255",
    show_default=True,
    help="Unit ids to probe: 1,2,10-20 or all.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=502,
    show_default=True,
    help="Default Modbus TCP port.",
)
@click.option(
    "--rtu",
    "rtu_ports",
    multiple=True,
    metavar="PORT",
    help="Serial port of a Modbus RTU bus (repeatable).",
)
@click.option("--baud", default="9600,19200", show_default=True, help="RTU baud rates to try.")
@click.option(
    "--parity",
    type=click.Choice(["N", "E", "O"]),
    default="E",
    show_default=True,
    help="RTU parity.",
)
@click.option("--mdns", is_flag=True, help="Browse mDNS/DNS-SD services.")
@click.option(
    "--interface",
    "interfaces",
    multiple=True,
    help="mDNS interface name or IP (repeatable; default: every non-loopback one).",
)
@click.option(
    "--type", "types", multiple=True, help="Extra mDNS service type, e.g. _foo._tcp (repeatable)."
)
@click.option(
    "--all-types", is_flag=True, help="Enumerate every announced mDNS service type first."
)
@click.option(
    "--expect",
    type=click.IntRange(min=1),
    help="mDNS: stop early once N devices are found and it is quiet.",
)
@click.option("--ble", is_flag=True, help="Scan for Bluetooth LE devices.")
@click.option("--adapter", help="BLE adapter, e.g. hci0.")
@click.option(
    "--passive",
    is_flag=True,
    help="BLE passive scanning (BlueZ >= 5.56 with experimental features).",
)
@click.option(
    "--duration",
    type=FiniteFloat(min=0.1, max=600),
    help="BLE scan seconds (default: long enough for the slowest known advertiser).",
)
@click.option("--until", type=click.IntRange(min=1), help="BLE: stop once N devices are found.")
@click.option(
    "--timeout",
    type=FiniteFloat(min=0.05, max=60),
    help="Modbus: per-request timeout; mDNS: browse window (s).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=64,
    show_default=True,
    help="Modbus hosts probed at once.",
)
@click.option(
    "--save", is_flag=True, help="Add identified devices to the site file (keeps what is there)."
)
@click.option("--yes", "-y", is_flag=True, help="Allow sweeping more than a /16 of addresses.")
def discover(
    modbus_targets: tuple[str, ...], units: str, port: int, rtu_ports: tuple[str, ...], baud: str,
    parity: str, mdns: bool, interfaces: tuple[str, ...], types: tuple[str, ...], all_types: bool,
    expect: int | None, ble: bool, adapter: str | None, passive: bool, duration: float | None,
    until: int | None, timeout: float | None, concurrency: int, save: bool, yes: bool,
) -> None:  # fmt: skip
    """Find devices over Modbus, mDNS and BLE, identify them and optionally save them."""
    from smartbuild.aio import run_sync

    app = get_app()
    unit_list = parse_units(units)
    plans: dict[str, dict[str, Any]] = {}
    if modbus_targets:
        _check_sweep_size(list(modbus_targets), yes)
        plans["modbus-tcp"] = {"targets": list(modbus_targets), "units": unit_list, "port": port,
                               "timeout": timeout or 0.5, "concurrency": concurrency, "yes": yes}  # fmt: skip
    if rtu_ports:
        bauds = [int(b) for b in baud.split(",") if b.strip()]
        plans["modbus-rtu"] = {"ports": list(rtu_ports), "bauds": bauds, "parity": parity,
                               "units": unit_list, "timeout": timeout or 0.2}  # fmt: skip
    explicit = bool(modbus_targets or rtu_ports or mdns or ble)
    available = app.registry.transports
    if mdns or (not explicit and "mdns" in available):
        plans["mdns"] = {"interfaces": list(interfaces), "types": list(types), "all_types": all_types,
                         "timeout": timeout or 3.0, "expect": expect}  # fmt: skip
    if ble or (not explicit and "ble" in available):
        plans["ble"] = {
            "adapter": adapter,
            "passive": passive,
            "duration": duration,
            "until": until,
        }
    missing = [name for name in plans if name not in available]
    if missing:
        raise UsageError(
            f"transport {missing[0]!r} is not loaded",
            hint="`smartbuild plugins` shows what is loaded",
        )
    if not plans:
        raise UsageError(
            "nothing to discover", hint="pass --modbus TARGETS, --rtu PORT, --mdns or --ble"
        )
    disc = Discovery(app)
    started = time.monotonic()
    out = app.output
    if out.json_mode or not out.err.is_terminal:
        run_sync(run_discovery(app, plans, disc))
    else:
        run_sync(_with_live(app, plans, disc))
    elapsed = time.monotonic() - started
    for error in disc.errors:
        out.warn(error)
    saved: dict[str, list[str]] = {}
    if save:
        from smartbuild.inventory import save_candidates

        added, present = save_candidates(app.site_path, disc.found.values())
        saved = {"added": added, "present": present}
        unmatched = sum(1 for c in disc.found.values() if not c.template)
        out.info(f"saved to {app.site_path}: {len(added)} added, {len(present)} already there"
                 + (f", {unmatched} without a template (not saved)" if unmatched else ""))  # fmt: skip
    if out.json_mode:
        out.emit_json({"candidates": list(disc.found.values()), "errors": disc.errors,
                       "seconds": round(elapsed, 3), "saved": saved or None})  # fmt: skip
    else:
        out.print(_table(disc.found, f"{len(disc.found)} devices found in {elapsed:.1f} s"))
    if not disc.found:  # a transport's own error (bad interface, ...) says more than "unreachable"
        click.get_current_context().exit(
            disc.statuses[0] if disc.statuses else int(ExitStatus.UNREACHABLE)
        )
    if disc.errors:
        click.get_current_context().exit(int(ExitStatus.PARTIAL))


def _check_sweep_size(targets: list[str], yes: bool) -> None:
    """Refuse a sweep larger than a /16 before anything is sent (exit 5), unless --yes."""
    from smartbuild.errors import SafetyRefusal
    from smartbuild.transports.modbus.discovery import MAX_ADDRESSES, count_addresses

    try:
        total = count_addresses(targets)
    except ValueError as error:
        raise UsageError(f"invalid Modbus target: {error}") from None
    if total > MAX_ADDRESSES and not yes:
        raise SafetyRefusal(
            f"refusing to sweep {total} addresses (more than a /16) without --yes",
            hint="narrow the targets, or pass --yes if you really mean it",
        )


async def _with_live(app: App, plans: dict[str, dict[str, Any]], disc: Discovery) -> None:
    from rich.console import Group
    from rich.live import Live
    from rich.spinner import Spinner

    def render() -> Any:
        status = " · ".join(f"{k}: {v}" for k, v in disc.progress.items()) or "starting"
        return Group(
            Spinner("dots", text=f"discovering… {status}"),
            _table(disc.found, f"{len(disc.found)} found so far"),
        )

    with Live(render(), console=app.output.err, transient=True, refresh_per_second=8) as live:
        task = asyncio.ensure_future(run_discovery(app, plans, disc))
        while not task.done():
            live.update(render())
            await asyncio.sleep(0.125)
        await task
