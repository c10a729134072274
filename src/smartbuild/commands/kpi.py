"""`smartbuild kpi`: simulated days with and without a profile, BOPTEST-style KPIs side by side."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
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


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"invalid {option} {text!r}", hint=f"write e.g. {option} 2026-01-15"
        ) from None


def _period(day: str | None, first: str | None, last: str | None) -> tuple[dt.date, dt.date]:
    if day is not None and (first or last):
        raise UsageError("--day is one day; for a period use --from and --to without --day")
    if day is not None or not (first or last):
        d = _date(day or "2026-01-15", "--day")
        return d, d
    if first is None or last is None:
        raise UsageError(
            "a period needs both --from and --to", hint="e.g. --from 2026-01-12 --to 2026-01-18"
        )
    a, b = _date(first, "--from"), _date(last, "--to")
    if b < a:
        raise UsageError(f"--to {b} is before --from {a}")
    if (b - a).days > 61:
        raise UsageError(
            f"{(b - a).days + 1} days is too long", hint="simulate at most 62 days at once"
        )
    return a, b


@click.command()
@click.argument("profile_ref", metavar="PROFILE")
@click.option(
    "--day", "day_text", default=None, help="One day to simulate (Europe/Berlin) [2026-01-15]."
)
@click.option("--from", "from_text", default=None, help="First day of a period.")
@click.option("--to", "to_text", default=None, help="Last day of a period (inclusive).")
@click.option("--zones", type=click.IntRange(1, 200), default=12, show_default=True,
              help="Zones of the simulated building.")  # fmt: skip
@click.option("--step", "step_s", type=click.IntRange(10, 900), default=60, show_default=True,
              help="Simulation step in seconds.")  # fmt: skip
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write an SVG plot: zone temperatures vs comfort band, site power vs limit.")  # fmt: skip
def kpi(
    profile_ref: str,
    day_text: str | None,
    from_text: str | None,
    to_text: str | None,
    zones: int,
    step_s: int,
    plot_path: Path | None,
) -> None:
    """Simulate days with and without a profile and compare KPIs (BOPTEST style)."""
    from smartbuild.profiles.loading import load_profile, resolve_profile
    from smartbuild.sim.building.compare import compare

    app = get_app()
    first, last = _period(day_text, from_text, to_text)
    extra = []
    if app.site_path.exists():
        loaded = app.site()
        extra = [loaded.path.parent / p for p in loaded.site.profiles]
    path = resolve_profile(profile_ref, extra)
    profile = load_profile(path)
    days = (last - first).days + 1
    with app.output.status(f"simulating {days} day(s) twice ({zones} zones)…"):
        result = compare(profile, first, zones, float(step_s), last=last)
    data = result.to_json()
    if plot_path is not None:
        from smartbuild.sim.building.plot import comparison_svg

        try:
            plot_path.write_text(comparison_svg(result), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the plot to {plot_path}: {exc.strerror}") from None
        data["plot"] = str(plot_path)
    out = app.output
    if out.json_mode:
        out.emit_json(data)
        return
    _show(out, result, data, step_s)
    if plot_path is not None:
        out.print(f"plot written to {plot_path}")


def _show(out: Any, result: Any, data: dict[str, Any], step_s: int) -> None:
    from rich.table import Table

    band = data["comfort"]
    when = (f"{result.first:%a %Y-%m-%d}" if result.first == result.last
            else f"{result.first:%a %Y-%m-%d} to {result.last:%a %Y-%m-%d}")  # fmt: skip
    out.print(f"[bold]{result.profile}[/bold] on {when}: {result.zones} {result.kind} zones, "
              f"{data['baseline']['area_m2']:g} m², step {step_s} s")  # fmt: skip
    out.print(f"comfort {band['low']:g}–{band['high']:g} °C when occupied ({band['source']}), "
              f"CO2 limit {band['co2_max']:g} ppm; price: {result.price}")  # fmt: skip
    table = Table(show_edge=False, title="total" if len(result.days) > 1 else None)
    for column, justify in (("KPI", "left"), ("unit", "left"), ("constant setpoints", "right"),
                            ("with profile", "right"), ("change", "right")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for key, label, unit in ROWS:
        base, prof = data["baseline"][key], data["with_profile"][key]
        change: Any = data["change_pct"].get(key)
        text = "" if change is None else f"{change:+.1f} %"
        table.add_row(label, unit, f"{base:,.2f}", f"{prof:,.2f}", text)
    out.print(table)
    if len(result.days) > 1:
        per_day = Table(show_edge=False, title="per day (constant setpoints → with profile)")
        for column in ("day", "energy kWh", "change", "peak kW", "tdis K·h/zone",
                       "idis ppm·h/zone"):  # fmt: skip
            per_day.add_column(column, justify="left" if column == "day" else "right")
        for d in data["per_day"]:
            b, p, ch = d["baseline"], d["with_profile"], d["change_pct"]["energy_kwh"]
            per_day.add_row(
                dt.date.fromisoformat(d["day"]).strftime("%a %Y-%m-%d"),
                f"{b['energy_kwh']:,.1f} → {p['energy_kwh']:,.1f}",
                "" if ch is None else f"{ch:+.1f} %",
                f"{b['peak_kw']:,.1f} → {p['peak_kw']:,.1f}",
                f"{b['tdis_kh_per_zone']:.2f} → {p['tdis_kh_per_zone']:.2f}",
                f"{b['idis_ppmh_per_zone']:.0f} → {p['idis_ppmh_per_zone']:.0f}",
            )
        out.print(per_day)
    peak = data["with_profile"]["peak_start"]
    ctl = data["controller"]
    learned = (f"; {ctl['optimal_starts']} optimal starts, {ctl['recoveries_learned']} "
               "recoveries learned" if "optimal_starts" in ctl else "")  # fmt: skip
    out.print(f"[dim]the planner ran {ctl['plans']} times and changed {ctl['writes']} setpoints"
              f"{learned}; profile peak at {peak[:16].replace('T', ' ') if peak else '-'}[/dim]")  # fmt: skip
