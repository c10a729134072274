"""Planner: statuses, zone selection, warnings, shedding and JSON, on an in-memory site."""

from __future__ import annotations

import copy
import datetime as dt
import json
import zoneinfo
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartbuild.profiles.planner import PlannedAction, PointState, ZoneInfo, plan_profile
from smartbuild.profiles.schema import Profile

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
MONDAY_10 = dt.datetime(2026, 1, 12, 10, 0)  # heating season, office hours
MONDAY_22 = dt.datetime(2026, 1, 12, 22, 0)

ZONES = [
    ZoneInfo("f1-office", "main", 1, ("office",), 120),
    ZoneInfo("f1-meeting", "main", 1, ("office", "meeting"), 40),
    ZoneInfo("f2-office", "main", 2, ("office",), 200),
    ZoneInfo("annex-office", "annex", 1, ("office",), 60),
    ZoneInfo("p-1", "main", 0, ("parking",), 500),
]

PROFILE: dict[str, Any] = {
    "profile": "test-office",
    "applies_to": {"tags": ["office"], "buildings": ["main"]},
    "comfort": {"standard": "en16798-1", "category": "II"},
    "modes": {
        "occupied": {
            "heating_setpoint": "comfort.low",
            "cooling_setpoint": "comfort.high",
            "co2_setpoint": "comfort.co2_max",
        },
        "unoccupied": {"heating_setpoint": 16, "cooling_setpoint": 30, "co2_setpoint": 1500},
    },
    "schedule": {
        "weekly": {"mon-fri": [{"from": "07:00", "to": "19:00", "mode": "occupied"}]},
        "default": "unoccupied",
    },
}


def profile(**changes: Any) -> Profile:
    data = copy.deepcopy(PROFILE)
    data.update(changes)
    return Profile.model_validate(data)


def point(zone: str | None, role: str, current: float | None, **extra: Any) -> PointState:
    unit = {"co2_setpoint": "ppm", "site_active_power": "kW"}.get(role, "°C")
    fields: dict[str, Any] = {"writable": True, "min": 5.0, "max": 2000.0, "unit": unit}
    fields.update(extra)
    return PointState(f"dev-{zone}", f"{role}-{current}", role, zone, current=current, **fields)


def full_zone(zone: str, heating: float | None = 18.0) -> list[PointState]:
    return [
        point(zone, "heating_setpoint", heating),
        point(zone, "cooling_setpoint", 24.0),
        point(zone, "co2_setpoint", 1220.0),
        point(zone, "zone_air_temperature", 21.3, writable=False),
    ]


def plan_one(current: float | None, **extra: Any) -> PlannedAction:
    plan = plan_profile(
        profile(),
        ZONES,
        [point("f1-office", "heating_setpoint", current, **extra)],
        tz=BERLIN,
        at=MONDAY_10,
        zone_filter=["f1-office"],
    )
    (action,) = plan.actions
    return action


def test_change_with_reason() -> None:
    action = plan_one(18.0)
    assert (action.status, action.current, action.target) == ("change", 18.0, 20.0)
    assert action.reason == (
        "occupied (mon-fri 07:00-19:00) → comfort.low EN 16798-1 Cat II heating = 20.0 °C"
    )
    assert action.blocked_by == ()


@pytest.mark.parametrize(
    ("current", "status"),
    [
        (20.0, "skip-unchanged"),
        (20.0000001, "skip-unchanged"),  # register scaling noise
        (19.8, "skip-deadband"),  # heating deadband defaults to 0.3
        (20.29, "skip-deadband"),
        (19.7, "change"),
        (None, "unreadable"),  # unknown current value: shown as such, still tried on apply
    ],
)
def test_unchanged_and_deadband(current: float | None, status: str) -> None:
    assert plan_one(current).status == status


def test_profile_deadband_overrides_the_role_default() -> None:
    plan = plan_profile(
        profile(deadband={"heating_setpoint": 1.0}),
        ZONES,
        [point("f1-office", "heating_setpoint", 19.5)],
        tz=BERLIN,
        at=MONDAY_10,
    )
    assert plan.actions[0].status == "skip-deadband"


