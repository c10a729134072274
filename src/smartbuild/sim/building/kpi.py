"""BOPTEST-style key performance indicators of a recorded or simulated building day.

The definitions follow the BOPTEST KPI calculator (ibpsa/project1-boptest, kpis/kpi_calculator.py
and the "Core KPI" documentation):

- thermal discomfort ``tdis``: per zone, the time integral of how far the zone temperature lies
  below the lower or above the upper comfort bound, in K·h; the total is the mean over zones;
- indoor-air-quality discomfort ``idis``: per zone, the integral of CO2 above the limit, in ppm·h;
- energy: the integral of electrical power in kWh, also per m² of floor area;
- cost: the integral of power times the price at each instant;
- peak power: the largest mean electrical power over fixed 15-minute clock intervals, in kW.

Integrals use the trapezoidal rule over the samples (as BOPTEST does), so a series must carry a
sample at both ends of every interval it means to count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from smartbuild.errors import UsageError

if TYPE_CHECKING:
    from smartbuild.sim.building.physics import Building

Band = Callable[[datetime], tuple[float, float]]
Price = Callable[[datetime], float]
Controller = Callable[[datetime, "Building"], None]
PEAK_WINDOW_S = 900  # 15 minutes, the settlement period of European grid metering
MAX_DAYS = 61  # a period of up to two months


@dataclass(frozen=True)
class KpiSample:
    """The state of a building at one instant, as the KPIs need it."""

    t: datetime
    power_kw: float  # grid power: positive imports, negative exports
    zone_temp_c: Mapping[str, float]
    zone_co2_ppm: Mapping[str, float] = field(default_factory=dict)
    hvac_kw: float = 0.0  # electrical power of heating, cooling and ventilation


@dataclass(frozen=True)
class KpiResult:
    """KPIs of one period; totals plus per-m² and per-zone views."""

    start: datetime
    end: datetime
    area_m2: float
    energy_kwh: float  # imported from the grid
    export_kwh: float
    hvac_kwh: float
    cost_eur: float
    peak_kw: float
    peak_start: datetime | None
    tdis_kh: dict[str, float]
    idis_ppmh: dict[str, float]

    @property
    def hours(self) -> float:
        """Return the length of the period in hours."""
        return (_ts(self.end) - _ts(self.start)) / 3600.0

    @property
    def tdis_kh_per_zone(self) -> float:
        """Return BOPTEST's tdis_tot: thermal discomfort averaged over zones."""
        return sum(self.tdis_kh.values()) / len(self.tdis_kh) if self.tdis_kh else 0.0

    @property
    def idis_ppmh_per_zone(self) -> float:
        """Return BOPTEST's idis_tot: CO2 discomfort averaged over zones."""
        return sum(self.idis_ppmh.values()) / len(self.idis_ppmh) if self.idis_ppmh else 0.0

    def to_json(self) -> dict[str, object]:
        """Return the KPIs as JSON-ready data (BOPTEST names in the comments of the keys)."""
        a = self.area_m2
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "hours": self.hours,
            "area_m2": a,
            "energy_kwh": self.energy_kwh,
            "energy_kwh_per_m2": self.energy_kwh / a,  # ener_tot
            "export_kwh": self.export_kwh,
            "hvac_kwh": self.hvac_kwh,
            "cost_eur": self.cost_eur,
            "cost_eur_per_m2": self.cost_eur / a,  # cost_tot
            "peak_kw": self.peak_kw,
            "peak_kw_per_m2": self.peak_kw / a,  # pele_tot
            "peak_start": self.peak_start.isoformat() if self.peak_start else None,
            "tdis_kh_per_zone": self.tdis_kh_per_zone,  # tdis_tot
            "tdis_kh": dict(self.tdis_kh),
            "idis_ppmh_per_zone": self.idis_ppmh_per_zone,  # idis_tot
            "idis_ppmh": dict(self.idis_ppmh),
        }


def _ts(t: datetime) -> float:
    # Naive datetimes are read as UTC so that integration never depends on the host's zone.
    return (t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)).timestamp()


def _trapz(ts: Sequence[float], ys: Sequence[float]) -> float:
    return sum((ts[i + 1] - ts[i]) * (ys[i] + ys[i + 1]) / 2 for i in range(len(ts) - 1))


