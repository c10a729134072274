"""The plausibility table, unit sanity, safe test values and percentiles (pure functions)."""

from __future__ import annotations

import math

import pytest

from smartbuild.config.schema import PointSpec
from smartbuild.services.commission.comms import percentile
from smartbuild.services.commission.rules import PLAUSIBILITY, judge_reading, role_unit_problem
from smartbuild.services.commission.writetest import safe_test_value as pick


@pytest.mark.parametrize(
    ("role", "unit", "value", "status", "words"),
    [
        ("zone_air_temperature", "°C", 21.5, "pass", "within 5..40 °C"),
        ("zone_air_temperature", "°C", 60.0, "fail", "outside 5..40 °C"),
        ("zone_air_temperature", "°C", 4.9, "fail", "outside"),
        ("zone_air_temperature", "°F", 70.0, "pass", "read 70 °F, within 5..40 °C"),
        ("zone_air_temperature", "°F", 150.0, "fail", "outside"),
        ("zone_co2", "ppm", 349.0, "fail", "outside 350..5000 ppm"),
        ("zone_co2", "ppm", 5000.0, "pass", "within"),
        ("zone_co2", "ppm", 42000.0, "fail", "a scaling or unit fault?"),
        ("pv_active_power", "kW", -4.2, "fail", "sign convention: production is positive"),
        ("pv_active_power", "W", 3200.0, "pass", "within"),
        ("heat_pump_power", "kW", -0.05, "pass", "within"),
        ("site_active_power", "kW", -3.0, "pass", "within"),
        ("energy_import_total", "kWh", -1.0, "fail", "a counter never goes negative"),
        (
            "zone_air_temperature",
            "ppm",
            21.0,
            "fail",
            "unit 'ppm', where zone_air_temperature is in °C",
        ),
        ("zone_air_temperature", None, 21.0, "fail", "no unit"),
        ("zone_air_temperature", "°C", math.nan, "fail", "not a finite number"),
        (None, "V", 230.1, "pass", "no role"),
        ("occupancy", "bool", True, "pass", "read True"),
        ("hvac_mode", None, 1, "pass", "no plausibility range"),
    ],
)
def test_readings_are_judged_by_role(role, unit, value, status, words):
    got, reason = judge_reading(role, unit, value)
    assert got == status, reason
    assert words in reason


def test_every_range_is_ordered_and_every_role_known():
    from smartbuild.model.roles import ROLES

    for role, rule in PLAUSIBILITY.items():
        assert role in ROLES
        assert rule.low < rule.high


def test_units_that_convert_exactly_fit():
    assert role_unit_problem("heat_pump_power", "W") is None
    assert role_unit_problem("heat_pump_power", "kWh") is not None
    assert role_unit_problem("hvac_mode", None) is None
    assert role_unit_problem(None, "anything") is None


def point(**kw) -> PointSpec:
    return PointSpec(**kw)


def test_test_values_step_by_the_deadband_inside_the_bounds():
    heating = point(role="heating_setpoint", unit="°C", writable=True, min=5, max=30, scale=0.1)
    assert pick(heating, 20.0, 0.1) == (20.3, "20 → 20.3")
    assert pick(heating, 30.0, 0.1)[0] == 29.7  # at the top: below instead
    coarse = point(role="heating_setpoint", unit="°C", writable=True, min=5, max=30)
    assert pick(coarse, 20, 1.0)[0] == 21  # the device's step is larger than the deadband
    current = point(role="ev_charger_current_limit", unit="A", writable=True, min=6, max=16)
    assert pick(current, 16, 1.0)[0] == 15


def test_points_without_a_safe_value_are_not_applicable():
    assert pick(point(writable=True, role="heating_setpoint"), 20.0, None)[0] is None
    mode = point(writable=True, min=0, max=3, enum={0: "off", 1: "heat"})
    assert pick(mode, 1, 1.0) == (
        None,
        "switches, modes and text are not changed by the write test",
    )
    narrow = point(writable=True, min=20, max=20, role="heating_setpoint")
    assert pick(narrow, 20.0, 0.1)[1] == "no test value within 20..20 next to 20"
    assert pick(point(writable=True, min=0, max=10), None, None)[1].startswith("the current value")


def test_percentiles_interpolate():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 95) == 95.0


def _figures(p95_ms: float, timeout_s: float | None) -> dict[str, object]:
    return {"device": "d", "p50_ms": p95_ms / 2, "p95_ms": p95_ms, "reads": 3, "errors": 0,
            "timeouts": 0, "retries": 0, "last_error": None, "timeout_s": timeout_s}  # fmt: skip


@pytest.mark.parametrize(
    ("p95_ms", "timeout_s", "limit", "status"),
    [
        (950.0, 2.0, 1600.0, "pass"),  # a BLE listen window of two 1 s advert intervals
        (950.0, 1.0, 800.0, "fail"),  # a Modbus link near its 1 s timeout
        (950.0, None, 800.0, "fail"),  # no timeout known: 1 s assumed
    ],
)
def test_a_link_is_slow_near_its_own_read_timeout(p95_ms, timeout_s, limit, status):
    from smartbuild.services.commission.run import comm_checks

    (check,) = comm_checks([_figures(p95_ms, timeout_s)], None)
    assert (check.status, check.expected) == (status, limit)
    (check,) = comm_checks([_figures(p95_ms, timeout_s)], 2000.0)
    assert check.status == "pass"