@pytest.mark.parametrize(
    ("extra", "blocked_by"),
    [
        ({"max": 19.0}, "target 20 above the point's maximum 19"),
        ({"min": 21.0}, "target 20 below the point's minimum 21"),
        ({"writable": False}, "point is not writable"),
        ({"unit": "K"}, "point unit 'K' is not °C"),
    ],
)
def test_blocked_without_clamping(extra: dict[str, Any], blocked_by: str) -> None:
    action = plan_one(18.0, **extra)
    assert action.status == "blocked"
    assert action.target == 20.0  # reported as asked, never clamped
    assert action.blocked_by == (blocked_by,)


def test_unit_spelling_variants_are_not_a_mismatch() -> None:
    assert plan_one(18.0, unit="degC").status == "change"


def test_veto_blocks_and_is_asked_only_about_writes() -> None:
    asked: list[PlannedAction] = []

    def veto(action: PlannedAction) -> list[str]:
        asked.append(action)
        return ["interlock: window open"] if action.role == "heating_setpoint" else []

    points = full_zone("f1-office")
    plan = plan_profile(profile(), ZONES, points, tz=BERLIN, at=MONDAY_10, vetoes=veto)
    by_role = {a.role: a for a in plan.actions}
    assert by_role["heating_setpoint"].status == "blocked"
    assert by_role["heating_setpoint"].blocked_by == ("interlock: window open",)
    assert by_role["cooling_setpoint"].status == "skip-unchanged"
    assert [a.role for a in asked] == ["heating_setpoint"]


def test_veto_reasons_add_to_bound_problems() -> None:
    plan = plan_profile(
        profile(),
        ZONES,
        [point("f1-office", "heating_setpoint", 18.0, max=19.0)],
        tz=BERLIN,
        at=MONDAY_10,
        vetoes=lambda action: ["manual override"],
    )
    assert plan.actions[0].blocked_by == (
        "target 20 above the point's maximum 19",
        "manual override",
    )


def test_zone_selection_is_an_and_of_keys() -> None:
    points = [p for z in ZONES for p in full_zone(z.id)]
    plan = plan_profile(profile(), ZONES, points, tz=BERLIN, at=MONDAY_10)
    assert list(plan.modes) == ["f1-office", "f1-meeting", "f2-office"]
    assert {a.zone for a in plan.actions} == set(plan.modes)
    assert len(plan.actions) == 9  # three writable roles in three zones; sensors are not planned
    on_floor_1 = profile(applies_to={"tags": ["office"], "floors": [1], "zones": ["f1-*"]})
    plan = plan_profile(on_floor_1, ZONES, points, tz=BERLIN, at=MONDAY_10)
    assert list(plan.modes) == ["f1-office", "f1-meeting"]
    assert plan.warnings == ()


def test_zone_filter_narrows_and_warns_when_it_matches_nothing() -> None:
    points = [p for z in ZONES for p in full_zone(z.id)]
    plan = plan_profile(profile(), ZONES, points, tz=BERLIN, at=MONDAY_10, zone_filter=["f2-*"])
    assert list(plan.modes) == ["f2-office"]
    plan = plan_profile(
        profile(), ZONES, points, tz=BERLIN, at=MONDAY_10, zone_filter=["f9-*", "p-1"]
    )
    assert plan.actions == ()
    assert plan.warnings == (
        "zone filter: 'f9-*' matches no zone",
        "no zone selected: the profile's applies_to and zone filter match nothing",
    )


def test_applies_to_pattern_matching_nothing_is_a_warning() -> None:
    plan = plan_profile(
        profile(applies_to={"zones": ["f1-office", "lab-*"]}),
        ZONES,
        full_zone("f1-office"),
        tz=BERLIN,
        at=MONDAY_10,
    )
    assert plan.warnings == ("applies_to.zones: 'lab-*' matches no zone",)


def test_one_missing_role_warning_per_zone() -> None:
    points = [*full_zone("f1-office"), point("f2-office", "heating_setpoint", 18.0)]
    plan = plan_profile(profile(), ZONES, points, tz=BERLIN, at=MONDAY_10)
    assert plan.warnings == (
        "zone 'f1-meeting': no point for co2_setpoint, cooling_setpoint, heating_setpoint",
        "zone 'f2-office': no point for co2_setpoint, cooling_setpoint",
    )


