"""How a profile plan looks on a terminal (JSON output comes from the plan itself)."""

from __future__ import annotations

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
    for column in ("zone", "device.point", "current", "target", "status", "reason"):
        table.add_column(column, overflow="fold")
    styles = {"change": "bold", "blocked": "red", "skip-unchanged": "dim", "skip-deadband": "dim"}
    for a in plan.actions:
        unit = f" {a.unit}" if a.unit else ""
        current = "?" if a.current is None else f"{a.current:g}{unit}"
        target = "-" if a.target is None else f"{a.target:g}{unit}"
        status = a.status + (f": {'; '.join(a.blocked_by)}" if a.blocked_by else "")
        table.add_row(a.zone, f"{a.device}.{a.point}", current, target,
                      f"[{styles.get(a.status, '')}]{escape(status)}[/]", escape(a.reason))  # fmt: skip
    out.print(table)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(plan.counts.items())) or "nothing to do"
    out.print(f"{len(plan.actions)} points: {counts}")
    for warning in plan.warnings:
        out.warn(warning)
    for error in live.read_errors:
        out.warn(f"could not read {error}")
