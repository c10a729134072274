"""Simulate days with and without a profile and compare BOPTEST-style KPIs (no network).

Both runs use the same simulated building (zones, devices chosen by role, physics) and the same
comfort band, CO2 limit and tariff, so the only difference is the profile. The profile run uses
the pure planner as its controller (`sim.building.controller`). The baseline keeps the devices'
factory setpoints all the time (a constant-setpoint building), after 24 hours of warm-up, as in
v0.1; a period is simulated in one run, so days follow each other as they would on a site.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartbuild.errors import UsageError
from smartbuild.profiles.comfort import band_at, static_band
from smartbuild.sim.building.kpi import (
    KpiResult,
    KpiSample,
    compute_kpis,
    simulate_period,
    split_days,
)
from smartbuild.sim.building.physics import KIND_PROFILES, KINDS
from smartbuild.sim.building.site import DEFAULT_TZ, SimBuilding, zone_layout

if TYPE_CHECKING:
    from smartbuild.profiles.schema import Profile

DEFAULT_PRICE = 0.30  # EUR/kWh, a flat household-like price when the profile has no tariff
UNOCCUPIED_BAND = (15.0, 30.0)  # BOPTEST test cases widen the band when nobody is there
WARMUP_H = 24.0
LEARN_DAYS = 7  # a week of its own recoveries before a profile with optimal start is scored


KEYS = ("energy_kwh", "energy_kwh_per_m2", "hvac_kwh", "cost_eur", "peak_kw",
        "tdis_kh_per_zone", "idis_ppmh_per_zone")  # fmt: skip


def change_pct(base: dict[str, Any], prof: dict[str, Any]) -> dict[str, float | None]:
    """Return the relative change of each KPI in percent (None where the baseline is 0)."""
    return {k: (None if not base[k] else round(100.0 * (prof[k] - base[k]) / base[k], 2))
            for k in KEYS}  # fmt: skip


@dataclass(frozen=True)
class DayResult:
    """KPIs of one day of a period on both sides."""

    day: dt.date
    baseline: KpiResult
    with_profile: KpiResult

    def to_json(self) -> dict[str, Any]:
        """Return both KPI sets and the changes as JSON-ready data."""
        base, prof = self.baseline.to_json(), self.with_profile.to_json()
        return {"day": self.day.isoformat(), "baseline": base, "with_profile": prof,
                "change_pct": change_pct(base, prof)}  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """KPIs of a period without and with a profile, per day and in total."""

    profile: str
    first: dt.date
    last: dt.date
    kind: str
    zones: int
    dt_s: float
    band: dict[str, Any]
    price: str
    baseline: KpiResult
    with_profile: KpiResult
    plans: int
    writes: int
    days: tuple[DayResult, ...] = ()
    limit_kw: float | None = None  # the profile's peak limit, if any
    learned: dict[str, Any] = field(default_factory=dict)
    samples: tuple[tuple[KpiSample, ...], tuple[KpiSample, ...]] = ((), ())
    band_at: Any = None  # (low, high) at a moment, for plots

    @property
    def day(self) -> dt.date:
        """Return the first day (a one-day comparison's day)."""
        return self.first

    def to_json(self) -> dict[str, Any]:
        """Return both KPI sets, the per-day KPIs and the relative changes as JSON-ready data."""
        base, prof = self.baseline.to_json(), self.with_profile.to_json()
        return {
            "profile": self.profile, "day": self.first.isoformat(), "from": self.first.isoformat(),
            "to": self.last.isoformat(), "kind": self.kind, "zones": self.zones,
            "step_s": self.dt_s, "comfort": self.band, "price": self.price,
            "peak_limit_kw": self.limit_kw, "baseline": base, "with_profile": prof,
            "change_pct": change_pct(base, prof),
            "per_day": [d.to_json() for d in self.days],
            "controller": {"plans": self.plans, "writes": self.writes, **self.learned},
        }  # fmt: skip


def zone_kind(profile: Profile) -> str:
    """Return the zone kind the profile is for (its applies_to tags), office otherwise."""
    return next((t for t in profile.applies_to.tags or () if t in KINDS), "office")


def compare(
    profile: Profile,
    first: dt.date,
    zones: int = 12,
    dt_s: float = 60.0,
    *,
    last: dt.date | None = None,
    learn_days: int | None = None,
) -> Comparison:
    """Simulate ``first``..``last`` twice (constant setpoints, then the profile); return KPIs.

    A profile with optimal start runs `learn_days` (default 7) unrecorded days first, so its
    recovery learner has a history of its own when the period starts.
    """
    from zoneinfo import ZoneInfo

    from smartbuild.profiles.energy import price_at
    from smartbuild.sim.building.controller import ProfileController

    last = last or first
    if last < first:
        raise UsageError(f"--to {last} is before --from {first}")
    kind = zone_kind(profile)
    layout = zone_layout(zones, kind)
    # tags the profile selects by (and that are no zone kind) go on every zone
    extra_tags = tuple(t for t in profile.applies_to.tags or () if t not in KINDS)
    if extra_tags:
        from dataclasses import replace

        layout = [replace(z, tags=(*z.tags, *extra_tags)) for z in layout]
    tz = ZoneInfo(DEFAULT_TZ)
    templates = _templates()
    made: list[SimBuilding] = []
    warm = {"h": WARMUP_H}

    def factory() -> Any:
        start = dt.datetime.combine(first, dt.time(0), tz) - dt.timedelta(hours=warm["h"])
        b = SimBuilding.create(layout, templates=templates, warmup_s=0, start=start, seed=None)
        made.append(b)
        return b.physics

    last_t: dict[str, dt.datetime] = {}

    def plant_step(now: dt.datetime) -> SimBuilding:
        b = made[-1]
        if "t" in last_t:
            b.plant.after_step((now - last_t["t"]).total_seconds())
        last_t["t"] = now
        return b

    def baseline(now: dt.datetime, _physics: Any) -> None:
        plant_step(now).plant.apply_controls()

    base_peaks: dict[dt.date, float] = {}
    planner = ProfileController(profile, tz, lambda: made[-1], peak_kw=base_peaks.get)

    def controller(now: dt.datetime, physics: Any) -> None:
        planner(now, physics)
        made[-1].plant.apply_controls()

    def controlled(now: dt.datetime, physics: Any) -> None:
        plant_step(now)
        controller(now, physics)

    band_spec = _band(profile, first)
    low, high, co2_max = band_spec["low"], band_spec["high"], band_spec["co2_max"]
    occupancy = KIND_PROFILES[kind]

    def band(t: dt.datetime) -> tuple[float, float]:
        hours = occupancy.weekday if t.weekday() < 5 else occupancy.weekend
        return (low, high) if hours[t.hour % 24] > 0 else UNOCCUPIED_BAND

    tariff = profile.energy.tariff if profile.energy is not None else None

    def price(t: dt.datetime) -> float:
        return price_at(tariff, t).price if tariff is not None else DEFAULT_PRICE

    runs = []
    for control in (baseline, controlled):
        last_t.clear()
        if control is controlled and profile.optimal_start is not None:
            warm["h"] = 24.0 * (LEARN_DAYS if learn_days is None else max(learn_days, 1))
        b, samples = simulate_period(factory, first, last, tz, control, dt_s, warmup_h=warm["h"])
        total = compute_kpis(samples, band, co2_max, price, b.area_m2)
        per_day = [(d, compute_kpis(part, band, co2_max, price, b.area_m2))
                   for d, part in split_days(samples)]  # fmt: skip
        runs.append((total, per_day, samples))
        if control is baseline:
            base_peaks.update((d, k.peak_kw) for d, k in per_day)
    currency = (tariff.currency if tariff else None) or "EUR"
    price_text = (
        "the profile's tariff"
        if tariff
        else f"flat {DEFAULT_PRICE:g} {currency}/kWh (the profile has no tariff)"
    )
    days = tuple(DayResult(d, k, runs[1][1][i][1]) for i, (d, k) in enumerate(runs[0][1]))
    learned: dict[str, Any] = {}
    if planner.model is not None:
        learned = {"recoveries_learned": planner.model.episodes,
                   "optimal_starts": len(planner.starts)}  # fmt: skip
    from smartbuild.profiles.optimal_start import power_limit

    limit = None
    auto = profile.energy is not None and profile.energy.peak_limit_kw == "auto"
    if auto or (profile.energy and profile.energy.peak_limit_kw) or profile.recovery:
        limit = power_limit(profile, runs[0][0].peak_kw, None)
    return Comparison(profile.profile, first, last, kind, len(layout), dt_s, band_spec,
                      price_text, runs[0][0], runs[1][0], planner.plans, planner.writes, days,
                      limit, learned, (tuple(runs[0][2]), tuple(runs[1][2])), band)  # fmt: skip


def _band(profile: Profile, day: dt.date) -> dict[str, Any]:
    """Return the occupied comfort band: the profile's own, else EN 16798-1 Category II."""
    from smartbuild.profiles.comfort import ComfortUnavailable, season_at

    if profile.comfort is not None:
        try:
            b = band_at(profile.comfort, day, {})
        except ComfortUnavailable:
            b = static_band("II", "heating" if day.month in (1, 2, 3, 4, 10, 11, 12) else "cooling")
    else:
        from smartbuild.profiles.schema import ComfortSpec

        spec = ComfortSpec(standard="en16798-1", category="II")
        b = static_band("II", season_at(spec, day, {}))
    return {"low": b.low, "high": b.high, "co2_max": b.co2_max or 1220.0, "source": b.source}


def _templates() -> dict[str, Any]:
    from smartbuild.sim.building.site import modbus_templates

    return modbus_templates()
