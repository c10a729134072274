"""How a profile plan looks on a terminal (JSON output comes from the plan itself)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smartbuild.cli import App
    from smartbuild.services.plans import LivePlan


def show_plan(app: App, live: LivePlan, title: str) -> None:
    """Print a plan as a rich table (people) — JSON output is up to the command."""
    from rich.table import Table

    from smartbuild.console import escape

    plan = live.plan
    out = app.output
    out.print(f"[bold]{title}[/bold] · {plan.at:%Y-%m-%d %H:%M %Z} · {escape(plan.mode_why)}")
    extras = []
    if plan.comfort is not None:
        extras.append(
            f"comfort {plan.comfort.low:g}–{plan.comfort.high:g} °C ({escape(plan.comfort.source)})"
        )
    if plan.price is not None:
        extras.append(
            f"price {plan.price.price:g} {plan.price.currency or ''}/kWh".replace(" /", "/")
        )
    if plan.shedding != "inactive":
        extras.append(f"peak shedding: {plan.shedding}")
    if extras:
        out.print(" · ".join(extras))
    table = Table()
    for column in ("zone", "device.point", "current", "target", "status", "why"):
        table.add_column(column, overflow="fold")
    styles = {"change": "bold", "unreadable": "yellow", "blocked": "red", "skip-unchanged": "dim",
              "skip-deadband": "dim"}  # fmt: skip
    legend: dict[str, str] = {}  # one short key per distinct reason: rows stay one line at 80
    for a in plan.actions:
        unit = f" {a.unit}" if a.unit else ""
        current = "?" if a.current is None else f"{a.current:g}{unit}"
        target = "-" if a.target is None else f"{a.target:g}{unit}"
        status = a.status + (f": {'; '.join(a.blocked_by)}" if a.blocked_by else "")
        key = legend.setdefault(a.reason, f"R{len(legend) + 1}")
        table.add_row(escape(a.zone), escape(f"{a.device}.{a.point}"), current, target,
                      f"[{styles.get(a.status, '')}]{escape(status)}[/]", key)  # fmt: skip
    out.print(table)
    for reason, key in legend.items():
        out.print(f"  {key}: {escape(reason)}")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(plan.counts.items())) or "nothing to do"
    out.print(f"{len(plan.actions)} points: {counts}")
    for warning in collapse(plan.warnings):
        out.warn(warning)
    for error in live.read_errors:
        out.warn(f"could not read {error}")


def collapse(warnings: Sequence[str]) -> list[str]:
    """Return warnings with repeats folded: "zone 'a': no point for x" x 12 -> one line."""
    import re

    groups: dict[str, list[str]] = {}
    for warning in warnings:
        match = re.match(r"zone '([^']*)': (.*)", warning)
        text, zone = (match.group(2), match.group(1)) if match else (warning, "")
        groups.setdefault(text, []).append(zone)
    out = []
    for text, zones in groups.items():
        named = [z for z in zones if z]
        if len(named) > 1:
            shown = ", ".join(named[:6]) + (f" and {len(named) - 6} more" if len(named) > 6 else "")
            out.append(f"{text} ({len(named)} zones: {shown})")
        elif named:
            out.append(f"zone '{named[0]}': {text}")
        else:
            out.append(text + (f" (x{len(zones)})" if len(zones) > 1 else ""))
    return out
