"""Comfort bands checked against published reference values."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from smartbuild.errors import SmartbuildError
from smartbuild.profiles.comfort import (
    ComfortUnavailable,
    adaptive_band_ashrae55,
    adaptive_band_en16798,
    band_at,
    comfort_data,
    levels,
    pmv_ppd,
    static_band,
)
from smartbuild.profiles.schema import ComfortSpec

WINTER = dt.date(2026, 1, 15)
SUMMER = dt.date(2026, 7, 15)


# EN 16798-1 / EN 15251 Table A.2, offices (REFERENCE.md): heating / cooling bands, CO2 above
# outdoor; co2_max adds the 420 ppm outdoor baseline.
@pytest.mark.parametrize(
    ("category", "heating", "cooling", "co2_max"),
    [
        ("I", (21.0, 23.0), (23.5, 25.5), 970.0),
        ("II", (20.0, 24.0), (23.0, 26.0), 1220.0),
        ("III", (19.0, 25.0), (22.0, 27.0), 1770.0),
    ],
)
def test_en16798_static_bands(
    category: str, heating: tuple, cooling: tuple, co2_max: float
) -> None:
    band = static_band(category, "heating")
    assert (band.low, band.high, band.co2_max) == (*heating, co2_max)
    assert band.source == f"EN 16798-1 Cat {category} heating"
    band = static_band(category, "cooling")
    assert (band.low, band.high) == cooling


def test_category_iv_is_wider_than_iii_and_flagged_as_unverified() -> None:
    iii, iv = static_band("III", "heating"), static_band("IV", "heating")
    assert iv.low < iii.low and iv.high > iii.high
    text = open_data_file()
    assert "Category IV: NOT verified" in text


def open_data_file() -> str:
    from importlib import resources

    return resources.files("smartbuild").joinpath("data/comfort.yaml").read_text("utf-8")


def test_data_file_names_its_sources() -> None:
    for standard, entry in comfort_data().items():
        assert entry["source"], standard
    assert "pythermalcomfort" in open_data_file()


# pythermalcomfort adaptive_en(t_running_mean=20): tmp_cmf 25.4; EN 16798-1:2019 limits
# upper +2/+3/+4 K, lower -3/-4/-5 K.
@pytest.mark.parametrize(
    ("category", "low", "high"), [("I", 22.4, 27.4), ("II", 21.4, 28.4), ("III", 20.4, 29.4)]
)
def test_en16798_adaptive_reference_values(category: str, low: float, high: float) -> None:
    band = adaptive_band_en16798(20.0, category)
    assert band.low == pytest.approx(low)
    assert band.high == pytest.approx(high)
    assert band.high - 0.33 * 20 - 18.8 == pytest.approx({"I": 2, "II": 3, "III": 4}[category])


# pythermalcomfort adaptive_ashrae(t_running_mean=20) docstring: tmp_cmf 24.0,
# 80 %: 20.5-27.5, 90 %: 21.5-26.5.
@pytest.mark.parametrize(("acceptability", "low", "high"), [(80, 20.5, 27.5), (90, 21.5, 26.5)])
def test_ashrae55_adaptive_reference_values(acceptability: int, low: float, high: float) -> None:
    band = adaptive_band_ashrae55(20.0, acceptability)
    assert (band.low, band.high) == pytest.approx((low, high))
    assert band.co2_max is None


@pytest.mark.parametrize("running_mean", [9.9, 30.1])
def test_en_adaptive_outside_its_range_is_unavailable(running_mean: float) -> None:
    with pytest.raises(ComfortUnavailable, match=r"10\.0-30\.0 °C"):
        adaptive_band_en16798(running_mean, "II")


def test_ashrae_adaptive_range_reaches_33_5() -> None:
    assert adaptive_band_ashrae55(33.5, 80).high == pytest.approx(0.31 * 33.5 + 17.8 + 3.5)
    with pytest.raises(ComfortUnavailable):
        adaptive_band_ashrae55(34.0, 80)


def test_levels_per_standard() -> None:
    assert levels("en16798-1") == ("I", "II", "III", "IV")
    assert levels("en16798-1-adaptive") == ("I", "II", "III")
    assert levels("ashrae55-adaptive") == ("80", "90")


def spec(**data: object) -> ComfortSpec:
    return ComfortSpec.model_validate(data)


def test_season_by_dates_with_default_heating_season() -> None:
    default = spec(standard="en16798-1")
    assert band_at(default, WINTER, {}).source == "EN 16798-1 Cat II heating"
    assert band_at(default, SUMMER, {}).source == "EN 16798-1 Cat II cooling"
    custom = spec(standard="en16798-1", season={"heating": {"from": "11-15", "to": "03-15"}})
    assert band_at(custom, dt.date(2026, 11, 1), {}).source.endswith("cooling")
    assert band_at(custom, dt.date(2026, 3, 15), {}).source.endswith("heating")


def test_season_by_outdoor_temperature() -> None:
    by_outdoor = spec(
        standard="en16798-1", category="I", season={"outdoor_point": "outdoor_temperature"}
    )
    assert band_at(by_outdoor, SUMMER, {"outdoor_temperature": 14.9}).low == 21.0
    assert band_at(by_outdoor, WINTER, {"outdoor_temperature": 15.0}).low == 23.5
    with pytest.raises(ComfortUnavailable, match="no current value for outdoor_temperature"):
        band_at(by_outdoor, WINTER, {})


def test_adaptive_band_reads_the_running_mean_role() -> None:
    adaptive = spec(standard="ashrae55-adaptive", acceptability=90)
    band = band_at(adaptive, SUMMER, {"outdoor_running_mean_temperature": 20.0})
    assert (band.low, band.high) == pytest.approx((21.5, 26.5))
    with pytest.raises(ComfortUnavailable, match="outdoor_running_mean_temperature"):
        band_at(adaptive, SUMMER, {"outdoor_temperature": 20.0})


def test_pmv_without_pythermalcomfort_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail even where the package is installed.
    monkeypatch.setitem(sys.modules, "pythermalcomfort", None)
    monkeypatch.setitem(sys.modules, "pythermalcomfort.models", None)
    with pytest.raises(SmartbuildError) as info:
        pmv_ppd(tdb=25, tr=25, vr=0.1, rh=50, met=1.4, clo=0.5)
    assert "pip install 'smartbuild[comfort]'" in info.value.message
    assert info.value.hint == "pip install 'smartbuild[comfort]'"


@pytest.mark.parametrize(
    ("tdb", "expected"),
    [(22.0, (-0.75, 17)), (27.0, (0.77, 17))],  # ISO 7730:2005 Annex D, Table D.1 rows 1 and 2
)
def test_pmv_ppd_matches_the_iso_7730_table(tdb: float, expected: tuple[float, float]) -> None:
    # needs the [comfort] extra, which the README's test command and .ci/run install
    pmv, ppd = pmv_ppd(tdb=tdb, tr=tdb, vr=0.1, rh=60, met=1.2, clo=0.5)
    assert (round(pmv, 2), round(ppd)) == expected
