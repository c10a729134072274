"""`smartbuild kpi`: a simulated day with and without a profile, through the CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest

KEYS = (
    "energy_kwh",
    "energy_kwh_per_m2",
    "hvac_kwh",
    "cost_eur",
    "peak_kw",
    "tdis_kh_per_zone",
    "idis_ppmh_per_zone",
)


def kpi(run: Any, *args: str) -> dict[str, Any]:
    result = run("--json", "kpi", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_office_setback_saves_energy_on_a_january_day(run: Any) -> None:
    data = kpi(run, "office-en16798-cat2", "--day", "2026-01-15", "--zones", "4", "--step", "120")
    base, prof = data["baseline"], data["with_profile"]
    assert data["kind"] == "office" and data["zones"] == 4
    assert base["area_m2"] == prof["area_m2"] == 60 + 70 + 80 + 90
    assert set(base["tdis_kh"]) == {"z01", "z02", "z03", "z04"}
    # night and weekend setback to 16 °C heats less than 21 °C around the clock
    assert prof["energy_kwh"] < base["energy_kwh"] and prof["hvac_kwh"] < base["hvac_kwh"]
    assert prof["cost_eur"] < base["cost_eur"]
    # a day of a heated office: about 0.1-1 kWh/m², tens of kW at most, hours of 24
    for side in (base, prof):
        assert 0.05 < side["energy_kwh_per_m2"] < 1.5
        assert 0 < side["peak_kw"] < 100 and side["hours"] == 24
        assert side["tdis_kh_per_zone"] >= 0 and side["idis_ppmh_per_zone"] >= 0
    # constant 21 °C never leaves the 20-24 °C band; recovering from 16 °C each morning does
    assert base["tdis_kh_per_zone"] == 0 < prof["tdis_kh_per_zone"] < 8
    assert prof["peak_kw"] > base["peak_kw"]  # every zone reheats at 07:00
    assert data["comfort"]["low"] == 20 and data["comfort"]["co2_max"] == 1220
    assert data["controller"]["plans"] > 0 and data["controller"]["writes"] > 0
    for key in KEYS:
        if base[key]:
            assert data["change_pct"][key] == pytest.approx(
                100 * (prof[key] - base[key]) / base[key], abs=0.01
            )


def test_home_night_setback_uses_the_profiles_tariff(run: Any) -> None:
    data = kpi(run, "home-eco-night", "--day", "2026-01-15", "--zones", "3", "--step", "120")
    assert data["kind"] == "home" and data["price"] == "the profile's tariff"
    assert data["with_profile"]["energy_kwh"] < data["baseline"]["energy_kwh"]


def test_table_output_and_bad_input(run: Any) -> None:
    result = run("kpi", "school-holidays", "--day", "2026-08-03", "--zones", "2", "--step", "300")
    assert result.exit_code == 0, result.output
    assert "constant setpoints" in result.stdout and "with profile" in result.stdout
    assert "discomfort (tdis)/zone" in result.stdout
    bad = run("kpi", "offce-en16798-cat2")
    assert bad.exit_code == 2 and "Did you mean 'office-en16798-cat2'?" in bad.stderr
    bad = run("kpi", "office-en16798-cat2", "--day", "15.01.2026")
    assert bad.exit_code == 2 and "invalid --day" in bad.stderr
    bad = run("kpi", "office-en16798-cat2", "--zones", "0")
    assert bad.exit_code == 2
