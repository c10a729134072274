"""`smartbuild kpi`: a simulated day with and without a profile, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

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
    assert data["day"] == data["from"] == data["to"] == "2026-01-15"
    assert base["area_m2"] == prof["area_m2"] == 60 + 70 + 80 + 90
    assert set(base["tdis_kh"]) == {"z01", "z02", "z03", "z04"}
    # the constant-setpoint baseline is exactly v0.1's
    assert base["energy_kwh"] == pytest.approx(86.09720248872641, rel=1e-12)
    assert base["peak_kw"] == pytest.approx(26.65088558104786, rel=1e-12)
    # night and weekend setback to 16 °C heats less than 21 °C around the clock
    assert prof["energy_kwh"] < base["energy_kwh"] and prof["hvac_kwh"] < base["hvac_kwh"]
    assert prof["cost_eur"] < base["cost_eur"]
    # a day of a heated office: about 0.1-1 kWh/m², tens of kW at most, hours of 24
    for side in (base, prof):
        assert 0.05 < side["energy_kwh_per_m2"] < 1.5
        assert 0 < side["peak_kw"] < 100 and side["hours"] == 24
        assert side["tdis_kh_per_zone"] >= 0 and side["idis_ppmh_per_zone"] >= 0
    # optimal start: every zone is in the band when the office opens (v0.1 lost 2.4 K·h)
    assert base["tdis_kh_per_zone"] == 0 and prof["tdis_kh_per_zone"] < 0.5
    assert data["controller"]["optimal_starts"] >= 4
    assert data["controller"]["recoveries_learned"] >= 12  # a week of its own history first
    assert data["peak_limit_kw"] == base["peak_kw"]  # peak_limit_kw: auto
    assert data["comfort"]["low"] == 20 and data["comfort"]["co2_max"] == 1220
    assert data["controller"]["plans"] > 0 and data["controller"]["writes"] > 0
    for key in KEYS:
        if base[key]:
            assert data["change_pct"][key] == pytest.approx(
                100 * (prof[key] - base[key]) / base[key], abs=0.01
            )


def test_a_period_has_per_day_kpis_and_a_plot(run: Any, tmp_path: Path) -> None:
    svg = tmp_path / "week.svg"
    args = ("school-holidays", "--from", "2026-01-16", "--to", "2026-01-18", "--zones", "2")
    data = kpi(run, *args, "--step", "300", "--plot", str(svg))
    assert (data["from"], data["to"]) == ("2026-01-16", "2026-01-18")
    days = data["per_day"]
    assert [d["day"] for d in days] == ["2026-01-16", "2026-01-17", "2026-01-18"]
    assert all(d["baseline"]["hours"] == 24 for d in days)
    total = sum(d["with_profile"]["energy_kwh"] for d in days)
    assert data["with_profile"]["energy_kwh"] == pytest.approx(total, rel=1e-9)
    assert data["with_profile"]["peak_kw"] == max(d["with_profile"]["peak_kw"] for d in days)
    assert data["plot"] == str(svg)
    root = ElementTree.fromstring(svg.read_text("utf-8"))
    assert root.tag.endswith("svg")
    lines = root.findall(".//{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 2 + 1 + 2 + 1  # 2 zones, baseline mean, 2 power series, limit
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "comfort band" in text and "limit" in text and "Sat 17.01" in text
    table = run("kpi", *args, "--step", "300", "--plot", str(tmp_path / "b.svg"))
    assert table.exit_code == 0, table.output
    assert "per day" in table.stdout and "2026-01-17" in table.stdout
    assert f"plot written to {tmp_path / 'b.svg'}" in table.stdout.replace("\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--day", "2026-01-15", "--from", "2026-01-15"), "--day is one day"),
        (("--from", "2026-01-15"), "needs both --from and --to"),
        (("--from", "2026-01-15", "--to", "2026-01-14"), "is before --from"),
        (("--from", "2026-01-01", "--to", "2026-06-01"), "too long"),
        (("--from", "15.01.2026", "--to", "2026-01-16"), "invalid --from"),
    ],
)
def test_bad_periods_are_usage_errors(run: Any, args: tuple[str, ...], message: str) -> None:
    result = run("kpi", "office-en16798-cat2", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_an_unwritable_plot_is_a_clear_error(run: Any, tmp_path: Path) -> None:
    result = run("kpi", "peak-shaving-ev", "--zones", "1", "--step", "900",
                 "--plot", str(tmp_path / "missing" / "p.svg"))  # fmt: skip
    assert result.exit_code == 2 and "cannot write the plot" in result.stderr


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


@pytest.mark.parametrize(
    ("profile", "kind"),
    [("office-en16798-cat2", "office"), ("home-eco-night", "home"),
     ("school-holidays", "school"), ("hotel-room-setback", "hotel")],
)  # fmt: skip
def test_every_kind_runs_over_a_period(run: Any, profile: str, kind: str) -> None:
    data = kpi(run, profile, "--from", "2026-02-06", "--to", "2026-02-07", "--zones", "1",
               "--step", "900")  # fmt: skip
    assert data["kind"] == kind and len(data["per_day"]) == 2
    assert data["with_profile"]["hours"] == 48 and data["controller"]["plans"] > 0
    assert data["controller"]["optimal_starts"] >= 1  # every kind's profile starts early
