"""`smartbuild discover`: find devices with every transport that can, identify them, save them.

The options come from the transports: each declares its typed discover options with their flags
(``--modbus``, ``--mdns``, ``--ble`` for the builtins; a plugin's transport adds its own).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.commands import FiniteFloat
from smartbuild.errors import ExitStatus


def _describe(app: App, c: Any) -> str:
    family = app.registry.family_of(c.transport)
    what = family.describe(c) if family is not None else ""
    readings = c.extra.get("readings") or {}
    if readings:
        what += (" · " if what else "") + ", ".join(f"{k}={v}" for k, v in readings.items())
    return what


def _sort_key(c: Any) -> tuple[Any, ...]:
    """Sort by transport, then addresses numerically (127.0.0.9 before 127.0.0.10)."""
    import ipaddress

    host, _, port = c.address.rpartition(":") if ":" in c.address else (c.address, "", "")
    try:
        ip: tuple[int, Any] = (0, ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        ip = (1, c.address)
    number = int(port) if port.isdigit() else 0
    return (c.transport, ip[0], str(ip[1]) if ip[0] else int(ip[1]), number, c.unit or 0)


def _table(app: App, found: dict[str, Any], title: str) -> Any:
    from rich.table import Table

    from smartbuild.console import escape

    verbose = app.output.verbosity > 0  # how each template matched is for -v
    table = Table(title=escape(title), title_justify="left")
    columns = ["transport", "address", "unit", "name", "identity", "template"]
    for column in [*columns, "matched by"] if verbose else columns:
        # wrap rather than cut: a squeezed column would hide names people type next
        table.add_column(column, overflow="fold")
    for c in sorted(found.values(), key=_sort_key):
        unit = "" if c.unit is None else str(c.unit)
        cells = [c.transport, c.address, unit, c.name or "", _describe(app, c), c.template or "-"]
        if verbose:
            cells.append(c.matched_by or "")
        table.add_row(*(escape(str(cell)) for cell in cells))
    return table


def _click_option(dest: str, spec: Any, default: Any) -> click.Option:
    kind: Any = spec.type
    if isinstance(kind, tuple):
        kind = click.Choice(list(kind))
    elif spec.range is not None and kind is float:
        kind = FiniteFloat(min=spec.range[0], max=spec.range[1])
    elif spec.range is not None and kind is int:
        kind = click.IntRange(min=spec.range[0], max=spec.range[1])
    settings: dict[str, Any] = {
        "type": None if spec.is_flag else kind,
        "is_flag": spec.is_flag,
        "multiple": spec.multiple,
        "default": None if spec.multiple else default,
        "show_default": spec.show_default,
        "metavar": spec.metavar,
        "help": spec.help,
    }
    return click.Option([*spec.flags, dest], **settings)


class DiscoverCommand(click.Command):
    """A command whose options are the discover options of the loaded transports."""

    def _specs(self) -> tuple[list[click.Option], dict[str, dict[str, str]]]:
        """Return the click options and, per transport, its field -> option name."""
        from smartbuild.services.discovery import discoverers

        app = get_app()
        options: dict[tuple[str, ...], tuple[str, Any, Any]] = {}
        fields: dict[str, dict[str, str]] = {}
        helps: dict[tuple[str, ...], list[str]] = {}
        for transport, cls in discoverers(app.registry).items():
            for name, spec, default in cls.specs():
                key = spec.flags
                if key not in options:
                    options[key] = (spec.flags[0].lstrip("-").replace("-", "_"), spec, default)
                    helps[key] = []
                if spec.help not in helps[key]:
                    helps[key].append(spec.help)
                fields.setdefault(transport, {})[name] = options[key][0]
        params = []
        for key, (dest, spec, default) in options.items():
            merged = "; ".join(h.rstrip(".") for h in helps[key]) + "."
            params.append(_click_option(dest, _with_help(spec, merged), default))
        return params, fields

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        """Return the transports' discover options, then this command's own."""
        with ctx.scope(cleanup=False):  # click prints usage after a bad value outside any context
            app = get_app()
            cached = getattr(app, "_discover_specs", None)  # per invocation: plugins may differ
            if cached is None:
                cached = app._discover_specs = self._specs()  # type: ignore[attr-defined]
        self._fields = cached[1]
        return [*cached[0], *super().get_params(ctx)]


def _with_help(spec: Any, text: str) -> Any:
    import dataclasses

    return dataclasses.replace(spec, help=text)


@click.command(cls=DiscoverCommand)
@click.option(
    "--save", is_flag=True, help="Add identified devices to the site file (keeps what is there)."
)
@click.pass_context
def discover(ctx: click.Context, save: bool, **flags: Any) -> None:
    """Find devices over Modbus, mDNS and BLE, identify them and optionally save them."""
    from smartbuild.services.discovery import DiscoveryResult

    app = get_app()
    command = ctx.command
    assert isinstance(command, DiscoverCommand)
    session = app.session
    session.full_registry()  # site-local templates identify devices too
    values: dict[str, dict[str, Any]] = {}
    for transport, fields in command._fields.items():
        for field_name, dest in fields.items():
            value = flags.get(dest)
            if value is not None and value != ():
                chosen = list(value) if isinstance(value, tuple) else value
                values.setdefault(transport, {})[field_name] = chosen
    plans = session.plan_discovery(values)
    result = DiscoveryResult()
    out = app.output
    started = time.monotonic()
    if out.json_mode or not out.err.is_terminal:
        app.run(lambda s: s.discover(plans, result, _debug(app)))
    else:
        app.run(lambda s: _with_live(app, s, plans, result))
    elapsed = time.monotonic() - started
    for error in result.errors:  # fatal when nothing was found: then it is the error
        (out.warn if result.found else out.error)(error)
    saved: dict[str, list[str]] = {}
    if save:
        from smartbuild.inventory import save_candidates

        added, present = save_candidates(app.site_path, result.found.values())
        saved = {"added": added, "present": present}
        unmatched = sum(1 for c in result.found.values() if not c.template)
        out.info(f"saved to {app.site_path}: {len(added)} added, {len(present)} already there"
                 + (f", {unmatched} without a template (not saved)" if unmatched else ""))  # fmt: skip
    if out.json_mode:
        out.emit_json({"candidates": list(result.found.values()), "errors": result.errors,
                       "seconds": round(elapsed, 3), "saved": saved or None})  # fmt: skip
    elif result.found or not result.errors:  # after an error, no empty table: the error says it
        out.print(
            _table(app, result.found, f"{len(result.found)} devices found in {elapsed:.1f} s")
        )
    if (
        not result.found
    ):  # a transport's own error (bad interface, ...) says more than "unreachable"
        ctx.exit(result.statuses[0] if result.statuses else int(ExitStatus.UNREACHABLE))
    if result.errors:
        ctx.exit(int(ExitStatus.PARTIAL))


def _debug(app: App) -> Any:
    """Return the sink of a transport's -v details (escaped: they carry addresses)."""
    from smartbuild.console import escape

    return lambda text: app.output.debug(escape(text))


async def _with_live(app: App, session: Any, plans: Any, result: Any) -> None:
    from rich.console import Group
    from rich.live import Live
    from rich.spinner import Spinner

    from smartbuild.console import escape

    def render() -> Any:
        status = " · ".join(f"{k}: {v}" for k, v in result.progress.items()) or "starting"
        return Group(
            Spinner("dots", text=escape(f"discovering… {status}")),
            _table(app, result.found, f"{len(result.found)} found so far"),
        )

    with Live(render(), console=app.output.err, transient=True, refresh_per_second=8) as live:
        task = asyncio.ensure_future(session.discover(plans, result, _debug(app)))
        while not task.done():
            live.update(render())
            await asyncio.sleep(0.125)
        await task
