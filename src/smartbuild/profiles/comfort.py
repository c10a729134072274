"""Comfort bands from EN 16798-1 and ASHRAE 55 (data in smartbuild/data/comfort.yaml)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SmartbuildError
from smartbuild.profiles.timespec import in_month_day_range

if TYPE_CHECKING:
    from smartbuild.profiles.schema import ComfortSpec

STANDARDS: tuple[str, ...] = ("en16798-1", "en16798-1-adaptive", "ashrae55-adaptive")
ADAPTIVE_OUTDOOR_ROLE = "outdoor_running_mean_temperature"
# Northern-hemisphere default when a static profile names no season.
DEFAULT_HEATING_SEASON = ((10, 1), (4, 30))
INSTALL_HINT = "pip install 'smartbuild[comfort]'"


class ComfortUnavailable(SmartbuildError):
    """A comfort band cannot be computed at this moment (missing or out-of-range input)."""


@dataclass(frozen=True)
class ComfortBand:
    """Acceptable operative temperature band and CO2 limit at one moment."""

    low: float
    high: float
    co2_max: float | None
    source: str  # e.g. "EN 16798-1 Cat II heating"

    def value(self, ref: str) -> float | None:
        """Return comfort.low / comfort.high / comfort.co2_max by its short name."""
        return {"low": self.low, "high": self.high, "co2_max": self.co2_max}[ref]

    def to_json(self) -> dict[str, object]:
        """Return the band as JSON-ready data."""
        return {"low": self.low, "high": self.high, "co2_max": self.co2_max, "source": self.source}


@functools.cache
def comfort_data() -> dict[str, Any]:
    """Return the parsed comfort.yaml (read once per process)."""
    from importlib import resources

    import yaml

    text = resources.files("smartbuild").joinpath("data/comfort.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def levels(standard: str) -> tuple[str, ...]:
    """Return the categories (or ASHRAE acceptability levels) a standard defines."""
    entry = comfort_data()[standard]
    if "categories" in entry:
        return tuple(str(k) for k in entry["categories"])
    return tuple(str(k) for k in entry["acceptability"])


def defines_co2(standard: str) -> bool:
    """Return whether the standard gives a CO2 limit (comfort.co2_max)."""
    return "outdoor_co2_ppm" in comfort_data()[standard]


def _co2_max(entry: Mapping[str, Any], level: Mapping[str, Any]) -> float | None:
    if "co2_above_outdoor" not in level:
        return None
    return float(entry["outdoor_co2_ppm"] + level["co2_above_outdoor"])


def static_band(category: str, season: str) -> ComfortBand:
    """Return the EN 16798-1 band of a category for the "heating" or "cooling" season."""
    entry = comfort_data()["en16798-1"]
    level = entry["categories"][category]
    low, high = level[season]
    return ComfortBand(
        float(low), float(high), _co2_max(entry, level), f"EN 16798-1 Cat {category} {season}"
    )


def _adaptive(standard: str, key: str, level_name: str, running_mean: float) -> ComfortBand:
    entry = comfort_data()[standard]
    lo, hi = entry["running_mean_range"]
    if not lo <= running_mean <= hi:
        raise ComfortUnavailable(
            f"{entry['title']} applies for running-mean outdoor temperatures {lo}-{hi} °C, "
            f"got {running_mean:g} °C",
            hint="use a static standard (en16798-1) when the building is heated or cooled",
        )
    level = entry[key][int(level_name) if key == "acceptability" else level_name]
    comfort = entry["slope"] * running_mean + entry["intercept"]
    label = f"Cat {level_name}" if key == "categories" else f"{level_name} %"
    return ComfortBand(
        round(comfort - level["below"], 6),
        round(comfort + level["above"], 6),
        _co2_max(entry, level),
        f"{entry['title']} {label} (running mean {running_mean:g} °C)",
    )


def adaptive_band_en16798(running_mean: float, category: str) -> ComfortBand:
    """Return the EN 16798-1 adaptive band: 0.33·θrm + 18.8, widened per category."""
    return _adaptive("en16798-1-adaptive", "categories", category, running_mean)


def adaptive_band_ashrae55(prevailing_mean: float, acceptability: int) -> ComfortBand:
    """Return the ASHRAE 55 adaptive band: 0.31·t_pma + 17.8 ± 2.5 K (90 %) / 3.5 K (80 %)."""
    return _adaptive("ashrae55-adaptive", "acceptability", str(acceptability), prevailing_mean)


def season_at(spec: ComfortSpec, day: dt.date, outdoor: Mapping[str, float]) -> str:
    """Return "heating" or "cooling" for a static comfort spec on a day."""
    season = spec.season
    if season is not None and season.outdoor_point is not None:
        value = outdoor.get(season.outdoor_point)
        if value is None:
            raise ComfortUnavailable(
                f"season unknown: no current value for {season.outdoor_point}",
                hint=f"give a device point with role {season.outdoor_point} a reading",
            )
        return "heating" if value < season.threshold else "cooling"
    start, end = DEFAULT_HEATING_SEASON
    if season is not None and season.heating is not None:
        start, end = season.heating.start_md, season.heating.end_md
    return "heating" if in_month_day_range(day, start, end) else "cooling"


def band_at(spec: ComfortSpec, day: dt.date, outdoor: Mapping[str, float]) -> ComfortBand:
    """Return the comfort band a profile's comfort block gives on a day.

    outdoor maps role names (outdoor_temperature, outdoor_running_mean_temperature) to
    current readings; adaptive models and outdoor-driven seasons need them.
    """
    if spec.standard == "en16798-1":
        return static_band(spec.level, season_at(spec, day, outdoor))
    role = spec.outdoor_point or ADAPTIVE_OUTDOOR_ROLE
    running_mean = outdoor.get(role)
    if running_mean is None:
        raise ComfortUnavailable(
            f"{spec.standard} needs a current value for {role}",
            hint=f"give a device point with role {role} a reading",
        )
    if spec.standard == "en16798-1-adaptive":
        return adaptive_band_en16798(running_mean, spec.level)
    return adaptive_band_ashrae55(running_mean, int(spec.level))


def pmv_ppd(
    *, tdb: float, tr: float, vr: float, rh: float, met: float, clo: float
) -> tuple[float, float]:
    """Return (PMV, PPD %) per ISO 7730 using the optional pythermalcomfort package."""
    try:
        from pythermalcomfort.models import pmv_ppd_iso  # pythermalcomfort >= 3
    except ImportError:
        try:
            from pythermalcomfort.models import pmv_ppd as legacy  # pythermalcomfort 2.x
        except ImportError:
            raise SmartbuildError(
                f"PMV/PPD needs the optional package pythermalcomfort: {INSTALL_HINT}",
                hint=INSTALL_HINT,
            ) from None
        result: Any = legacy(tdb=tdb, tr=tr, vr=vr, rh=rh, met=met, clo=clo, standard="ISO")
    else:
        result = pmv_ppd_iso(tdb=tdb, tr=tr, vr=vr, rh=rh, met=met, clo=clo)
    return float(result["pmv"]), float(result["ppd"])
