"""Tests of the role vocabulary."""

from __future__ import annotations

import pytest

from smartbuild.model.roles import ROLES, WRITABLE_ROLES, check_role, normalize_unit

UNITS = {"lx", "°C", "%", "ppm", "kW", "kWh", "A", "m³", "m³/h", "bool", "enum"}


def test_every_role_has_a_known_unit_and_a_description() -> None:
    for name, role in ROLES.items():
        assert role.name == name
        assert role.unit in UNITS, name
        assert role.description
        assert role.deadband >= 0


def test_brief_roles_are_present() -> None:
    for name in (
        "zone_air_temperature",
        "heating_setpoint",
        "cooling_setpoint",
        "co2_setpoint",
        "ev_charger_current_limit",
        "site_active_power",
        "outdoor_temperature",
        "energy_import_total",
        "power_limit",
    ):
        assert name in ROLES


def test_measurements_are_not_writable() -> None:
    assert "zone_air_temperature" not in WRITABLE_ROLES
    assert "heating_setpoint" in WRITABLE_ROLES
    with pytest.raises(ValueError, match="measurement and cannot be set"):
        check_role("zone_co2", writable=True)


def test_unknown_role_suggests_the_closest() -> None:
    with pytest.raises(
        ValueError, match=r"unknown role 'heatng_setpoint'\. Did you mean 'heating_setpoint'"
    ):
        check_role("heatng_setpoint")


def test_comfort_refs_match_units() -> None:
    for role in ROLES.values():
        if role.comfort_ref in ("low", "high"):
            assert role.unit == "°C"
        elif role.comfort_ref == "co2_max":
            assert role.unit == "ppm"
        else:
            assert role.comfort_ref is None


@pytest.mark.parametrize(
    ("raw", "unit"),
    [("degC", "°C"), ("C", "°C"), ("kw", "kW"), (" A ", "A"), ("", None), (None, None), ("W", "W")],
)
def test_normalize_unit(raw: str | None, unit: str | None) -> None:
    assert normalize_unit(raw) == unit
