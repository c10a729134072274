"""Outdoor climate for the simulated building: temperature, sun, humidity and heat-pump efficiency.

Pure functions and frozen data; `physics` builds zones and sites on top of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone


def _hash_unit(seed: int, n: int) -> float:
    """Return a value in [-1, 1) fixed by (seed, n): splitmix64, cheap and portable."""
    mask = 0xFFFFFFFFFFFFFFFF
    z = (seed * 0x9E3779B97F4A7C15 + n + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return (z ^ (z >> 31)) / 2.0**63 - 1.0


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def saturation_pressure_pa(t_c: float) -> float:
    """Return the water vapour saturation pressure over water (Magnus, WMO constants)."""
    return 611.2 * math.exp(17.62 * t_c / (243.12 + t_c))


def humidity_ratio(t_c: float, rh_pct: float) -> float:
    """Return kg water per kg dry air at sea-level pressure."""
    pv = rh_pct / 100.0 * saturation_pressure_pa(t_c)
    return 0.622 * pv / (101325.0 - pv)


def heat_pump_cop(t_out_c: float, supply_c: float = 35.0, efficiency: float = 0.45) -> float:
    """Return heating COP as a fraction of Carnot for a 35 °C (floor heating) supply, 1.5..6."""
    lift = max(supply_c - t_out_c, 1.0)
    return _clamp(efficiency * (supply_c + 273.15) / lift, 1.5, 6.0)


def cooling_eer(t_out_c: float, supply_c: float = 12.0, efficiency: float = 0.3) -> float:
    """Return cooling EER as a fraction of Carnot for 12 °C chilled water, 2..6."""
    lift = max(t_out_c - supply_c, 1.0)
    return _clamp(efficiency * (supply_c + 273.15) / lift, 2.0, 6.0)


@dataclass(frozen=True)
class Clock:
    """Local wall-clock facts of one instant, computed once per sub-step."""

    doy: float  # 0-based day of year with fraction
    hour: float  # local hour of day, 0..24
    weekday: int  # Monday = 0
    dst_h: float  # 1.0 during daylight saving time
    ts: float  # POSIX seconds (naive datetimes are read as UTC)

    @classmethod
    def of(cls, when: datetime) -> Clock:
        """Read the local wall clock of `when` (naive = local wall time)."""
        hour = when.hour + when.minute / 60.0 + (when.second + when.microsecond / 1e6) / 3600.0
        doy = when.timetuple().tm_yday - 1 + hour / 24.0
        aware = when.tzinfo is not None and when.utcoffset() is not None
        dst = when.dst() if aware else None
        ts = (when if aware else when.replace(tzinfo=timezone.utc)).timestamp()
        return cls(doy, hour, when.weekday(), 1.0 if dst else 0.0, ts)


@dataclass(frozen=True)
class Climate:
    """Outdoor temperature and sun of a central-European (~50 °N) site by date and hour."""

    annual_mean_c: float = 10.0
    annual_half_range_k: float = 9.0  # daily mean ~1 °C mid-January, ~19 °C mid-July
    coldest_doy: float = 14.5  # 15 January
    daily_amplitude_winter_k: float = 2.5
    daily_amplitude_summer_k: float = 5.5
    noise_k: float = 0.0  # amplitude of seeded, hourly interpolated weather noise
    seed: int = 0
    outdoor_rh_pct: float = 80.0
    peak_irradiance_winter_w_m2: float = 250.0  # global horizontal at solar noon, average sky
    peak_irradiance_summer_w_m2: float = 800.0
    solar_noon_h: float = 12.5  # standard time at ~8 °E in the CET zone

    def _temperature(self, c: Clock) -> float:
        season = -math.cos(2 * math.pi * (c.doy - self.coldest_doy) / 365.25)
        w, s = self.daily_amplitude_winter_k, self.daily_amplitude_summer_k
        amp = (w + s) / 2 + (s - w) / 2 * season
        # Minimum at 05:00, maximum at 15:00: a 10 h rising and a 14 h falling half-cosine.
        if 5 <= c.hour < 15:
            shape = -math.cos(math.pi * (c.hour - 5) / 10)
        else:
            shape = math.cos(math.pi * ((c.hour - 15) % 24) / 14)
        t = self.annual_mean_c + self.annual_half_range_k * season + amp * shape
        if self.noise_k:
            # Noise is a function of absolute time only, so results do not depend on dt.
            n, frac = divmod(c.ts / 3600.0, 1.0)
            a, b = _hash_unit(self.seed, int(n)), _hash_unit(self.seed, int(n) + 1)
            t += self.noise_k * (a + (b - a) * frac)
        return t

    def _irradiance(self, c: Clock) -> float:
        sun = -math.cos(2 * math.pi * (c.doy + 10.0) / 365.25)  # -1 at the winter solstice
        day_len = 12.0 + 4.0 * sun  # ~8 h in December, ~16 h in June at 50 °N
        x = (c.hour - (self.solar_noon_h + c.dst_h - day_len / 2)) / day_len
        if not 0.0 < x < 1.0:
            return 0.0
        w, s = self.peak_irradiance_winter_w_m2, self.peak_irradiance_summer_w_m2
        return ((w + s) / 2 + (s - w) / 2 * sun) * math.sin(math.pi * x) ** 2

    def temperature_c(self, when: datetime) -> float:
        """Return the outdoor air temperature at `when`."""
        return self._temperature(Clock.of(when))

    def irradiance_w_m2(self, when: datetime) -> float:
        """Return global horizontal irradiance at `when` (a bell curve over daylight)."""
        return self._irradiance(Clock.of(when))
