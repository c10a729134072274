"""Optimal start and staggered recovery against the simulated building (the engine of `kpi`)."""

from __future__ import annotations

import datetime as dt

from smartbuild.profiles.schema import Profile, load_profile_text
from smartbuild.sim.building.compare import compare
from smartbuild.sim.building.kpi import PEAK_WINDOW_S, KpiSample, window_means

PROFILE = """
profile: t
applies_to: {tags: [office]}
modes:
  occupied: {heating_setpoint: 20, cooling_setpoint: 26}
  unoccupied: {heating_setpoint: 16, cooling_setpoint: 30}
schedule:
  weekly: {mon-fri: [{from: "07:00", to: "19:00", mode: occupied}]}
  default: unoccupied
"""
THU = dt.date(2026, 1, 15)


def profile(extra: str) -> Profile:
    return load_profile_text(PROFILE + extra)


def day_samples(samples: tuple[KpiSample, ...], day: dt.date) -> list[KpiSample]:
    return [s for s in samples if s.t.date() == day]


def reached(samples: list[KpiSample], zone: str, low: float, after: dt.time) -> dt.time | None:
    """Return when the zone first is at or above `low` after `after` (local time)."""
    for s in samples:
        if s.t.time() >= after and s.zone_temp_c[zone] >= low:
            return s.t.time()
    return None


def test_optimal_start_reaches_the_band_within_15_minutes_of_occupancy() -> None:
    c = compare(profile("optimal_start: {max_lead: 3h}\n"), THU, 4, 120.0, learn_days=4)
    assert c.band["low"] == 20.0 and c.learned["recoveries_learned"] >= 12
    samples = day_samples(c.samples[1], THU)
    occupancy = dt.datetime.combine(THU, dt.time(7), samples[0].t.tzinfo)
    for zone in ("z01", "z02", "z03", "z04"):
        when = reached(samples, zone, 20.0, dt.time(3))
        assert when is not None, zone
        at = dt.datetime.combine(THU, when, occupancy.tzinfo)
        # in the band no later than 15 min after occupancy starts, and not hours before
        assert occupancy - dt.timedelta(minutes=60) <= at <= occupancy + dt.timedelta(minutes=15)
        three_am = next(s for s in samples if s.t.time() == dt.time(3))
        assert three_am.zone_temp_c[zone] < 17.0  # it was set back overnight
    assert c.with_profile.tdis_kh_per_zone < 0.3  # at the band edge while the mass warms up
    assert c.with_profile.energy_kwh < c.baseline.energy_kwh


def morning_peak(samples: tuple[KpiSample, ...], day: dt.date) -> float:
    part = [s for s in day_samples(samples, day) if s.t.hour < 7]
    means = window_means([s.t.timestamp() for s in part], [s.power_kw for s in part], PEAK_WINDOW_S)
    return max(means.values())


def test_staggered_recovery_keeps_the_morning_under_the_limit() -> None:
    limit = 11.5  # 6 recovering zones need ~8 kW on ~4.5 kW of night load; holding ~1.2 kW each
    head = "optimal_start: {max_lead: 6h}\n"
    plain = compare(profile(head), THU, 6, 120.0, learn_days=4)
    staggered = compare(
        profile(head + f"recovery: {{stagger: true, limit_kw: {limit:g}}}\n"),
        THU, 6, 120.0, learn_days=4,
    )  # fmt: skip
    assert morning_peak(plain.samples[1], THU) > limit + 0.7  # every zone recovers at once
    assert morning_peak(staggered.samples[1], THU) <= limit + 0.3
    # spreading costs no comfort: every zone is still in the band by 07:15
    samples = day_samples(staggered.samples[1], THU)
    for zone in samples[0].zone_temp_c:
        assert reached(samples, zone, 20.0, dt.time(3)) <= dt.time(7, 15), zone  # type: ignore[operator]
    assert staggered.limit_kw == limit
