"""Every shipped profile (profiles/ at the top of the repository) validates, fits the JSON Schema and plans sensibly."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from smartbuild.profiles.planner import Plan, PointState, ZoneInfo, plan_profile
from smartbuild.profiles.schema import Profile, load_profile_text

PROFILES = Path(__file__).resolve().parents[2] / "src" / "smartbuild" / "profiles" / "library"
FILES = sorted(PROFILES.glob("*.yaml"))

ZONES = [
    ZoneInfo("f1-office", "main", 1, ("office",), 120),
    ZoneInfo("h-living", "home", 0, ("home",), 35),
    ZoneInfo("s-class-1a", "school", 0, ("school",), 60),
    ZoneInfo("hotel-101", "hotel", 1, ("hotel",), 25),
    ZoneInfo("p-garage", "main", -1, ("parking",), 400),
]


def pt(zone: str | None, role: str, unit: str, current: float, **extra: object) -> PointState:
    fields: dict[str, object] = {"writable": True, "min": None, "max": None}
    fields.update(extra)
    return PointState(f"{zone}-dev", role, role, zone, unit, current, **fields)  # type: ignore[arg-type]


POINTS = [
    pt("f1-office", "heating_setpoint", "°C", 18.0, min=5, max=30),
    pt("f1-office", "cooling_setpoint", "°C", 26.0, min=16, max=32),
    pt("f1-office", "co2_setpoint", "ppm", 1000.0, min=400, max=2000),
    pt("f1-office", "ventilation_mode", "", 0.0),
    pt("f1-office", "zone_air_temperature", "°C", 19.2, writable=False),
    pt("h-living", "heating_setpoint", "°C", 19.0, min=5, max=28),
    pt("h-living", "dhw_setpoint", "°C", 50.0, min=40, max=65),
    pt("s-class-1a", "heating_setpoint", "°C", 18.0, min=5, max=30),
    pt("s-class-1a", "cooling_setpoint", "°C", 26.0, min=16, max=34),
    pt("s-class-1a", "co2_setpoint", "ppm", 1000.0, min=400, max=2000),
    pt("s-class-1a", "ventilation_mode", "", 2.0),
    pt("hotel-101", "heating_setpoint", "°C", 21.0, min=5, max=30, step=0.5),
    pt("hotel-101", "cooling_setpoint", "°C", 24.0, min=16, max=32, step=0.5),
    pt("hotel-101", "fan_speed", "%", 40.0, min=0, max=100),
    pt("p-garage", "ev_charger_current_limit", "A", 16.0, min=6, max=32),
    pt("p-garage", "ev_charger_enable", "", 1.0),
    PointState("meter", "p", "site_active_power", None, "kW", 46.5, False),
]


def load(name: str) -> Profile:
    return load_profile_text((PROFILES / name).read_text("utf-8"), file=name)


def plan(name: str, at: dt.datetime, points: list[PointState] = POINTS) -> Plan:
    return plan_profile(load(name), ZONES, points, tz="Europe/Berlin", at=at)


def targets(result: Plan) -> dict[str, float | None]:
    return {a.role: a.target for a in result.actions}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_profile_validates_and_matches_the_json_schema(path: Path) -> None:
    profile = load_profile_text(path.read_text("utf-8"), file=path.name)
    assert profile.profile == path.stem
    assert profile.title
    data = json.loads(json.dumps(yaml.safe_load(path.read_text("utf-8")), default=str))
    jsonschema.validate(data, Profile.model_json_schema())


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_profile_plans_one_zone_with_every_role_present(path: Path) -> None:
    result = plan(path.name, dt.datetime(2026, 1, 12, 10, 0))
    assert len(result.modes) == 1
    assert result.actions
    assert not [w for w in result.warnings if "no point for" in w or "no zone" in w]
    assert all(a.status != "blocked" for a in result.actions), result.actions


def test_every_shipped_profile_has_expectations_below() -> None:
    assert {p.name for p in FILES} == {
        "office-en16798-cat2.yaml",
        "home-eco-night.yaml",
        "school-holidays.yaml",
        "peak-shaving-ev.yaml",
        "hotel-room-setback.yaml",
    }


def test_office_category_ii() -> None:
    winter_day = plan("office-en16798-cat2.yaml", dt.datetime(2026, 1, 12, 10, 0))
    assert winter_day.modes == {"f1-office": "occupied"}
    # thermostats aim half a kelvin inside the 20-24 °C band; the air-handling unit is on
    assert targets(winter_day) == {
        "heating_setpoint": 20.5,
        "cooling_setpoint": 23.5,
        "co2_setpoint": 1220.0,
        "ventilation_mode": 1.0,
    }
    summer_day = plan("office-en16798-cat2.yaml", dt.datetime(2026, 7, 13, 10, 0))
    assert targets(summer_day)["cooling_setpoint"] == 25.5
    christmas = plan("office-en16798-cat2.yaml", dt.datetime(2026, 12, 25, 10, 0))
    assert christmas.mode_why == "unoccupied (exception Christmas Day 2026-12-25)"
    assert targets(christmas)["heating_setpoint"] == 18.0
    assert targets(christmas)["ventilation_mode"] == 0.0


def test_home_preheats_before_the_evening_peak() -> None:
    afternoon = plan("home-eco-night.yaml", dt.datetime(2026, 1, 12, 15, 0))
    assert targets(afternoon)["heating_setpoint"] == 21.0
    before_peak = plan("home-eco-night.yaml", dt.datetime(2026, 1, 12, 16, 15))
    heating = next(a for a in before_peak.actions if a.role == "heating_setpoint")
    assert heating.target == 22.0
    assert "preheat +1: price 0.45 EUR > 0.4 from 17:00 (in 45 min)" in heating.reason
    night = plan("home-eco-night.yaml", dt.datetime(2026, 1, 12, 23, 0))
    assert targets(night) == {"heating_setpoint": 17.0, "dhw_setpoint": 50.0}


def test_school_holiday_ranges() -> None:
    term = plan("school-holidays.yaml", dt.datetime(2026, 6, 8, 9, 0))
    assert term.modes == {"s-class-1a": "lessons"}
    summer = plan("school-holidays.yaml", dt.datetime(2026, 8, 3, 9, 0))
    assert summer.modes == {"s-class-1a": "holiday"}
    assert summer.mode_why == "holiday (exception summer holidays 2026-07-09..2026-08-22)"
    assert targets(summer)["heating_setpoint"] == 12.0
    assert plan("school-holidays.yaml", dt.datetime(2027, 1, 4, 9, 0)).modes == {
        "s-class-1a": "lessons"
    }


def test_peak_shaving_sheds_and_releases_ev_chargers() -> None:
    over = plan("peak-shaving-ev.yaml", dt.datetime(2026, 1, 12, 18, 0))
    assert over.shedding == "shed"
    charger = next(a for a in over.actions if a.role == "ev_charger_current_limit")
    assert (charger.status, charger.target) == ("change", 6.0)
    assert "site_active_power 46.5 kW > limit 40 kW" in charger.reason

    def with_meter(kw: float, current: float) -> list[PointState]:
        points = [
            p for p in POINTS if p.role not in ("site_active_power", "ev_charger_current_limit")
        ]
        return [
            *points,
            pt("p-garage", "ev_charger_current_limit", "A", current, min=6, max=32),
            PointState("meter", "p", "site_active_power", None, "kW", kw, False),
        ]

    held = plan("peak-shaving-ev.yaml", dt.datetime(2026, 1, 12, 18, 5), with_meter(37.0, 6.0))
    assert targets(held)["ev_charger_current_limit"] == 6.0
    assert held.shedding == "hold"
    released = plan("peak-shaving-ev.yaml", dt.datetime(2026, 1, 12, 18, 10), with_meter(30.0, 6.0))
    assert targets(released)["ev_charger_current_limit"] == 16.0
    assert released.price is not None and released.price.price == 0.42


def test_hotel_setback_is_relative_to_comfort() -> None:
    evening = plan("hotel-room-setback.yaml", dt.datetime(2026, 1, 12, 20, 0))
    assert targets(evening) == {
        "heating_setpoint": 20.0,
        "cooling_setpoint": 24.0,
        "fan_speed": 40.0,
    }
    midday = plan("hotel-room-setback.yaml", dt.datetime(2026, 1, 12, 12, 0))
    assert targets(midday) == {
        "heating_setpoint": 18.0,
        "cooling_setpoint": 26.0,
        "fan_speed": 20.0,
    }
    heating = next(a for a in midday.actions if a.role == "heating_setpoint")
    assert heating.reason == (
        "setback (daily 10:30-15:00) → comfort.low -2 EN 16798-1 Cat II heating = 18.0 °C"
    )


def test_the_shipped_profiles_are_the_top_level_folder() -> None:
    """One source of truth: the package's library is a link to profiles/ (a wheel copies it)."""
    from smartbuild.profiles.loading import LIBRARY, shipped_profiles

    top = Path(__file__).resolve().parents[2] / "profiles"
    assert LIBRARY.resolve() == top
    assert [p.name for p in shipped_profiles()] == sorted(p.name for p in top.glob("*.yaml"))
