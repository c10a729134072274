"""Tests of smartbuild.sim.building.physics: climate, zone thermal/CO2 model, site loads and meter."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from smartbuild.errors import ConfigError, UsageError
from smartbuild.sim.building.physics import (
    CO2_PER_PERSON_L_S,
    HEAT_PER_PERSON_W,
    NOMINAL_VOLTAGE_V,
    OUTDOOR_CO2_PPM,
    Building,
    Climate,
    HvacMode,
    SiteSpec,
    VentilationMode,
    ZoneModel,
    ZoneParams,
    ZoneSpec,
    cooling_eer,
    heat_pump_cop,
)

BERLIN = ZoneInfo("Europe/Berlin")
JAN_WED = datetime(2026, 1, 14, tzinfo=BERLIN)  # a Wednesday, no DST switch near
JUL_WED = datetime(2026, 7, 15, tzinfo=BERLIN)
FLAT_0C = Climate(0.0, 0.0, daily_amplitude_winter_k=0.0, daily_amplitude_summer_k=0.0)
ALWAYS = (1.0,) * 24
NEVER = (0.0,) * 24


def run(
    b: Building,
    start: datetime,
    hours: float,
    dt_s: float = 60,
    each: Callable[[datetime, Building], None] | None = None,
) -> datetime:
    """Step `b` from `start` for `hours`, calling `each(now, b)` after every step."""
    b.step(0, start)
    t = start
    for _ in range(round(hours * 3600 / dt_s)):
        t += timedelta(seconds=dt_s)
        b.step(dt_s, t)
        if each:
            each(t, b)
    return t


def one_zone(params: ZoneParams | None = None, climate: Climate | None = None) -> Building:
    """Return a building with one 100 m² office zone and no site equipment."""
    zone = ZoneModel(ZoneSpec("z", "office", 100.0), params)
    return Building([zone], SiteSpec(ev_charger=False), climate or Climate())


def test_outdoor_curve_has_documented_means_and_extremes() -> None:
    c = Climate()
    for day, mean, amp in ((datetime(2026, 1, 15), 1.0, 2.5), (datetime(2026, 7, 15), 19.0, 5.5)):
        temps = [c.temperature_c(day + timedelta(minutes=5 * i)) for i in range(288)]
        assert sum(temps) / len(temps) == pytest.approx(mean, abs=0.1)
        assert (max(temps) - min(temps)) / 2 == pytest.approx(amp, abs=0.1)
        assert temps.index(min(temps)) * 5 == 5 * 60  # 05:00
        assert temps.index(max(temps)) * 5 == 15 * 60  # 15:00


def test_weather_noise_is_seeded_bounded_and_a_function_of_time() -> None:
    plain, a, b = Climate(), Climate(noise_k=0.5, seed=7), Climate(noise_k=0.5, seed=7)
    other = Climate(noise_k=0.5, seed=8)
    times = [JAN_WED + timedelta(minutes=17 * i) for i in range(200)]
    noise = [a.temperature_c(t) - plain.temperature_c(t) for t in times]
    assert [a.temperature_c(t) for t in times] == [b.temperature_c(t) for t in times]
    assert all(abs(n) <= 0.5 for n in noise)
    assert max(noise) - min(noise) > 0.3
    differs = sum(a.temperature_c(t) != other.temperature_c(t) for t in times)
    assert differs == len(times)


def test_heating_raises_temperature_to_the_setpoint() -> None:
    b = one_zone()
    z = b.zone("z")
    z.temperature_c = z.mass_temperature_c = 15.0
    z.set_ventilation(VentilationMode.OFF)
    z.set_heating_setpoint(21.0)
    seen: list[float] = []
    run(b, JAN_WED, 8, each=lambda _t, bb: seen.append(bb.zone("z").temperature_c))
    first_hour = seen[:60]
    assert all(later > earlier for earlier, later in itertools.pairwise(first_hour))
    assert max(seen) <= 21.5  # never above the top of the proportional band
    assert 20.5 <= seen[-1] <= 21.5
    assert z.hvac_thermal_w > 0 and z.hvac_electric_w > 0


def test_without_hvac_the_zone_decays_towards_outdoor() -> None:
    params = ZoneParams(100.0, occupancy_weekday=NEVER, plug_base_w_m2=0.0, solar_aperture=0.0)
    b = one_zone(params, FLAT_0C)
    z = b.zone("z")
    z.set_hvac_mode(HvacMode.OFF)
    z.set_ventilation(VentilationMode.OFF)
    seen: list[float] = []
    run(b, JAN_WED, 72, dt_s=300, each=lambda _t, bb: seen.append(bb.zone("z").temperature_c))
    assert all(0.0 < later < earlier for earlier, later in itertools.pairwise(seen))
    assert seen[-1] < 0.5 * seen[0]
    run(b, JAN_WED + timedelta(days=3), 24 * 10, dt_s=3600)
    assert 0.0 < z.temperature_c < 0.05
    assert z.hvac_electric_w == 0.0


def test_cooling_pulls_a_hot_zone_down_in_summer() -> None:
    b = one_zone()
    z = b.zone("z")
    z.temperature_c = z.mass_temperature_c = 28.0
    z.set_hvac_mode(HvacMode.COOL)
    end = run(b, JUL_WED.replace(hour=12), 1)
    assert z.temperature_c < 26.0
    assert z.hvac_thermal_w == -z.cooling_capacity_w  # the sun on the warm mass needs it all
    assert z.hvac_electric_w == pytest.approx(
        z.cooling_capacity_w / cooling_eer(b.outdoor_temperature_c)
    )
    run(b, end, 7)  # 20:00: the sun is low and the zone sits in the cooling band
    assert 23.5 <= z.temperature_c <= 24.5


def test_sunshine_warms_a_free_running_zone() -> None:
    sunny = ZoneModel(ZoneSpec("sunny", "office", 100.0))
    shaded = ZoneModel(ZoneSpec("shaded", "office", 100.0), ZoneParams(100.0, solar_aperture=0.0))
    b = Building([sunny, shaded], SiteSpec(ev_charger=False), Climate())
    for z in (sunny, shaded):
        z.set_hvac_mode(HvacMode.OFF)
    end = run(b, JUL_WED.replace(hour=6), 7)
    assert sunny.solar_w > 2000 and shaded.solar_w == 0.0
    run(b, end, 5)
    assert sunny.temperature_c > shaded.temperature_c + 1.0


def test_co2_rises_with_people_and_falls_with_ventilation() -> None:
    params = ZoneParams(100.0, m2_per_person=10.0, occupancy_weekday=ALWAYS)
    b = one_zone(params)
    z = b.zone("z")
    z.set_ventilation(VentilationMode.OFF)
    rising: list[float] = []
    humid: list[float] = []

    def record(_t: datetime, bb: Building) -> None:
        rising.append(bb.zone("z").co2_ppm)
        humid.append(bb.zone("z").humidity_pct)

    end = run(b, JAN_WED.replace(hour=8), 3, each=record)
    assert all(later > earlier for earlier, later in itertools.pairwise(rising))
    assert rising[-1] > 1000
    assert humid[-1] > humid[0] and all(0 < h <= 100 for h in humid)
    z.set_ventilation(VentilationMode.ON)
    falling: list[float] = []
    run(b, end, 0.5, each=lambda _t, bb: falling.append(bb.zone("z").co2_ppm))
    assert all(later < earlier for earlier, later in itertools.pairwise(falling))
    # Well-mixed steady state: C = C_out + G / (V · n) with 10 people and 0.3 + 2.0 ACH.
    run(b, end + timedelta(hours=0.5), 6)
    expected = OUTDOOR_CO2_PPM + 10 * CO2_PER_PERSON_L_S * 1e-3 * 1e6 / (300.0 * 2.3 / 3600)
    assert z.co2_ppm == pytest.approx(expected, abs=1.0)
    z.set_ventilation(VentilationMode.BOOST)
    run(b, end + timedelta(hours=6.5), 6)
    assert z.co2_ppm < expected


def test_zone_heat_balance_closes() -> None:
    b = one_zone()
    z = b.zone("z")
    z.temperature_c = z.mass_temperature_c = 17.0
    stored = z.stored_heat_j
    flows = 0.0

    def account(_t: datetime, bb: Building) -> None:
        nonlocal flows
        t_out = bb.outdoor_temperature_c
        gains = z.occupants * HEAT_PER_PERSON_W + z.plug_w + z.hvac_thermal_w + z.solar_w
        loss = z.h_air_out_w_k * (z.temperature_c - t_out)
        loss += z.h_mass_out_w_k * (z.mass_temperature_c - t_out)
        flows += (gains - loss) * 60

    run(b, JAN_WED.replace(hour=6), 12, each=account)
    assert z.stored_heat_j - stored == pytest.approx(flows, rel=1e-9)
    assert abs(flows) > 1e6  # the balance was not trivially zero


@functools.cache
def warm_up_run(dt_s: float) -> tuple[float, float, float]:
    """Heat a 16 °C office for 4 h at `dt_s`; return final temperature, CO2 and peak temperature."""
    b = one_zone()
    z = b.zone("z")
    z.temperature_c = z.mass_temperature_c = 16.0
    peak = 0.0

    def watch(_t: datetime, bb: Building) -> None:
        nonlocal peak
        peak = max(peak, bb.zone("z").temperature_c)

    run(b, JAN_WED.replace(hour=6), 4, dt_s=dt_s, each=watch)
    return z.temperature_c, z.co2_ppm, peak


@pytest.mark.parametrize("dt_s", [10, 60, 120, 300, 900])
def test_any_step_matches_a_1_s_reference(dt_s: int) -> None:
    ref, got = warm_up_run(1), warm_up_run(dt_s)
    assert all(math.isfinite(v) for v in got)
    assert ref[0] > 20.5  # the reference did heat up
    assert got[0] == pytest.approx(ref[0], abs=0.1)
    assert got[1] == pytest.approx(ref[1], rel=0.02)
    assert got[2] <= 21.5  # no overshoot above the proportional band


def test_ev_charges_one_session_per_schedule_and_obeys_the_limit() -> None:
    site = SiteSpec(ev_habit=(8.0, 17.0, True, 15.0))
    b = Building([ZoneModel(ZoneSpec("z", "office", 100.0))], site, Climate())
    delivered = 0.0
    powers: dict[int, float] = {}

    def meter_ev(t: datetime, bb: Building) -> None:
        nonlocal delivered
        delivered += bb.ev_power_w * 60 / 3.6e6
        powers[t.hour * 60 + t.minute] = bb.ev_power_w

    run(b, JAN_WED, 24, each=meter_ev)
    assert delivered == pytest.approx(15.0, abs=1e-9)
    assert powers[8 * 60] == 0.0  # the step ending at 08:00 ran before the car arrived
    assert powers[8 * 60 + 1] == 3 * NOMINAL_VOLTAGE_V * 16
    assert powers[12 * 60] == 0.0  # session energy reached after ~1.4 h
    b.set_ev_current_limit(0)
    run(b, JAN_WED + timedelta(days=1), 10)  # Thursday: a new car arrives but is paused
    assert b.ev_connected and b.ev_power_w == 0.0
    b.set_ev_current_limit(10)
    b.step(60, JAN_WED + timedelta(days=1, hours=10, minutes=1))
    assert b.ev_power_w == 3 * NOMINAL_VOLTAGE_V * 10
    with pytest.raises(UsageError) as e:
        b.set_ev_current_limit(5)
    assert "6-16 A" in (e.value.hint or "")
    run(b, JAN_WED + timedelta(days=3), 12)  # Saturday
    assert not b.ev_connected and b.ev_power_w == 0.0


def test_pv_follows_the_sun_season_and_limit() -> None:
    b = Building([], SiteSpec(pv_kwp=10.0, ev_charger=False), Climate())
    yields: dict[str, float] = {}
    for name, day in (("jan", JAN_WED), ("jul", JUL_WED)):
        out: dict[float, float] = {}

        def record(t: datetime, bb: Building, out: dict[float, float] = out) -> None:
            out[t.hour + t.minute / 60] = bb.pv_power_w

        run(b, day, 24, dt_s=300, each=record)
        yields[name] = sum(out.values()) * 300 / 3.6e6
        assert out[3.0] == 0.0 and out[23.0] == 0.0
        noon = max(out, key=lambda h: out[h])
        assert noon == pytest.approx(13.5 if name == "jul" else 12.5, abs=0.25)  # CEST / CET
    assert yields["jan"] < 0.3 * yields["jul"]
    assert 40 < yields["jul"] < 60  # ~5.4 kWh/kWp on an average July day
    b.set_pv_limit_kw(2.0)
    b.step(60, JUL_WED.replace(hour=13, minute=30))
    assert b.pv_available_w > 6000 and b.pv_power_w == 2000.0
    b.set_pv_limit_kw(None)
    assert b.pv_power_w == b.pv_available_w
    with pytest.raises(UsageError):
        b.set_pv_limit_kw(-1)


def test_meter_sums_loads_per_phase_and_counts_import_and_export() -> None:
    zones = [ZoneSpec(f"h{i}", "home", 120.0) for i in range(4)]
    b = Building.from_zones(zones, seed=1, site=SiteSpec(pv_kwp=40.0, ev_habit=(18, 7, False, 20)))
    net_in = net_out = 0.0

    def check(_t: datetime, bb: Building) -> None:
        nonlocal net_in, net_out
        m = bb.meter()
        net = bb.net_power_w()
        assert m.total_power_w == pytest.approx(net, abs=1e-6)
        assert sum(m.power_w) == pytest.approx(m.total_power_w, abs=1e-6)
        for p, i, v in zip(m.power_w, m.current_a, m.voltage_v, strict=True):
            assert i == pytest.approx(abs(p) / NOMINAL_VOLTAGE_V)
            assert (v < NOMINAL_VOLTAGE_V) == (p > 0)
        net_in += max(net, 0.0) * 60 / 3.6e6
        net_out += max(-net, 0.0) * 60 / 3.6e6

    run(b, JUL_WED, 24, each=check)
    m = b.meter()
    assert m.import_kwh == pytest.approx(net_in, rel=1e-9)
    assert m.export_kwh == pytest.approx(net_out, rel=1e-9)
    assert m.export_kwh > 10 and m.import_kwh > 10  # sunny noon exports, the EV night imports


def test_setpoints_keep_a_deadband_and_reject_nonsense() -> None:
    z = ZoneModel(ZoneSpec("z", "office", 50.0))
    assert (z.heating_setpoint_c, z.cooling_setpoint_c) == (21.0, 24.0)
    z.set_heating_setpoint(23.5)
    assert z.cooling_setpoint_c == 24.5
    z.set_cooling_setpoint(20.0)
    assert z.heating_setpoint_c == 19.0
    with pytest.raises(UsageError, match="5-30"):
        z.set_heating_setpoint(40)
    with pytest.raises(UsageError, match="15-35"):
        z.set_cooling_setpoint(10)
    with pytest.raises(UsageError) as e:
        z.set_ventilation(7)
    assert "2 boost" in (e.value.hint or "")
    z.set_ventilation(2)
    assert z.ventilation is VentilationMode.BOOST
    assert z.mech_ach == pytest.approx(1.5 * z.params.vent_ach)


def test_from_zones_reports_every_problem_with_its_path() -> None:
    bad = [ZoneSpec("a", "ofice", 10.0), ZoneSpec("a", "home", 0.0), ZoneSpec("c", "zoo", 5.0)]
    with pytest.raises(ConfigError) as e:
        Building.from_zones(bad)
    lines = e.value.lines()
    assert "zones[0].kind: unknown zone kind 'ofice'. Did you mean 'office'?" in lines
    assert any(line.startswith("zones[1].area_m2:") for line in lines)
    assert "zones[1].id: duplicate zone id 'a'" in lines
    assert any("zones[2].kind" in line and "office, home, school, hotel" in line for line in lines)
    b = Building.from_zones([ZoneSpec("a", "school", 10.0)])
    with pytest.raises(UsageError) as u:
        b.zone("b")
    assert u.value.hint == "zones: a"


def test_step_rejects_impossible_steps() -> None:
    b = one_zone()
    for dt in (-1, 3601):
        with pytest.raises(UsageError):
            b.step(dt, JAN_WED)


def test_heat_pump_efficiency_depends_on_outdoor_temperature() -> None:
    cops = [heat_pump_cop(t) for t in (-15, -7, 2, 7, 12)]
    assert cops == sorted(cops) and all(1.5 <= c <= 6 for c in cops)
    assert 4.0 < heat_pump_cop(7) < 5.5  # typical A7/W35 rating
    assert cooling_eer(35) < cooling_eer(27) <= 6.0


def test_same_seed_same_building_different_seed_different_weather() -> None:
    zones = [ZoneSpec("o", "office", 200.0), ZoneSpec("h", "hotel", 300.0)]

    def day(seed: int | None) -> tuple[float, ...]:
        b = Building.from_zones(zones, seed=seed)
        run(b, JAN_WED, 6, dt_s=120)
        m = b.meter()
        return (
            m.import_kwh,
            b.zone("o").temperature_c,
            b.zone("h").co2_ppm,
            b.outdoor_temperature_c,
        )

    assert day(3) == day(3)
    assert day(3)[3] != day(4)[3]


def test_default_params_scale_with_area_and_kind() -> None:
    small, large = (
        ZoneModel(ZoneSpec("s", "school", 50.0)),
        ZoneModel(ZoneSpec("l", "school", 200.0)),
    )
    assert large.c_mass_j_k == pytest.approx(4 * small.c_mass_j_k)
    assert large.heating_capacity_w == pytest.approx(4 * small.heating_capacity_w)
    school = ZoneParams.for_spec(ZoneSpec("s", "school", 100.0))
    home = ZoneParams.for_spec(ZoneSpec("h", "home", 100.0))
    assert school.vent_ach > home.vent_ach and school.m2_per_person < home.m2_per_person
    assert dataclasses.replace(school, area_m2=10.0).vent_ach == school.vent_ach
