"""`smartbuild kpi`: a simulated day with and without a profile, BOPTEST-style KPIs side by side."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from smartbuild.cli import get_app
from smartbuild.errors import UsageError

ROWS: tuple[tuple[str, str, str], ...] = (
    ("energy_kwh", "energy (grid import)", "kWh"),
    ("energy_kwh_per_m2", "energy per m²", "kWh/m²"),
    ("hvac_kwh", "HVAC energy", "kWh"),
    ("export_kwh", "PV export", "kWh"),
    ("cost_eur", "cost", "EUR"),
    ("peak_kw", "peak, 15-min mean", "kW"),
    ("tdis_kh_per_zone", "discomfort (tdis)/zone", "K·h"),
    ("idis_ppmh_per_zone", "CO2 excess (idis)/zone", "ppm·h"),
)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"invalid --day {text!r}", hint="write e.g. --day 2026-01-15") from None


@click.command()
@click.argument("profile_ref", metavar="PROFILE")
@click.option(
    "--day",
    "day_text",
    default="2026-01-15",
    show_default=True,
    help="The day to simulate (Europe/Berlin).",
)
@click.option(
    "--zones",
    type=click.IntRange(1, 200),
    default=12,
    show_default=True,
    help="Zones of the simulated building.",
)
@click.option(
    "--step",
    "step_s",
    type=click.IntRange(10, 900),
    default=60,
    show_default=True,
    help="Simulation step in seconds.",
)
def kpi(profile_ref: str, day_text: str, zones: int, step_s: int) -> None:
    """Simulate a day with and without a profile and compare KPIs (BOPTEST style)."""
    from smartbuild.profiles.loading import load_profile, resolve_profile
    from smartbuild.sim.building.compare import compare

    app = get_app()
    day = _day(day_text)
    extra = []
    if app.site_path.exists():
        loaded = app.site()
        extra = [loaded.path.parent / p for p in loaded.site.profiles]
    path = resolve_profile(profile_ref, extra)
    profile = load_profile(path)
    with app.output.status(f"simulating {day} twice ({zones} zones)…"):
        result = compare(profile, day, zones, float(step_s))
    data = result.to_json()
    out = app.output
    if out.json_mode:
        out.emit_json(data)
        return
    from rich.table import Table

    band = data["comfort"]
    out.print(f"[bold]{profile.profile}[/bold] on {day:%a %Y-%m-%d}: {zones} {result.kind} zones, "
              f"{data['baseline']['area_m2']:g} m², step {step_s} s")  # fmt: skip
    out.print(f"comfort {band['low']:g}–{band['high']:g} °C when occupied ({band['source']}), "
              f"CO2 limit {band['co2_max']:g} ppm; price: {result.price}")  # fmt: skip
    table = Table(show_edge=False)
    for column, justify in (("KPI", "left"), ("unit", "left"), ("constant setpoints", "right"),
                            ("with profile", "right"), ("change", "right")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for key, label, unit in ROWS:
        base, prof = data["baseline"][key], data["with_profile"][key]
        change: Any = data["change_pct"].get(key)
        text = "" if change is None else f"{change:+.1f} %"
        table.add_row(label, unit, f"{base:,.2f}", f"{prof:,.2f}", text)
    out.print(table)
    peak = data["with_profile"]["peak_start"]
    out.print(f"[dim]the planner ran {data['controller']['plans']} times and changed "
              f"{data['controller']['writes']} setpoints; profile peak at {peak[11:16] if peak else '-'}[/dim]")  # fmt: skip