def test_unoccupied_mode_targets_and_counts() -> None:
    points = [p for z in ("f1-office", "f1-meeting") for p in full_zone(z)]
    plan = plan_profile(profile(), ZONES, points, tz="Europe/Berlin", at=MONDAY_22)
    assert set(plan.modes.values()) == {"unoccupied"}
    assert plan.mode_why == "unoccupied (default)"
    targets = {(a.zone, a.role): a.target for a in plan.actions}
    assert targets["f1-office", "heating_setpoint"] == 16.0
    assert targets["f1-meeting", "co2_setpoint"] == 1500.0
    assert plan.counts == {"change": 6}
    assert plan.at.tzinfo is not None and plan.at.hour == 22
    assert len(plan.changes()) == 6


def test_step_rounding_is_reported() -> None:
    eco = copy.deepcopy(PROFILE["modes"])
    eco["occupied"]["heating_setpoint"] = {"offset": -2.3}
    plan = plan_profile(
        profile(modes=eco),
        ZONES,
        [point("f1-office", "heating_setpoint", 16.0, step=0.5)],
        tz=BERLIN,
        at=MONDAY_10,
    )
    action = plan.actions[0]
    assert action.target == 17.5
    assert action.reason.endswith("(rounded to step 0.5: 17.5)")


def test_adaptive_comfort_without_outdoor_reading_blocks_comfort_targets() -> None:
    adaptive = copy.deepcopy(PROFILE["modes"])
    adaptive["occupied"]["co2_setpoint"] = 1000
    spec = {"standard": "ashrae55-adaptive", "acceptability": 80}
    points = full_zone("f1-office")
    plan = plan_profile(
        profile(comfort=spec, modes=adaptive), ZONES, points, tz=BERLIN, at=MONDAY_10
    )
    by_role = {a.role: a for a in plan.actions}
    assert by_role["heating_setpoint"].status == "blocked"
    assert by_role["heating_setpoint"].target is None
    assert "outdoor_running_mean_temperature" in by_role["heating_setpoint"].blocked_by[0]
    assert by_role["co2_setpoint"].status == "change"
    assert plan.warnings[0].startswith("comfort band unavailable")
    # With a site-level running-mean reading the band exists: 0.31 * 20 + 17.8 - 3.5 = 20.5.
    weather = PointState("wx", "trm", "outdoor_running_mean_temperature", None, "°C", 20.0, False)
    plan = plan_profile(
        profile(comfort=spec, modes=adaptive), ZONES, [*points, weather], tz=BERLIN, at=MONDAY_10
    )
    assert {a.role: a.target for a in plan.actions}["heating_setpoint"] == pytest.approx(20.5)
    assert plan.comfort is not None and plan.comfort.source.startswith("ASHRAE 55 adaptive 80 %")


def shedding_profile(**energy: Any) -> Profile:
    return profile(
        energy={
            "peak_limit_kw": 40,
            "shed": [{"role": "cooling_setpoint", "offset": 1}],
            **energy,
        }
    )


def meter(kw: float) -> PointState:
    return PointState("meter", "p", "site_active_power", None, "kW", kw, False)


def test_peak_shedding_offsets_the_scheduled_target() -> None:
    points = [*full_zone("f1-office"), meter(45.0)]
    plan = plan_profile(shedding_profile(), ZONES, points, tz=BERLIN, at=MONDAY_10)
    cooling = next(a for a in plan.actions if a.role == "cooling_setpoint")
    assert (cooling.status, cooling.target) == ("change", 25.0)
    assert cooling.reason.endswith(
        "; peak shedding: site_active_power 45 kW > limit 40 kW → step 1/1 offset +1 = 25.0 °C"
    )
    assert plan.shedding == "shed"
    plan = plan_profile(
        shedding_profile(), ZONES, [*full_zone("f1-office"), meter(39.0)], tz=BERLIN, at=MONDAY_10
    )
    assert plan.shedding == "inactive"
    assert {a.role: a.status for a in plan.actions}["cooling_setpoint"] == "skip-unchanged"