def window_means(ts: Sequence[float], ys: Sequence[float], width_s: float) -> dict[int, float]:
    """Return the mean of a piecewise-linear series over each fixed clock window it touches.

    Window k spans [k·width, (k+1)·width) in POSIX seconds; a window the series covers only
    partly is averaged over the covered part.
    """
    area: dict[int, float] = {}
    covered: dict[int, float] = {}
    for i in range(len(ts) - 1):
        t0, t1, y0, y1 = ts[i], ts[i + 1], ys[i], ys[i + 1]
        slope = (y1 - y0) / (t1 - t0)
        a = t0
        while a < t1:
            k = math.floor(a / width_s)
            b = min(t1, (k + 1) * width_s)
            ya, yb = y0 + slope * (a - t0), y0 + slope * (b - t0)
            area[k] = area.get(k, 0.0) + (ya + yb) / 2 * (b - a)
            covered[k] = covered.get(k, 0.0) + (b - a)
            a = b
    return {k: area[k] / covered[k] for k in area if covered[k] > 0}


def compute_kpis(
    samples: Sequence[KpiSample],
    band: Band,
    co2_limit: float | Callable[[datetime], float],
    price: Price,
    area_m2: float,
    *,
    export_price: Price | None = None,
) -> KpiResult:
    """Compute the KPIs of a sample series; `band(t)` gives the (low, high) comfort range."""
    if len(samples) < 2:
        raise UsageError(f"KPIs need at least 2 samples, got {len(samples)}")
    if not area_m2 > 0:
        raise UsageError(f"floor area must be > 0 m², got {area_m2}")
    ts = [_ts(s.t) for s in samples]
    for i in range(len(ts) - 1):
        if not ts[i + 1] > ts[i]:
            raise UsageError(f"sample {i + 1} at {samples[i + 1].t} does not follow {samples[i].t}")
    zones = list(samples[0].zone_temp_c)
    co2_zones = list(samples[0].zone_co2_ppm)
    limit = co2_limit if callable(co2_limit) else (lambda _t, v=float(co2_limit): v)
    dev: dict[str, list[float]] = {z: [] for z in zones}
    co2_dev: dict[str, list[float]] = {z: [] for z in co2_zones}
    imp, exp, cost = [], [], []
    for i, s in enumerate(samples):
        low, high = band(s.t)
        if low > high:
            raise UsageError(f"comfort band at {s.t} is inverted: {low} > {high}")
        try:
            for z in zones:
                temp = s.zone_temp_c[z]
                dev[z].append(max(low - temp, 0.0) + max(temp - high, 0.0))
            lim = limit(s.t)
            for z in co2_zones:
                co2_dev[z].append(max(s.zone_co2_ppm[z] - lim, 0.0))
        except KeyError as e:
            raise UsageError(f"sample {i} at {s.t} lacks zone {e}") from None
        imp.append(max(s.power_kw, 0.0))
        exp.append(max(-s.power_kw, 0.0))
        earn = export_price(s.t) * exp[-1] if export_price else 0.0
        cost.append(price(s.t) * imp[-1] - earn)
    peaks = window_means(ts, imp, PEAK_WINDOW_S)
    k_peak = max(peaks, key=lambda k: peaks[k])
    tz = samples[0].t.tzinfo
    peak_start = datetime.fromtimestamp(k_peak * PEAK_WINDOW_S, tz or timezone.utc)
    return KpiResult(
        start=samples[0].t,
        end=samples[-1].t,
        area_m2=area_m2,
        energy_kwh=_trapz(ts, imp) / 3600.0,
        export_kwh=_trapz(ts, exp) / 3600.0,
        hvac_kwh=_trapz(ts, [s.hvac_kw for s in samples]) / 3600.0,
        cost_eur=_trapz(ts, cost) / 3600.0,
        peak_kw=peaks[k_peak],
        peak_start=peak_start if tz else peak_start.replace(tzinfo=None),
        tdis_kh={z: _trapz(ts, d) / 3600.0 for z, d in dev.items()},
        idis_ppmh={z: _trapz(ts, d) / 3600.0 for z, d in co2_dev.items()},
    )


