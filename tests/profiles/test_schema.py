"""Profile schema: valid documents load, and every rule fails with a precise loc."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from smartbuild.errors import ConfigError
from smartbuild.profiles.schema import Profile, load_profile_text, validate_profile
from smartbuild.profiles.timespec import format_hhmm

SKETCH = """
profile: office-comfort
title: EN 16798-1 Category II office
applies_to: {zones: ["f1-*"], tags: [office], buildings: [main], floors: [1, 2]}
comfort: {standard: en16798-1, category: II, season: {heating: {from: "10-01", to: "04-30"}}}
schedule:
  weekly: {mon-fri: [{from: "07:00", to: "19:00", mode: occupied}], sat: [{from: "08:00", to: "24:00", mode: eco}]}
  default: unoccupied
  exceptions: [{date: 2026-12-25, mode: unoccupied}, {from: 2026-12-24, to: 2027-01-01, mode: unoccupied}]
modes:
  occupied:   {heating_setpoint: comfort.low, cooling_setpoint: comfort.high, co2_setpoint: comfort.co2_max}
  unoccupied: {heating_setpoint: 16 °C, cooling_setpoint: 30, ventilation_mode: 0}
  eco: {heating_setpoint: {offset: -2}, cooling_setpoint: {offset: 2}}
deadband: {heating_setpoint: 0.3, cooling_setpoint: 0.3}
energy:
  tariff: {default: 0.18, currency: EUR, zones: [{days: mon-fri, from: "16:00", to: "21:00", price: 0.42}]}
  peak_limit_kw: 40
  meter_role: site_active_power
  shed: [{role: cooling_setpoint, offset: 1}]
  preheat: {minutes: 60, before_price_above: 0.3, offset: 1}
