"""Tests of smartbuild.sim.building.kpi: BOPTEST KPI math on hand-made series and simulated days."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartbuild.errors import UsageError
from smartbuild.sim.building.kpi import (
    Band,
    KpiResult,
    KpiSample,
    Price,
    comfort_band,
    compute_kpis,
    simulate_day,
    window_means,
)
from smartbuild.sim.building.physics import Building, SiteSpec, ZoneSpec

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 1, 14, tzinfo=BERLIN)  # Wednesday 00:00


def fixed_band(t: datetime) -> tuple[float, float]:
    return (20.0, 24.0)


def flat_price(t: datetime) -> float:
    return 0.30


def series(
    minutes: int,
    *,
    power: Callable[[int], float] = lambda m: 0.0,
    temps: Callable[[int], dict[str, float]] = lambda m: {"a": 22.0},
    co2: Callable[[int], dict[str, float]] = lambda m: {"a": 500.0},
    start: datetime = T0,
    step_min: int = 1,
) -> list[KpiSample]:
    """Return samples every `step_min` minutes from `start`, both ends included."""
    return [
        KpiSample(start + timedelta(minutes=m), power(m), temps(m), co2(m), hvac_kw=power(m) / 2)
        for m in range(0, minutes + 1, step_min)
    ]


def kpis(
    samples: Sequence[KpiSample],
    band: Band = fixed_band,
    co2_limit: float | Callable[[datetime], float] = 1000.0,
    price: Price = flat_price,
    export_price: Price | None = None,
) -> KpiResult:
    """Compute KPIs for a 100 m² building with the test defaults."""
    return compute_kpis(samples, band, co2_limit, price, 100.0, export_price=export_price)


def test_constant_one_kelvin_outside_the_band_for_two_hours_is_two_kelvin_hours() -> None:
    below = kpis(series(120, temps=lambda m: {"a": 19.0, "b": 22.0}, step_min=10))
    assert below.tdis_kh == pytest.approx({"a": 2.0, "b": 0.0})
    assert below.tdis_kh_per_zone == pytest.approx(1.0)  # BOPTEST normalises per zone
    above = kpis(series(120, temps=lambda m: {"a": 25.0}))
    assert above.tdis_kh == pytest.approx({"a": 2.0})
    assert kpis(series(120)).tdis_kh == {"a": 0.0}


def test_a_time_varying_band_is_integrated_with_the_trapezoidal_rule() -> None:
    band = comfort_band(occupied=(20.0, 24.0), unoccupied=(15.0, 30.0), hours=(7.0, 19.0))
    samples = series(120, temps=lambda m: {"a": 18.0}, start=T0.replace(hour=6))
    # 06:00-06:59 inside the night band, 07:00-08:00 2 K below; the 06:59-07:00 trapezoid adds 1/60.
    assert kpis(samples, band=band).tdis_kh["a"] == pytest.approx(2.0 + 1 / 60)
    weekend = series(120, temps=lambda m: {"a": 18.0}, start=T0.replace(day=17, hour=6))
    assert kpis(weekend, band=band).tdis_kh["a"] == 0.0


def test_co2_above_the_limit_is_counted_in_ppm_hours() -> None:
    samples = series(120, co2=lambda m: {"a": 1200.0, "b": 900.0})
    r = kpis(samples)
    assert r.idis_ppmh == pytest.approx({"a": 400.0, "b": 0.0})
    assert r.idis_ppmh_per_zone == pytest.approx(200.0)
    assert kpis(samples, co2_limit=lambda t: 800.0).idis_ppmh == pytest.approx(
        {"a": 800.0, "b": 200.0}
    )


def test_energy_cost_and_per_m2_values() -> None:
    r = kpis(series(180, power=lambda m: 2.0))
    assert r.energy_kwh == pytest.approx(6.0)
    assert r.hvac_kwh == pytest.approx(3.0)
    assert r.cost_eur == pytest.approx(1.8)
    assert r.hours == 3.0
    j = r.to_json()
    assert j["energy_kwh_per_m2"] == pytest.approx(0.06)
    assert j["cost_eur_per_m2"] == pytest.approx(0.018)
    assert j["peak_kw_per_m2"] == pytest.approx(0.02)


def test_cost_follows_a_price_step_sample_by_sample() -> None:
    def tariff(t: datetime) -> float:
        return 0.10 if t.hour < 1 else 0.30

    r = kpis(series(120, power=lambda m: 1.0), price=tariff)
    # 59 min at 0.10, the 00:59-01:00 trapezoid at the mean 0.20, then 1 h at 0.30.
    assert r.cost_eur == pytest.approx(59 / 60 * 0.10 + 1 / 60 * 0.20 + 0.30)


def test_export_is_not_energy_use_and_earns_the_export_price() -> None:
    samples = series(60, power=lambda m: -1.0)
    r = kpis(samples, export_price=lambda t: 0.08)
    assert (r.energy_kwh, r.export_kwh, r.peak_kw) == (0.0, pytest.approx(1.0), 0.0)
    assert r.cost_eur == pytest.approx(-0.08)
    assert kpis(samples).cost_eur == 0.0


def test_peak_is_the_largest_fixed_15_minute_mean() -> None:
    block = kpis(series(60, power=lambda m: 2.0 if 15 <= m <= 30 else 1.0))
    assert block.peak_kw == pytest.approx(2.0)
    assert block.peak_start == T0.replace(minute=15)
    # The same 3 kW for 15 minutes straddling two windows is split between them.
    straddle = kpis(series(60, power=lambda m: 3.0 if 10 <= m <= 25 else 1.0))
    assert straddle.peak_kw == pytest.approx(36 / 15)
    assert straddle.peak_start == T0.replace(minute=15)
    ts = [T0.timestamp() + 60 * m for m in range(61)]
    means = window_means(ts, [2.0 if 15 <= m <= 30 else 1.0 for m in range(61)], 900)
    k0 = int(T0.timestamp()) // 900
    assert means[k0 + 2] == pytest.approx((1.5 + 14) / 15)


def test_naive_times_are_read_as_utc() -> None:
    naive = series(60, power=lambda m: 1.0, start=datetime(2026, 1, 14, 12, 0))
    r = kpis(naive)
    assert r.energy_kwh == pytest.approx(1.0)
    assert r.peak_start == datetime(2026, 1, 14, 12, 0)


def test_bad_series_are_refused() -> None:
    ok = series(10)
    with pytest.raises(UsageError, match="at least 2"):
        kpis(ok[:1])
    with pytest.raises(UsageError, match="does not follow"):
        kpis([ok[0], ok[0]])
    with pytest.raises(UsageError, match="lacks zone 'a'"):
        kpis([ok[0], KpiSample(ok[1].t, 0.0, {"b": 20.0})])
    with pytest.raises(UsageError, match="inverted"):
        kpis(ok, band=lambda t: (25.0, 20.0))
    with pytest.raises(UsageError, match="floor area"):
        compute_kpis(ok, fixed_band, 1000.0, flat_price, 0.0)


@given(
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=2, max_size=40),
    st.lists(st.integers(1, 1200), min_size=39, max_size=39),
    st.integers(0, 3000),
)
def test_window_means_conserve_the_integral(
    values: list[float], gaps: list[int], offset: int
) -> None:
    ts = [1_767_225_600.0 + offset]
    for g in gaps[: len(values) - 1]:
        ts.append(ts[-1] + g)
    means = window_means(ts, values, 900)
    total = sum((ts[i + 1] - ts[i]) * (values[i] + values[i + 1]) / 2 for i in range(len(ts) - 1))
    covered = {k: min(ts[-1], (k + 1) * 900) - max(ts[0], k * 900) for k in means}
    assert sum(means[k] * covered[k] for k in means) == pytest.approx(total, abs=1e-6)
    assert max(means.values()) >= total / (ts[-1] - ts[0]) - 1e-9


# --- simulated days --------------------------------------------------------------------------

ZONES = [
    ZoneSpec("office-1", "office", 250.0),
    ZoneSpec("office-2", "office", 180.0),
    ZoneSpec("flat", "home", 90.0),
    ZoneSpec("class", "school", 120.0),
]


def factory() -> Building:
    return Building.from_zones(ZONES, seed=5)


def constant_21(now: datetime, b: Building) -> None:
    for z in b.zones.values():
        z.set_heating_setpoint(21.0)


def setback(now: datetime, b: Building) -> None:
    occupied = 6 <= now.hour < 19 and now.weekday() < 5
    for z in b.zones.values():
        z.set_heating_setpoint(21.0 if occupied else 16.0)
        z.set_ventilation(1 if occupied else 0)


def test_a_setback_controller_uses_less_energy_than_constant_21_in_january() -> None:
    band = comfort_band()
    day = date(2026, 1, 14)
    berlin = "Europe/Berlin"
    const = simulate_day(factory, day, berlin, constant_21, band, 1000, flat_price, warmup_h=24)
    saving = simulate_day(factory, day, berlin, setback, band, 1000, flat_price, warmup_h=24)
    assert saving.hvac_kwh < 0.8 * const.hvac_kwh
    assert saving.energy_kwh < const.energy_kwh
    assert saving.cost_eur < const.cost_eur
    assert const.tdis_kh_per_zone < 0.2  # 21 °C sits inside the 20-24 °C occupied band
    assert const.hours == 24.0 and set(const.tdis_kh) == {z.id for z in ZONES}
    assert const.hvac_kwh > 50  # a January day in central Europe needs heat


def test_the_kpi_energy_matches_the_simulated_meter() -> None:
    built: list[Building] = []

    def keep() -> Building:
        built.append(Building.from_zones(ZONES, seed=5))
        return built[-1]

    r = simulate_day(keep, date(2026, 1, 14), BERLIN, setback, comfort_band(), 1000, flat_price)
    m = built[0].meter()
    assert r.energy_kwh == pytest.approx(m.import_kwh, rel=1e-3)
    assert r.export_kwh == pytest.approx(m.export_kwh, rel=0.05, abs=0.05)


def test_daylight_saving_days_last_23_and_25_hours() -> None:
    short = simulate_day(
        factory, date(2026, 3, 29), BERLIN, None, fixed_band, 1000, flat_price, 900
    )
    long = simulate_day(
        factory, date(2026, 10, 25), BERLIN, None, fixed_band, 1000, flat_price, 900
    )
    assert (short.hours, long.hours) == (23.0, 25.0)
    assert short.end == datetime(2026, 3, 30, tzinfo=BERLIN)


def test_a_pv_limit_controller_stops_export_on_a_summer_day() -> None:
    homes = [ZoneSpec(f"h{i}", "home", 100.0) for i in range(3)]

    def sunny() -> Building:
        return Building.from_zones(homes, seed=2, site=SiteSpec(pv_kwp=30.0))

    def no_export(now: datetime, b: Building) -> None:
        b.set_pv_limit_kw(0.0)

    day = date(2026, 7, 15)
    free = simulate_day(sunny, day, BERLIN, None, fixed_band, 1000, flat_price, 300)
    capped = simulate_day(sunny, day, BERLIN, no_export, fixed_band, 1000, flat_price, 300)
    assert free.export_kwh > 50 and capped.export_kwh == 0.0
    assert capped.energy_kwh > free.energy_kwh


def test_simulated_days_are_deterministic_and_serialise() -> None:
    def once() -> dict[str, object]:
        day, limit = date(2026, 1, 14), (lambda t: 900.0)
        r = simulate_day(factory, day, BERLIN, setback, comfort_band(), limit, flat_price, 300)
        return r.to_json()

    first = once()
    assert first == once()
    back = json.loads(json.dumps(first))
    assert back["start"] == "2026-01-14T00:00:00+01:00" and back["hours"] == 24.0
    assert set(back["idis_ppmh"]) == {z.id for z in ZONES}


def test_simulate_day_refuses_bad_arguments() -> None:
    with pytest.raises(UsageError, match="time zone"):
        simulate_day(factory, date(2026, 1, 14), "Mars/Olympus", None, fixed_band, 1000, flat_price)
    with pytest.raises(UsageError, match="time step"):
        simulate_day(
            factory, date(2026, 1, 14), timezone.utc, None, fixed_band, 1000, flat_price, 0
        )
    with pytest.raises(UsageError, match="warm-up"):
        simulate_day(
            factory, date(2026, 1, 14), BERLIN, None, fixed_band, 1000, flat_price, warmup_h=-1
        )