def test_shed_values_in_place_are_held_until_release() -> None:
    held_zone = [point("f1-office", "cooling_setpoint", 25.0)]  # already shed
    normal_zone = [point("f1-meeting", "cooling_setpoint", 22.0)]
    plan = plan_profile(
        shedding_profile(release_below_kw=35),
        ZONES,
        [*held_zone, *normal_zone, meter(38.0)],
        tz=BERLIN,
        at=MONDAY_10,
    )
    by_zone = {a.zone: a for a in plan.actions}
    assert plan.shedding == "hold"
    assert (by_zone["f1-office"].status, by_zone["f1-office"].target) == ("skip-unchanged", 25.0)
    assert "peak shedding held" in by_zone["f1-office"].reason
    assert (by_zone["f1-meeting"].status, by_zone["f1-meeting"].target) == ("change", 24.0)


def test_missing_meter_reading_is_a_warning() -> None:
    plan = plan_profile(shedding_profile(), ZONES, full_zone("f1-office"), tz=BERLIN, at=MONDAY_10)
    assert "peak shedding inactive: no current value for site_active_power" in plan.warnings


def test_plan_is_json_serialisable() -> None:
    points = [*full_zone("f1-office", heating=None), meter(45.0)]
    plan = plan_profile(shedding_profile(), ZONES, points, tz=BERLIN, at=MONDAY_10)
    data = json.loads(json.dumps(plan.to_json()))
    assert data["profile"] == "test-office"
    assert data["at"] == "2026-01-12T10:00:00+01:00"
    assert data["comfort"] == {
        "low": 20.0,
        "high": 24.0,
        "co2_max": 1220.0,
        "source": "EN 16798-1 Cat II heating",
    }
    assert data["shedding"] == "shed"
    assert sum(data["counts"].values()) == len(data["actions"]) == 3
    assert data["actions"][0]["current"] is None


def test_action_count_is_linear_in_zones() -> None:
    zones = [ZoneInfo(f"z{i}", "main", 1, ("office",)) for i in range(500)]
    points = [p for z in zones for p in full_zone(z.id)]
    plan = plan_profile(profile(), zones, points, tz=BERLIN, at=MONDAY_10)
    assert len(plan.actions) == 1500
    assert plan.counts == {"change": 500, "skip-unchanged": 1000}


maybe = st.none() | st.floats(min_value=0, max_value=40, allow_nan=False)


@given(
    current=maybe,
    writable=st.booleans(),
    low=maybe,
    high=maybe,
    deadband=st.floats(min_value=0, max_value=3),
)
def test_status_rules(
    current: float | None, writable: bool, low: float | None, high: float | None, deadband: float
) -> None:
    plan = plan_profile(
        profile(deadband={"heating_setpoint": deadband}),
        ZONES,
        [point("f1-office", "heating_setpoint", current, writable=writable, min=low, max=high)],
        tz=BERLIN,
        at=MONDAY_10,
    )
    (action,) = plan.actions
    target = 20.0
    wants_write = current is None or abs(current - target) >= max(deadband, 1e-6)
    safe = writable and (low is None or target >= low) and (high is None or target <= high)
    if not wants_write:
        assert action.status in ("skip-unchanged", "skip-deadband")
    else:
        wanted = "change" if current is not None else "unreadable"  # still applied
        assert action.status == (wanted if safe else "blocked")
        assert (action in plan.changes()) == safe
        assert bool(action.blocked_by) == (not safe)
    assert action.target == target


def shared(role: str, current: float, serves: tuple[str, ...]) -> PointState:
    """A point of a device that serves several zones (an air-handling unit), zone None."""
    return PointState("ahu", role, role, None, "", current, True, 0, 2, serves=serves)


VENT = {
    **PROFILE["modes"],
    "occupied": {**PROFILE["modes"]["occupied"], "ventilation_mode": 1},
    "unoccupied": {**PROFILE["modes"]["unoccupied"], "ventilation_mode": 0},
}
OFFICES = ("f1-office", "f1-meeting", "f2-office")