"""


def sketch() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(SKETCH))


def errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str, str]]:
    with pytest.raises(ValidationError) as info:
        Profile.model_validate(data)
    return [(e["loc"], e["type"], e["msg"]) for e in info.value.errors()]


def only_error(data: dict[str, Any]) -> tuple[tuple[Any, ...], str, str]:
    found = errors(data)
    assert len(found) == 1, found
    return found[0]


def test_sketch_profile_validates() -> None:
    profile = Profile.model_validate(sketch())
    assert profile.comfort is not None and profile.comfort.level == "II"
    occupied = profile.modes["occupied"]
    assert occupied["heating_setpoint"].ref == "low"
    assert occupied["co2_setpoint"].ref == "co2_max"
    assert profile.modes["unoccupied"]["heating_setpoint"].value == 16.0
    eco = profile.modes["eco"]["heating_setpoint"]
    assert (eco.ref, eco.offset) == ("low", -2.0)
    assert profile.modes["eco"]["cooling_setpoint"].ref == "high"
    assert profile.schedule.exceptions[1].last.isoformat() == "2027-01-01"
    assert profile.energy is not None and profile.energy.preheat is not None
    assert profile.energy.preheat.roles == ("heating_setpoint",)
    assert profile.roles() == {
        "heating_setpoint",
        "cooling_setpoint",
        "co2_setpoint",
        "ventilation_mode",
    }


def test_models_are_frozen() -> None:
    profile = Profile.model_validate(sketch())
    with pytest.raises(ValidationError):
        profile.profile = "other"  # type: ignore[misc]


def test_defaults_category_ii_and_acceptability_80() -> None:
    data = sketch()
    data["comfort"] = {"standard": "en16798-1"}
    assert Profile.model_validate(data).comfort.category == "II"  # type: ignore[union-attr]
    data["comfort"] = {"standard": "ashrae55-adaptive"}
    data["modes"]["occupied"].pop("co2_setpoint")
    assert Profile.model_validate(data).comfort.acceptability == 80  # type: ignore[union-attr]
    data["comfort"] = {"standard": "en16798-1", "category": 3}
    assert Profile.model_validate(data).comfort.category == "III"  # type: ignore[union-attr]


def test_unknown_role_in_a_mode_suggests() -> None:
    data = sketch()
    data["modes"]["occupied"]["heatng_setpoint"] = data["modes"]["occupied"].pop("heating_setpoint")
    loc, kind, msg = only_error(data)
    assert loc == ("modes", "occupied", "heatng_setpoint")
    assert kind == "unknown_role"
    assert msg == "unknown role 'heatng_setpoint'. Did you mean 'heating_setpoint'?"


def test_measurement_role_cannot_be_set() -> None:
    data = sketch()
    data["modes"]["unoccupied"]["zone_air_temperature"] = 20
    loc, kind, _ = only_error(data)
    assert (loc, kind) == (("modes", "unoccupied", "zone_air_temperature"), "unknown_role")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("16 kW", "unit 'kW' cannot be converted to °C (use K, °C, °F)"),
        ("16 K", "heating_setpoint -257.15 °C is outside the plausible range 5..30 °C"),
        ("warm", "'warm' is not a number: write a number or a number with its unit"),
        ("21,5", "'21,5' uses a decimal comma: write '21.5'"),
        (160, "heating_setpoint 160 °C is outside the plausible range 5..30 °C"),
        (float("nan"), "heating_setpoint needs a finite number"),
        ({"offset": 40}, "offset 40 on heating_setpoint is outside ±10 °C"),
        ("comfort.middle", "unknown comfort reference"),
        ("comfort.co2_max", "'comfort.co2_max' is in ppm but heating_setpoint is in °C"),
        (True, "takes a number"),
        ({"offset": "two"}, "must be a number"),
        ({"offset": 1, "from": "current"}, "unknown key 'from'"),
    ],
)
def test_bad_target_values(value: object, fragment: str) -> None:
    data = sketch()
    data["modes"]["unoccupied"]["heating_setpoint"] = value
    loc, kind, msg = only_error(data)
    assert loc == ("modes", "unoccupied", "heating_setpoint")
    assert kind == "target"
    assert fragment in msg


def test_offset_needs_a_base_where_the_role_has_no_comfort_reference() -> None:
    data = sketch()
    data["modes"]["eco"]["dhw_setpoint"] = {"offset": -5}
    loc, _, msg = only_error(data)
    assert loc == ("modes", "eco", "dhw_setpoint")
    assert "needs a base" in msg
    data["modes"]["eco"]["dhw_setpoint"] = {"offset": -5, "base": "comfort.high"}
    assert Profile.model_validate(data).modes["eco"]["dhw_setpoint"].ref == "high"


def test_bool_and_enum_targets() -> None:
    data = sketch()
    data["modes"]["unoccupied"]["ev_charger_enable"] = False
    data["modes"]["unoccupied"]["hvac_mode"] = 3
    modes = Profile.model_validate(data).modes["unoccupied"]
    assert modes["ev_charger_enable"].value == 0.0
    assert modes["hvac_mode"].value == 3.0
    data["modes"]["unoccupied"]["hvac_mode"] = 2.5
    assert only_error(data)[0] == ("modes", "unoccupied", "hvac_mode")


def test_comfort_reference_without_comfort_block() -> None:
    data = sketch()
    del data["comfort"]
    found = errors(data)
    locs = {loc for loc, kind, _ in found if kind == "comfort_missing"}
    assert locs == {
        ("modes", "occupied", "heating_setpoint"),
        ("modes", "occupied", "cooling_setpoint"),
        ("modes", "occupied", "co2_setpoint"),
        ("modes", "eco", "heating_setpoint"),
        ("modes", "eco", "cooling_setpoint"),
    }
    assert len(found) == 5


def test_co2_max_needs_a_standard_with_a_co2_limit() -> None:
    data = sketch()
    data["comfort"] = {"standard": "ashrae55-adaptive", "acceptability": 90}
    loc, kind, msg = only_error(data)
    assert (loc, kind) == (("modes", "occupied", "co2_setpoint"), "comfort_missing")
    assert "sets no CO2 limit" in msg


@pytest.mark.parametrize(
    ("comfort", "loc", "fragment"),
    [
        ({"standard": "en16798-1", "category": "V"}, ("comfort", "category"), "'V' does not exist"),
        (
            {"standard": "en16798-1-adaptive", "category": "IV"},
            ("comfort", "category"),
            "use I, II, III",
        ),
        (
            {"standard": "en16798", "category": "II"},
            ("comfort", "standard"),
            "Did you mean 'en16798-1'",
        ),
        (
            {"standard": "ashrae55-adaptive", "acceptability": 85},
            ("comfort", "acceptability"),
            "80 or 90",
        ),
        (
            {"standard": "ashrae55-adaptive", "category": "II"},
            ("comfort", "category"),
            "no categories",
        ),
        (
            {"standard": "en16798-1", "acceptability": 80},
            ("comfort", "acceptability"),
            "uses category",
        ),
        (
            {"standard": "en16798-1-adaptive", "season": {"outdoor_point": "outdoor_temperature"}},
            ("comfort", "season"),
            "no season",
        ),
        (
            {"standard": "en16798-1", "season": {"heating": {"from": "10-01", "to": "04-31"}}},
            ("comfort", "season", "heating", "to"),
            "does not exist",
        ),
        (
            {"standard": "en16798-1", "season": {"threshold": 12}},
            ("comfort", "season"),
            "threshold needs outdoor_point",
        ),
        (
            {"standard": "en16798-1", "season": {"outdoor_point": "zone_co2"}},
            ("comfort", "season", "outdoor_point"),
            "not an outdoor temperature",
        ),
    ],
)
def test_comfort_block_errors(comfort: dict[str, Any], loc: tuple[Any, ...], fragment: str) -> None:
    data = sketch()
    data["comfort"] = comfort
    data["modes"]["occupied"].pop("co2_setpoint")
    found = errors(data)
    assert [(where, msg) for where, _, msg in found if where == loc and fragment in msg], found


def test_time_that_yaml_read_as_a_number() -> None:
    data = yaml.safe_load(SKETCH.replace('to: "19:00"', "to: 19:00"))
    loc, kind, msg = only_error(data)
    assert (loc, kind) == (("schedule", "weekly", "mon-fri", 0, "to"), "time")
    assert 'write it in quotes: "19:00"' in msg


@pytest.mark.parametrize("bad", ["7:00", "07.00", "24:00", "noon"])
def test_window_start_not_hhmm(bad: str) -> None:
    data = sketch()
    data["schedule"]["weekly"]["mon-fri"][0]["from"] = bad
    loc, kind, _ = only_error(data)
    assert (loc, kind) == (("schedule", "weekly", "mon-fri", 0, "from"), "time")


def test_inverted_window_points_at_to() -> None:
    data = sketch()
    data["schedule"]["weekly"]["mon-fri"][0].update({"from": "22:00", "to": "06:00"})
    loc, kind, msg = only_error(data)
    assert (loc, kind) == (("schedule", "weekly", "mon-fri", 0, "to"), "inverted_window")
    assert "22:00-24:00 and 00:00-06:00" in msg


def test_empty_window_is_inverted() -> None:
    data = sketch()
    data["schedule"]["weekly"]["mon-fri"][0].update({"from": "07:00", "to": "07:00"})
    assert only_error(data)[1] == "inverted_window"


def test_overlap_across_day_specs_names_both_windows() -> None:
    data = sketch()
    data["schedule"]["weekly"]["mon,wed"] = [
        {"from": "06:00", "to": "07:00", "mode": "eco"},
        {"from": "18:00", "to": "20:00", "mode": "eco"},
    ]
    loc, kind, msg = only_error(data)
    assert (loc, kind) == (("schedule", "weekly", "mon,wed", 1), "overlap")
    assert msg == "window 18:00-20:00 overlaps 'mon-fri' window 07:00-19:00 on mon"


def test_window_nested_behind_a_neighbour_is_found() -> None:
    data = sketch()
    data["schedule"]["weekly"]["mon-fri"] = [
        {"from": "07:00", "to": "19:00", "mode": "occupied"},
        {"from": "08:00", "to": "09:00", "mode": "eco"},
        {"from": "10:00", "to": "11:00", "mode": "eco"},
    ]
    locs = sorted(loc for loc, kind, _ in errors(data) if kind == "overlap")
    assert locs == [("schedule", "weekly", "mon-fri", 1), ("schedule", "weekly", "mon-fri", 2)]


def test_adjacent_windows_and_24_00_end_are_fine() -> None:
    data = sketch()
    data["schedule"]["weekly"]["mon-fri"] = [
        {"from": "00:00", "to": "07:00", "mode": "eco"},
        {"from": "07:00", "to": "19:00", "mode": "occupied"},
        {"from": "19:00", "to": "24:00", "mode": "eco"},
    ]
    assert len(Profile.model_validate(data).schedule.weekly["mon-fri"]) == 3


def test_unknown_day_spec() -> None:
    data = sketch()
    data["schedule"]["weekly"]["sonday"] = []
    loc, kind, msg = only_error(data)
    assert (loc, kind) == (("schedule", "weekly", "sonday"), "day_spec")
    assert "Did you mean 'sunday'?" in msg


@pytest.mark.parametrize(
    ("where", "loc"),
    [
        (
            lambda d: d["schedule"]["weekly"]["mon-fri"][0],
            ("schedule", "weekly", "mon-fri", 0, "mode"),
        ),
        (lambda d: d["schedule"]["exceptions"][0], ("schedule", "exceptions", 0, "mode")),
        (lambda d: d["schedule"], ("schedule", "default")),
    ],
)
def test_schedule_mode_not_defined(where: Any, loc: tuple[Any, ...]) -> None:
    data = sketch()
    entry = where(data)
    entry["mode" if "mode" in entry else "default"] = "ocupied"
    found = only_error(data)
    assert found[:2] == (loc, "unknown_mode")
    assert "Did you mean 'occupied'?" in found[2]


def test_exception_ranges() -> None:
    data = sketch()
    data["schedule"]["exceptions"] = [{"from": "2027-01-02", "to": "2027-01-01", "mode": "eco"}]
    assert only_error(data)[:2] == (("schedule", "exceptions", 0, "to"), "inverted_range")
    data["schedule"]["exceptions"] = [{"date": "2026-12-25", "from": "2026-12-24", "mode": "eco"}]
    assert only_error(data)[:2] == (("schedule", "exceptions", 0), "exception_dates")
    data["schedule"]["exceptions"] = [{"from": "2026-12-24", "mode": "eco"}]
    assert only_error(data)[:2] == (("schedule", "exceptions", 0), "exception_dates")


def test_tariff_without_default() -> None:
    data = sketch()
    del data["energy"]["tariff"]["default"]
    loc, kind, msg = only_error(data)
    assert (loc, kind) == (("energy", "tariff", "default"), "tariff_default")
    assert "default price" in msg


def test_tariff_zone_errors() -> None:
    data = sketch()
    data["energy"]["tariff"]["zones"] = [
        {"days": "weekdays", "price": 0.3},
        {"from": "21:00", "to": "16:00", "price": 0.3},
    ]
    found = {(loc, kind) for loc, kind, _ in errors(data)}
    assert found == {
        (("energy", "tariff", "zones", 0, "days"), "day_spec"),
        (("energy", "tariff", "zones", 1, "to"), "inverted_window"),
    }


def test_unknown_key_suggests_and_other_errors_still_show() -> None:
    data = sketch()
    data["energy"]["shedd"] = data["energy"].pop("shed")
    del data["energy"]["tariff"]["default"]
    found = {(loc, kind): msg for loc, kind, msg in errors(data)}
    assert (
        found[("energy", "shedd"), "extra_forbidden"] == "unknown key 'shedd'. Did you mean 'shed'?"
    )
    assert (("energy", "tariff", "default"), "tariff_default") in found


def test_missing_required_key() -> None:
    data = sketch()
    del data["schedule"]
    assert only_error(data) == (("schedule",), "missing", "missing required key 'schedule'")


@pytest.mark.parametrize(
    ("change", "loc", "kind"),
    [
        (
            lambda e: e["shed"][0].update(role="zone_co2"),
            ("energy", "shed", 0, "role"),
            "unknown_role",
        ),
        (lambda e: e["shed"][0].update(to=20), ("energy", "shed", 0), "shed_step"),
        (
            lambda e: e["shed"][0].update(role="ev_charger_current_limit"),
            ("energy", "shed", 0, "role"),
            "shed_role",
        ),
        (lambda e: e.pop("peak_limit_kw"), ("energy", "shed"), "shed"),
        (lambda e: e.pop("tariff"), ("energy", "preheat"), "preheat"),
        (
            lambda e: e["preheat"].update(roles=["heatng_setpoint"]),
            ("energy", "preheat", "roles", 0),
            "unknown_role",
        ),
        (lambda e: e.update(meter_role="zone_co2"), ("energy", "meter_role"), "unknown_role"),
        (lambda e: e.update(release_below_kw=45), ("energy", "release_below_kw"), "release"),
        (lambda e: e.update(peak_limit_kw=0), ("energy", "peak_limit_kw"), "peak_limit"),
    ],
)
def test_energy_errors(change: Any, loc: tuple[Any, ...], kind: str) -> None:
    data = sketch()
    change(data["energy"])
    assert only_error(data)[:2] == (loc, kind)


def test_shed_to_accepts_a_unit() -> None:
    data = sketch()
    for mode in data["modes"].values():
        mode["ev_charger_current_limit"] = "16 A"
    data["energy"]["shed"] = [{"role": "ev_charger_current_limit", "to": "6 A"}]
    step = Profile.model_validate(data).energy.shed[0]  # type: ignore[union-attr]
    assert step.to is not None and step.to.value == 6.0


def test_deadband_errors() -> None:
    data = sketch()
    data["deadband"] = {"heatng_setpoint": 0.3, "cooling_setpoint": -1}
    found = {(loc, kind) for loc, kind, _ in errors(data)}
    assert found == {
        (("deadband", "heatng_setpoint"), "unknown_role"),
        (("deadband", "cooling_setpoint"), "deadband"),
    }


def test_validate_profile_gives_problems_with_dotted_paths() -> None:
    data = sketch()
    data["modes"]["occupied"]["heatng_setpoint"] = 20
    with pytest.raises(ConfigError) as info:
        validate_profile(data, file="profiles/office.yaml")
    (problem,) = info.value.problems
    assert problem.path == "modes.occupied.heatng_setpoint"
    assert str(problem).startswith(
        "profiles/office.yaml: modes.occupied.heatng_setpoint: unknown role"
    )
    assert info.value.exit_status == 2


def test_load_profile_text_rejects_broken_yaml() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile_text("profile: [unclosed", file="x.yaml")
    assert load_profile_text(SKETCH).profile == "office-comfort"


windows = st.lists(
    st.tuples(st.integers(0, 47), st.integers(1, 48)).filter(lambda w: w[0] < w[1]),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(windows)
def test_overlap_rule_matches_brute_force(spans: list[tuple[int, int]]) -> None:
    # Half-hour grid: two windows overlap when some half hour lies in both.
    covered = [0] * 48
    for start, end in spans:
        for slot in range(start, end):
            covered[slot] += 1
    data = sketch()
    data["schedule"]["weekly"] = {
        "mon": [
            {"from": format_hhmm(s * 30), "to": format_hhmm(e * 30), "mode": "eco"}
            for s, e in spans
        ]
    }
    try:
        Profile.model_validate(data)
        valid = True
    except ValidationError:
        valid = False
    assert valid == (max(covered) <= 1)
