"""Numbers with units in profiles and on the command line: parse_quantity and plausible ranges."""

from __future__ import annotations

import pytest

from smartbuild.model.quantity import parse_quantity
from smartbuild.model.roles import PLAUSIBLE, ROLES, WRITABLE_ROLES, check_plausible


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        ("21.5", "°C", 21.5),
        ("21.5 °C", "°C", 21.5),
        ("21.5°C", "°C", 21.5),
        (" 21.5 degC ", "°C", 21.5),
        ("70 °F", "°C", 21.111111111),
        ("70F", "°C", 21.111111111),
        ("-40 ℉", "°C", -40.0),
        ("294.15 K", "°C", 21.0),
        ("11000 W", "kW", 11.0),
        ("1.5 MW", "kW", 1500.0),
        ("16 A", "A", 16.0),
        ("6000 mA", "A", 6.0),
        ("80 %", "%", 80.0),
        ("1e3", "ppm", 1000.0),
        (".5", "kW", 0.5),
        ("3", "enum", 3.0),
        ("3", None, 3.0),
    ],
)
def test_parse_quantity_converts_into_the_unit(text: str, unit: str | None, value: float) -> None:
    assert parse_quantity(text, unit) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "unit", "message"),
    [
        ("21,5", "°C", "'21,5' uses a decimal comma: write '21.5'"),
        ("21,5 °C", "°C", "write '21.5 °C'"),
        ("warm", "°C", "'warm' is not a number: write a number or a number with its unit"),
        ("21 kW", "°C", "unit 'kW' cannot be converted to °C (use K, °C, °F)"),
        ("21 °C", "enum", "has a unit (°C), but this takes a plain number"),
        ("5 lx", "ppm", "unit 'lx' cannot be converted to ppm (use ppm)"),
        ("1e999", "°C", "is not a finite number"),
        ("", "°C", "is not a number"),
    ],
)
def test_parse_quantity_refuses_what_it_cannot_convert(
    text: str, unit: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=None) as exc:
        parse_quantity(text, unit)
    assert message in str(exc.value)


def test_every_plausible_range_names_a_writable_role_and_is_ordered() -> None:
    assert set(PLAUSIBLE) <= WRITABLE_ROLES
    numeric = {n for n in WRITABLE_ROLES if ROLES[n].unit not in ("bool", "enum")}
    assert numeric <= set(PLAUSIBLE)  # every settable number has a range
    assert all(low < high for low, high in PLAUSIBLE.values())


@pytest.mark.parametrize(
    ("role", "value", "ok"),
    [
        ("heating_setpoint", 21.0, True),
        ("heating_setpoint", 160.0, False),
        ("cooling_setpoint", 3.0, False),
        ("co2_setpoint", 50_000.0, False),
        ("ev_charger_current_limit", 32.0, True),
        ("ev_charger_current_limit", 3200.0, False),
        ("power_limit", -1.0, False),
        ("dhw_setpoint", 70.0, True),
        ("ventilation_mode", 7.0, True),  # device codes: no range
    ],
)
def test_check_plausible(role: str, value: float, ok: bool) -> None:
    if ok:
        check_plausible(ROLES[role], value)
    else:
        with pytest.raises(ValueError, match="outside the plausible range"):
            check_plausible(ROLES[role], value)


def test_shed_offsets_are_bounded_through_validate(run, tmp_path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "profile: p\nmodes: {on: {cooling_setpoint: 24}}\nschedule: {default: on}\n"
        "energy: {peak_limit_kw: 40, shed: [{role: cooling_setpoint, offset: 30}]}\n"
    )
    result = run("validate", str(profile))
    assert result.exit_code == 2
    assert f"{profile}:4:36: energy.shed[0]: offset 30 on cooling_setpoint is outside ±10 °C" in (
        result.stderr
    )
