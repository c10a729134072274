"""Simulate a day with and without a profile and compare BOPTEST-style KPIs (no network).

Both runs use the same simulated building (zones, devices chosen by role, physics) and the same
comfort band, CO2 limit and tariff, so the only difference is the profile. The profile run uses
the pure planner as its controller: every step it plans from the devices' current point values
and applies the changes to the physics through the same role binding the simulator serves. The
baseline keeps the devices' factory setpoints all day (a constant-setpoint building).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartbuild.profiles.comfort import ADAPTIVE_OUTDOOR_ROLE, band_at, static_band
from smartbuild.services.plans import SITE_ROLES
from smartbuild.sim.building.kpi import KpiResult, simulate_day
from smartbuild.sim.building.physics import KIND_PROFILES, KINDS
from smartbuild.sim.building.site import DEFAULT_TZ, SimBuilding, zone_layout

if TYPE_CHECKING:
    from smartbuild.profiles.schema import Profile

DEFAULT_PRICE = 0.30  # EUR/kWh, a flat household-like price when the profile has no tariff
UNOCCUPIED_BAND = (15.0, 30.0)  # BOPTEST test cases widen the band when nobody is there
WARMUP_H = 24.0


@dataclass(frozen=True)
class Comparison:
    """KPIs of one day without and with a profile, and what they were measured against."""

    profile: str
    day: dt.date
    kind: str
    zones: int
    dt_s: float
    band: dict[str, Any]
    price: str
    baseline: KpiResult
    with_profile: KpiResult
    plans: int
    writes: int

    def to_json(self) -> dict[str, Any]:
        """Return both KPI sets and the relative changes as JSON-ready data."""
        base, prof = self.baseline.to_json(), self.with_profile.to_json()
        keys = ("energy_kwh", "energy_kwh_per_m2", "hvac_kwh", "cost_eur", "peak_kw",
                "tdis_kh_per_zone", "idis_ppmh_per_zone")  # fmt: skip
        change = {
            k: (None if not base[k] else round(100.0 * (prof[k] - base[k]) / base[k], 2))  # type: ignore[operator]
            for k in keys
        }
        return {
            "profile": self.profile, "day": self.day.isoformat(), "kind": self.kind,
            "zones": self.zones, "step_s": self.dt_s, "comfort": self.band, "price": self.price,
            "baseline": base, "with_profile": prof, "change_pct": change,
            "controller": {"plans": self.plans, "writes": self.writes},
        }  # fmt: skip


def zone_kind(profile: Profile) -> str:
    """Return the zone kind the profile is for (its applies_to tags), office otherwise."""
    return next((t for t in profile.applies_to.tags or () if t in KINDS), "office")


def compare(profile: Profile, day: dt.date, zones: int = 12, dt_s: float = 60.0) -> Comparison:
    """Simulate ``day`` twice (constant setpoints, then the profile) and return both KPI sets."""
    from zoneinfo import ZoneInfo

    from smartbuild.profiles.energy import price_at
    from smartbuild.profiles.planner import plan_profile

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

    def factory() -> Any:
        b = SimBuilding.create(layout, templates=templates, warmup_s=0,
                               start=dt.datetime.combine(day, dt.time(0), tz), seed=None)  # fmt: skip
        made.append(b)
        return b.physics

    needed = set(profile.roles()) | set(SITE_ROLES) | {ADAPTIVE_OUTDOOR_ROLE}
    if profile.energy is not None:
        needed.add(profile.energy.meter_role)
    counters = {"plans": 0, "writes": 0}
    last: dict[str, dt.datetime] = {}

    def plant_step(now: dt.datetime) -> SimBuilding:
        b = made[-1]
        if "t" in last:
            b.plant.after_step((now - last["t"]).total_seconds())
        last["t"] = now
        return b

    def baseline(now: dt.datetime, _physics: Any) -> None:
        plant_step(now).plant.apply_controls()

    def controller(now: dt.datetime, _physics: Any) -> None:
        b = plant_step(now)
        plan = plan_profile(profile, b.zone_infos(), b.point_states(needed), tz=tz, at=now)
        counters["plans"] += 1
        for action in plan.changes():
            refused = b.write(b.device(action.device), {action.point: action.target})
            counters["writes"] += 0 if refused else 1
        b.plant.apply_controls()

    band_spec = _band(profile, day)
    low, high, co2_max = band_spec["low"], band_spec["high"], band_spec["co2_max"]
    occupancy = KIND_PROFILES[kind]

    def band(t: dt.datetime) -> tuple[float, float]:
        hours = occupancy.weekday if t.weekday() < 5 else occupancy.weekend
        return (low, high) if hours[t.hour % 24] > 0 else UNOCCUPIED_BAND

    tariff = profile.energy.tariff if profile.energy is not None else None

    def price(t: dt.datetime) -> float:
        return price_at(tariff, t).price if tariff is not None else DEFAULT_PRICE

    results = []
    for control in (baseline, controller):
        last.clear()
        results.append(simulate_day(factory, day, tz, control, band, co2_max, price, dt_s,
                                    warmup_h=WARMUP_H))  # fmt: skip
    currency = (tariff.currency if tariff else None) or "EUR"
    price_text = (
        "the profile's tariff"
        if tariff
        else f"flat {DEFAULT_PRICE:g} {currency}/kWh (the profile has no tariff)"
    )
    return Comparison(profile.profile, day, kind, zones, dt_s, band_spec, price_text,
                      results[0], results[1], counters["plans"], counters["writes"])  # fmt: skip


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