def comfort_band(
    occupied: tuple[float, float] = (20.0, 24.0),
    unoccupied: tuple[float, float] = (15.0, 30.0),
    hours: tuple[float, float] = (7.0, 19.0),
    *,
    weekdays_only: bool = True,
) -> Band:
    """Return a band callable: `occupied` inside `hours` (local time), `unoccupied` outside.

    The defaults are EN 16798-1 category II for heating (20-24 °C) and the wide night band
    BOPTEST test cases use when nobody is there.
    """

    def band(t: datetime) -> tuple[float, float]:
        h = t.hour + t.minute / 60.0
        inside = hours[0] <= h < hours[1] and not (weekdays_only and t.weekday() >= 5)
        return occupied if inside else unoccupied

    return band


def _zone_info(tz: tzinfo | str) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone '{tz}'", hint="use an IANA name such as Europe/Berlin"
        ) from None


def _sample(b: Building, now: datetime) -> KpiSample:
    zones = b.zones.values()
    return KpiSample(
        t=now,
        power_kw=b.net_power_w() / 1000.0,
        zone_temp_c={z.id: z.temperature_c for z in zones},
        zone_co2_ppm={z.id: z.co2_ppm for z in zones},
        hvac_kw=b.hvac_electric_w / 1000.0,
    )


def simulate_day(
    building_factory: Callable[[], Building],
    day: date,
    tz: tzinfo | str,
    controller: Controller | None,
    band: Band,
    co2_limit: float | Callable[[datetime], float],
    price: Price,
    dt_s: float = 60,
    *,
    warmup_h: float = 0.0,
    export_price: Price | None = None,
) -> KpiResult:
    """Simulate local midnight to midnight of `day` and return its KPIs.

    `controller(now, building)` runs before every step (also during `warmup_h` hours of
    unrecorded warm-up before midnight, which lets both sides of a comparison start from their
    own steady state). Days with a daylight-saving switch last 23 or 25 hours.
    """
    b, samples = simulate_period(building_factory, day, day, tz, controller, dt_s,
                                 warmup_h=warmup_h)  # fmt: skip
    return compute_kpis(samples, band, co2_limit, price, b.area_m2, export_price=export_price)


def simulate_period(
    building_factory: Callable[[], Building],
    first: date,
    last: date,
    tz: tzinfo | str,
    controller: Controller | None,
    dt_s: float = 60,
    *,
    warmup_h: float = 0.0,
) -> tuple[Building, list[KpiSample]]:
    """Simulate local midnight of `first` to midnight after `last`; return the building and samples."""
    if not 1 <= dt_s <= 3600:
        raise UsageError(f"time step {dt_s} s is outside 1-3600 s")
    if not 0 <= warmup_h <= 24 * 14:
        raise UsageError(f"warm-up of {warmup_h} h is outside 0-336 h")
    if not 0 <= (last - first).days <= MAX_DAYS:
        raise UsageError(f"a period of {first} to {last} is not 1-{MAX_DAYS + 1} days")
    zone = _zone_info(tz)
    start = datetime.combine(first, time(0), zone).timestamp()
    end = datetime.combine(last + timedelta(days=1), time(0), zone).timestamp()
    b = building_factory()

    def run(t0: float, t1: float, record: list[KpiSample] | None) -> None:
        n = math.ceil((t1 - t0) / dt_s - 1e-9)  # bounded: MAX_DAYS and 14 days of warm-up
        for k in range(n):
            a, e = t0 + k * dt_s, min(t1, t0 + (k + 1) * dt_s)
            if controller is not None:
                controller(datetime.fromtimestamp(a, zone), b)
            now = datetime.fromtimestamp(e, zone)
            b.step(e - a, now)
            if record is not None:
                record.append(_sample(b, now))

    t0 = start - warmup_h * 3600.0
    b.step(0, datetime.fromtimestamp(t0, zone))
    run(t0, start, None)
    midnight = datetime.fromtimestamp(start, zone)
    if controller is not None:
        controller(midnight, b)
    b.step(0, midnight)  # the first sample's power reflects the controller's first decision
    samples = [_sample(b, midnight)]
    run(start, end, samples)
    return b, samples


def split_days(samples: Sequence[KpiSample]) -> list[tuple[date, list[KpiSample]]]:
    """Return the samples of each local day, each slice from its midnight to the next."""
    days: list[tuple[date, list[KpiSample]]] = []
    for s in samples:
        day = s.t.date()
        at_midnight = s.t.time() == time(0)
        if days and at_midnight:
            days[-1][1].append(s)  # the closing sample of the previous day
        if not days or days[-1][0] != day:
            days.append((day, []))
        days[-1][1].append(s)
    return [(d, part) for d, part in days if len(part) >= 2]