def test_a_shared_device_is_planned_once_for_the_zones_it_serves() -> None:
    points = [*full_zone("f1-office"), shared("ventilation_mode", 1.0, OFFICES)]
    plan = plan_profile(profile(modes=VENT), ZONES, points, tz=BERLIN, at=MONDAY_22,
                        zone_filter=list(OFFICES))  # fmt: skip
    (vent,) = [a for a in plan.actions if a.role == "ventilation_mode"]
    assert (vent.device, vent.zone, vent.serves) == ("ahu", "f1-office +2", OFFICES)
    assert (vent.current, vent.target, vent.status) == (1.0, 0.0, "change")
    assert vent.to_json()["serves"] == list(OFFICES)
    # the zones it serves have their ventilation: no "no point for ventilation_mode"
    assert not [w for w in plan.warnings if "ventilation_mode" in w]
    occupied = plan_profile(profile(modes=VENT), ZONES, points, tz=BERLIN, at=MONDAY_10,
                            zone_filter=list(OFFICES))  # fmt: skip
    (vent,) = [a for a in occupied.actions if a.role == "ventilation_mode"]
    assert (vent.target, vent.status) == (1.0, "skip-unchanged")


def test_a_shared_device_serving_unselected_zones_is_left_alone() -> None:
    points = [*full_zone("f1-office"), shared("ventilation_mode", 1.0, OFFICES)]
    plan = plan_profile(profile(modes=VENT), ZONES, points, tz=BERLIN, at=MONDAY_22,
                        zone_filter=["f1-office"])  # fmt: skip
    assert not [a for a in plan.actions if a.device == "ahu"]
    assert "ahu also serves f1-meeting, f2-office, which this plan does not select: left as it " \
           "is" in plan.warnings  # fmt: skip
    # the zone has the point (the one warning above says why it is not planned)
    assert not [w for w in plan.warnings if "no point for ventilation_mode" in w]


def test_a_shared_point_follows_an_active_optimal_start() -> None:
    early = {**VENT, "occupied": {**VENT["occupied"], "heating_setpoint": 21}}
    points = [
        point("f1-office", "zone_air_temperature", 17.0, writable=False),
        PointState("ahu", "hs", "heating_setpoint", None, "°C", 16.0, True, 5, 30,
                   serves=("f1-office",)),
    ]  # fmt: skip
    p = profile(modes=early, optimal_start={"max_lead": "3h"})
    plan = plan_profile(p, ZONES, points, tz=BERLIN, at=dt.datetime(2026, 1, 12, 5, 0),
                        zone_filter=["f1-office"])  # fmt: skip
    (heat,) = [a for a in plan.actions if a.device == "ahu"]
    assert heat.target == 21.5 and "optimal start" in heat.reason


def test_shed_heating_is_released_only_when_the_site_stays_under_the_limit() -> None:
    """Released zones heat at full power: releasing at the release level alone would oscillate."""
    from smartbuild.profiles.recovery import RecoveryModel

    eased = shedding_profile(
        release_below_kw=35, shed=[{"role": "heating_setpoint", "offset": -1.5}]
    )
    zones = [p for z in ("f1-office", "f2-office") for p in full_zone(z, heating=18.5)]

    def plan_at(kw: float, model: RecoveryModel | None = None) -> Any:
        return plan_profile(eased, ZONES, [*zones, meter(kw)], tz=BERLIN, at=MONDAY_10,
                            recovery=model)  # fmt: skip

    # default 30 W/m²: 120 m² + 200 m² would add 9.6 kW
    held = plan_at(31.0)
    assert held.shedding == "hold"
    heat = next(a for a in held.actions if a.role == "heating_setpoint")
    assert (heat.status, heat.target) == ("skip-unchanged", 18.5)
    assert "releasing 2 zone(s) would add about 9.6 kW to site_active_power 31 kW, over the " \
           "limit 40 kW" in heat.reason  # fmt: skip
    released = plan_at(30.0)
    assert released.shedding == "inactive"
    assert {a.target for a in released.actions if a.role == "heating_setpoint"} == {20.0}
    # a learned recovery power (100 W/m²: 32 kW) holds longer
    assert plan_at(30.0, RecoveryModel(w_per_m2=100.0)).shedding == "hold"
    # zones at their normal setpoint hold nothing
    normal = [p for z in ("f1-office", "f2-office") for p in full_zone(z, heating=20.0)]
    plan = plan_profile(eased, ZONES, [*normal, meter(31.0)], tz=BERLIN, at=MONDAY_10)
    assert plan.shedding == "inactive"
