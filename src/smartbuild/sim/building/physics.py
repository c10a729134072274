"""Simulated building physics: climate, 2R2C zones with heat pumps, CO2, EV, PV and a meter.

Pure Python and deterministic for a given seed, so a small hub can run it faster than real time.
Each zone is a two-node resistance-capacitance model (air + furniture node, building-mass node)::

    C_air  dT_a/dt = H_am (T_m - T_a) + H_ao (T_out - T_a) + Q_people + Q_plug + Q_hvac
    C_mass dT_m/dt = H_am (T_a - T_m) + H_mo (T_out - T_m) + Q_solar

H_ao holds windows, infiltration and mechanical ventilation after heat recovery; H_mo the opaque
envelope. Every step is cut into sub-steps of at most 60 s; temperatures use implicit Euler
(unconditionally stable), CO2 and moisture the exact exponential solution, so any `dt` works.
"""

from __future__ import annotations

import difflib
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from smartbuild.errors import ConfigError, Problem, UsageError
from smartbuild.sim.building.climate import (
    Climate,
    Clock,
    _clamp,
    cooling_eer,
    heat_pump_cop,
    humidity_ratio,
    saturation_pressure_pa,
)

_E = TypeVar("_E", bound=enum.IntEnum)

NOMINAL_VOLTAGE_V = 230.0
OUTDOOR_CO2_PPM = 420.0
CO2_PER_PERSON_L_S = 0.005  # adult at ~1.2 met (office work); Persily & de Jonge 2017: 0.0052
HEAT_PER_PERSON_W = 100.0  # seated adult, sensible + latent (ISO 7730: 1.2 met ≈ 126 W total)
MOISTURE_PER_PERSON_KG_S = 0.050 / 3600  # 50 g/h water vapour, sedentary
AIR_HEAT_CAPACITY_J_M3K = 1200.0  # rho·cp of air at 20 °C
AIR_DENSITY_KG_M3 = 1.2
ZONE_HEIGHT_M = 3.0
MAX_SUBSTEP_S = 60.0
MAX_STEP_S = 3600.0
EV_MIN_CURRENT_A = 6.0  # IEC 61851-1: below 6 A a charger must pause, not charge
KINDS = ("office", "home", "school", "hotel")


class VentilationMode(enum.IntEnum):
    """Air-handling unit mode of a zone."""

    OFF = 0
    ON = 1
    BOOST = 2  # 1.5 × the ON airflow


class HvacMode(enum.IntEnum):
    """Which of heating and cooling the zone heat pump may do."""

    OFF = 0
    HEAT = 1
    COOL = 2
    AUTO = 3


def _sched(*spans: tuple[int, int, float]) -> tuple[float, ...]:
    hours = [0.0] * 24
    for start, end, frac in spans:
        for h in range(start, end):
            hours[h] = frac
    return tuple(hours)


@dataclass(frozen=True)
class KindProfile:
    """Typical use of a zone kind: people, plug loads, ventilation, setpoints, EV habits."""

    m2_per_person: float
    weekday: tuple[float, ...]  # 24 hourly occupancy fractions of the peak head count
    weekend: tuple[float, ...]
    plug_base_w_m2: float  # standby equipment
    plug_peak_w_m2: float  # at full occupancy
    vent_ach: float  # mechanical air changes per hour in VentilationMode.ON
    heating_c: float
    cooling_c: float
    # EV habit: arrival hour, departure hour (earlier = overnight), weekdays only, kWh/session
    ev: tuple[float, float, bool, float]


_OFFICE = _sched(
    (7, 8, 0.2), (8, 12, 0.9), (12, 13, 0.5), (13, 17, 0.9), (17, 18, 0.4), (18, 19, 0.1)
)
_HOME_WD = _sched((0, 7, 1.0), (7, 8, 0.6), (8, 17, 0.25), (17, 18, 0.6), (18, 24, 0.9))
_HOME_WE = _sched((0, 9, 1.0), (9, 18, 0.6), (18, 24, 0.9))
_SCHOOL = _sched((8, 12, 1.0), (12, 13, 0.5), (13, 15, 0.9), (15, 16, 0.3))
_HOTEL = _sched((0, 8, 0.9), (8, 10, 0.4), (10, 17, 0.15), (17, 20, 0.5), (20, 24, 0.85))
_EMPTY = _sched()

# Densities follow EN 16798-1 annex tables (office 10-17 m²/person, classroom 2-2.5 m²/pupil
# spread over corridors); ventilation rates give ~1.5-2.5 L/(s·m²) for offices and schools.
# Columns: m²/person, weekday, weekend, plug base and peak W/m², ACH, heating and cooling
# setpoints, EV arrival and departure hour, EV on weekdays only, kWh per charging session.
KIND_PROFILES: dict[str, KindProfile] = {
    "office": KindProfile(12, _OFFICE, _EMPTY, 1.5, 8, 2.0, 21, 24, (8, 17, True, 15)),
    "home": KindProfile(35, _HOME_WD, _HOME_WE, 2.0, 5, 0.5, 20, 25, (18, 7, False, 20)),
    "school": KindProfile(4, _SCHOOL, _EMPTY, 1.0, 5, 3.0, 20, 25, (7.5, 16, True, 10)),
    "hotel": KindProfile(20, _HOTEL, _HOTEL, 2.0, 4, 1.0, 21, 24, (19, 8, False, 25)),
}


@dataclass(frozen=True)
class ZoneSpec:
    """What a user says about a zone: its id, its kind and its floor area."""

    id: str
    kind: str
    area_m2: float


@dataclass(frozen=True)
class ZoneParams:
    """Physical parameters of one zone, per m² of floor; the defaults are justified inline."""

    area_m2: float
    m2_per_person: float = 12.0
    occupancy_weekday: tuple[float, ...] = _OFFICE
    occupancy_weekend: tuple[float, ...] = _EMPTY
    plug_base_w_m2: float = 1.5
    plug_peak_w_m2: float = 8.0
    vent_ach: float = 2.0
    height_m: float = 3.0
    c_air_j_m2k: float = 20e3  # air alone holds 3.6 kJ/(m²·K) at 3 m; furniture adds ~5x
    c_mass_j_m2k: float = 165e3  # EN ISO 13790 "medium" construction class
    h_air_mass_w_m2k: float = 22.75  # ISO 13790: h_ms 9.1 W/(m²·K) x 2.5 m² surface per m²
    h_window_w_m2k: float = 0.26  # glazing U 1.3 W/(m²·K) on 20 % of the floor area
    h_opaque_w_m2k: float = 0.7  # walls and roof; whole envelope ≈ 40 W/m² at -12 °C
    infiltration_ach: float = 0.3  # a reasonably tight post-1995 envelope
    heating_w_m2: float = 80.0  # ~1.5x the ~55 W/m² design load including ventilation
    cooling_w_m2: float = 60.0
    solar_aperture: float = 0.05  # m² per m²: 15 % glazing x g-value 0.5 x shading 0.7
    heat_recovery: float = 0.75  # plate or rotary recuperator of a modern AHU
    fan_w_per_m3_s: float = 1000.0  # specific fan power, EN 16798-3 class SFP 3
    proportional_band_k: float = 1.0

    @classmethod
    def for_spec(cls, spec: ZoneSpec) -> ZoneParams:
        """Return the defaults for the zone's kind and area."""
        k = KIND_PROFILES[spec.kind]
        return cls(
            spec.area_m2,
            m2_per_person=k.m2_per_person,
            occupancy_weekday=k.weekday,
            occupancy_weekend=k.weekend,
            plug_base_w_m2=k.plug_base_w_m2,
            plug_peak_w_m2=k.plug_peak_w_m2,
            vent_ach=k.vent_ach,
        )


class ZoneModel:
    """State of one zone (temperatures, CO2, humidity) and its thermostat and ventilation."""

    def __init__(self, spec: ZoneSpec, params: ZoneParams | None = None) -> None:
        self.spec = spec
        self.params = p = params or ZoneParams.for_spec(spec)
        a = p.area_m2
        self.volume_m3 = a * p.height_m
        self.c_air_j_k, self.c_mass_j_k = p.c_air_j_m2k * a, p.c_mass_j_m2k * a
        self.h_air_mass_w_k, self.h_mass_out_w_k = p.h_air_mass_w_m2k * a, p.h_opaque_w_m2k * a
        infiltration_w_k = AIR_HEAT_CAPACITY_J_M3K * p.infiltration_ach * self.volume_m3 / 3600
        self._h_air_out_base = p.h_window_w_m2k * a + infiltration_w_k
        self.heating_capacity_w, self.cooling_capacity_w = p.heating_w_m2 * a, p.cooling_w_m2 * a
        kind = KIND_PROFILES.get(spec.kind)
        self.heating_setpoint_c = kind.heating_c if kind else 21.0
        self.cooling_setpoint_c = kind.cooling_c if kind else 24.0
        self.ventilation, self.hvac_mode = VentilationMode.ON, HvacMode.AUTO
        # Air temperature (what a room sensor reads) and building-mass temperature.
        self.temperature_c = self.mass_temperature_c = self.heating_setpoint_c
        self.co2_ppm = OUTDOOR_CO2_PPM
        self._w = humidity_ratio(self.temperature_c, 40.0)
        self.occupants = 0.0
        self.plug_w = self.hvac_thermal_w = self.hvac_electric_w = self.fan_w = self.solar_w = 0.0
        # Explicit thermostat power inside an implicit solve stays monotone for h <= C_air/K.
        gain = max(self.heating_capacity_w, self.cooling_capacity_w) / p.proportional_band_k
        self.max_substep_s = min(MAX_SUBSTEP_S, self.c_air_j_k / gain) if gain else MAX_SUBSTEP_S

    @property
    def id(self) -> str:
        """Return the zone id."""
        return self.spec.id

    @property
    def humidity_pct(self) -> float:
        """Return relative humidity of the zone air."""
        pv = self._w * 101325.0 / (0.622 + self._w)
        return min(100.0, 100.0 * pv / saturation_pressure_pa(self.temperature_c))

    @property
    def stored_heat_j(self) -> float:
        """Return the heat stored in both nodes relative to 0 °C (for energy balances)."""
        return self.c_air_j_k * self.temperature_c + self.c_mass_j_k * self.mass_temperature_c

    @property
    def mech_ach(self) -> float:
        """Return the mechanical air change rate of the current ventilation mode."""
        return self.params.vent_ach * (0.0, 1.0, 1.5)[self.ventilation]

    @property
    def h_air_out_w_k(self) -> float:
        """Return air-node loss coefficient including ventilation after heat recovery."""
        flow = self.mech_ach * self.volume_m3 / 3600.0
        recovered = 1.0 - self.params.heat_recovery
        return self._h_air_out_base + AIR_HEAT_CAPACITY_J_M3K * flow * recovered

    def set_heating_setpoint(self, value_c: float) -> None:
        """Set the heating setpoint (5-30 °C), pushing cooling up to keep one band of deadband."""
        if not 5.0 <= value_c <= 30.0:
            raise UsageError(f"{self.id}: heating setpoint {value_c} °C is outside 5-30 °C")
        self.heating_setpoint_c = float(value_c)
        gap = self.params.proportional_band_k
        self.cooling_setpoint_c = max(self.cooling_setpoint_c, value_c + gap)

    def set_cooling_setpoint(self, value_c: float) -> None:
        """Set the cooling setpoint (15-35 °C), pushing heating down to keep the deadband."""
        if not 15.0 <= value_c <= 35.0:
            raise UsageError(f"{self.id}: cooling setpoint {value_c} °C is outside 15-35 °C")
        self.cooling_setpoint_c = float(value_c)
        gap = self.params.proportional_band_k
        self.heating_setpoint_c = min(self.heating_setpoint_c, value_c - gap)

    def set_ventilation(self, mode: int) -> None:
        """Set the ventilation mode (0 off, 1 on, 2 boost)."""
        self.ventilation = _enum(VentilationMode, mode, self.id)

    def set_hvac_mode(self, mode: int) -> None:
        """Set the heat pump mode (0 off, 1 heat, 2 cool, 3 auto)."""
        self.hvac_mode = _enum(HvacMode, mode, self.id)

    def _update_loads(self, c: Clock, t_out: float, irr: float) -> None:
        p = self.params
        sched = p.occupancy_weekday if c.weekday < 5 else p.occupancy_weekend
        frac = sched[int(c.hour) % 24]
        self.occupants = p.area_m2 / p.m2_per_person * frac
        self.plug_w = (p.plug_base_w_m2 + (p.plug_peak_w_m2 - p.plug_base_w_m2) * frac) * p.area_m2
        self.solar_w = p.solar_aperture * p.area_m2 * irr
        t, band, q = self.temperature_c, p.proportional_band_k, 0.0
        # Proportional band centred on each setpoint: 50 % output at the setpoint.
        if self.hvac_mode in (HvacMode.HEAT, HvacMode.AUTO):
            q = self.heating_capacity_w * _clamp((self.heating_setpoint_c - t) / band + 0.5, 0, 1)
        if q == 0.0 and self.hvac_mode in (HvacMode.COOL, HvacMode.AUTO):
            q = -self.cooling_capacity_w * _clamp((t - self.cooling_setpoint_c) / band + 0.5, 0, 1)
        self.hvac_thermal_w = q
        self.hvac_electric_w = q / heat_pump_cop(t_out) if q > 0 else -q / cooling_eer(t_out)
        self.fan_w = p.fan_w_per_m3_s * self.mech_ach * self.volume_m3 / 3600.0

    def _integrate(self, h: float, t_out: float, w_out: float) -> None:
        p = self.params
        h_ao, h_am, h_mo = self.h_air_out_w_k, self.h_air_mass_w_k, self.h_mass_out_w_k
        c_a, c_m = self.c_air_j_k / h, self.c_mass_j_k / h
        q_air = self.occupants * HEAT_PER_PERSON_W + self.plug_w + self.hvac_thermal_w
        # Implicit Euler of the 2x2 linear system, solved by Cramer's rule.
        a, d = c_a + h_am + h_ao, c_m + h_am + h_mo
        r1 = c_a * self.temperature_c + h_ao * t_out + q_air
        r2 = c_m * self.mass_temperature_c + h_mo * t_out + self.solar_w
        det = a * d - h_am * h_am
        self.temperature_c = (r1 * d + h_am * r2) / det
        self.mass_temperature_c = (a * r2 + h_am * r1) / det
        # Well-mixed CO2 and moisture balances: exact exponential towards the steady state.
        n_s = (p.infiltration_ach + self.mech_ach) / 3600.0
        decay = math.exp(-n_s * h)
        c_inf = OUTDOOR_CO2_PPM + self.occupants * CO2_PER_PERSON_L_S * 1e3 / (self.volume_m3 * n_s)
        self.co2_ppm = c_inf + (self.co2_ppm - c_inf) * decay
        w_gain = self.occupants * MOISTURE_PER_PERSON_KG_S / (AIR_DENSITY_KG_M3 * self.volume_m3)
        w_inf = w_out + w_gain / n_s
        self._w = w_inf + (self._w - w_inf) * decay


def _enum(cls: type[_E], value: int, where: str) -> _E:
    try:
        return cls(int(value))
    except ValueError:
        names = ", ".join(f"{m.value} {m.name.lower()}" for m in cls)
        raise UsageError(f"{where}: {value} is not a valid {cls.__name__}", hint=names) from None


@dataclass(frozen=True)
class SiteSpec:
    """Site equipment outside the zones: one EV charger, a PV array and the grid connection."""

    pv_kwp: float = 0.0
    pv_performance: float = 0.85  # inverter, wiring, temperature and soiling losses
    ev_charger: bool = True
    ev_phases: int = 3
    ev_max_current_a: float = 16.0  # 11 kW on three phases
    ev_habit: tuple[float, float, bool, float] = (8.0, 17.0, True, 15.0)  # as KindProfile.ev
    line_impedance_ohm: float = 0.1  # makes phase voltage sag with load, as real meters show

    @classmethod
    def for_zones(cls, zones: Sequence[ZoneSpec]) -> SiteSpec:
        """Return a site with EV habits of the largest kind and 0.05 kWp PV per m² of floor."""
        area: dict[str, float] = {}
        for z in zones:
            area[z.kind] = area.get(z.kind, 0.0) + z.area_m2
        if not area:
            return cls(ev_charger=False)
        k = KIND_PROFILES[max(area, key=lambda kind: area[kind])]
        return cls(round(0.05 * sum(area.values()), 1), ev_habit=k.ev)


@dataclass(frozen=True)
class MeterReading:
    """A three-phase grid meter: positive power is import, counters only grow."""

    voltage_v: tuple[float, float, float]
    current_a: tuple[float, float, float]
    power_w: tuple[float, float, float]
    total_power_w: float
    import_kwh: float
    export_kwh: float
    frequency_hz: float = 50.0


class Building:
    """Zones plus site loads, advanced by `step(dt_s, now)` with simulated time."""

    def __init__(
        self,
        zones: Sequence[ZoneModel],
        site: SiteSpec | None = None,
        climate: Climate | None = None,
    ) -> None:
        self.zones: dict[str, ZoneModel] = {z.id: z for z in zones}
        self.site = site or SiteSpec(ev_charger=False)
        self.climate = climate or Climate()
        self.now: datetime | None = None
        self.outdoor_temperature_c = self.climate.annual_mean_c  # until the first step
        self.ev_current_limit_a = self.site.ev_max_current_a
        self.ev_connected, self.ev_power_w, self.pv_available_w = False, 0.0, 0.0
        self.pv_limit_kw: float | None = None
        self._ev_remaining_j, self._ev_seen = 0.0, False
        self._import_j = self._export_j = 0.0
        self._substep = min((z.max_substep_s for z in zones), default=MAX_SUBSTEP_S)

    @classmethod
    def from_zones(
        cls,
        zones: Sequence[ZoneSpec],
        seed: int | None = 0,
        *,
        site: SiteSpec | None = None,
        noise_k: float = 0.5,
    ) -> Building:
        """Build zones with default parameters; `seed=None` turns weather noise off."""
        problems, seen = [], set()
        for i, z in enumerate(zones):
            at = f"zones[{i}]"
            if z.kind not in KIND_PROFILES:
                near = difflib.get_close_matches(z.kind, KINDS, n=1)
                tip = f"Did you mean '{near[0]}'?" if near else f"Use one of {', '.join(KINDS)}."
                problems.append(Problem(f"unknown zone kind '{z.kind}'. {tip}", path=f"{at}.kind"))
            if not z.area_m2 > 0:
                problems.append(Problem(f"area {z.area_m2} m² must be > 0", path=f"{at}.area_m2"))
            if z.id in seen:
                problems.append(Problem(f"duplicate zone id '{z.id}'", path=f"{at}.id"))
            seen.add(z.id)
        if problems:
            raise ConfigError(problems)
        climate = Climate(noise_k=noise_k if seed is not None else 0.0, seed=seed or 0)
        site = site if site is not None else SiteSpec.for_zones(zones)
        return cls([ZoneModel(z) for z in zones], site, climate)

    @property
    def zone_ids(self) -> list[str]:
        """Return zone ids in creation order."""
        return list(self.zones)

    def zone(self, zone_id: str) -> ZoneModel:
        """Return one zone or raise UsageError naming the known ones."""
        try:
            return self.zones[zone_id]
        except KeyError:
            raise UsageError(
                f"unknown zone '{zone_id}'", hint=f"zones: {', '.join(self.zones)}"
            ) from None

    @property
    def area_m2(self) -> float:
        """Return the total floor area."""
        return sum(z.params.area_m2 for z in self.zones.values())

    @property
    def hvac_electric_w(self) -> float:
        """Return electric power of all heat pumps and fans."""
        return sum(z.hvac_electric_w + z.fan_w for z in self.zones.values())

    @property
    def plug_w(self) -> float:
        """Return the plug loads of all zones."""
        return sum(z.plug_w for z in self.zones.values())

    @property
    def pv_power_w(self) -> float:
        """Return PV output after the power limit."""
        if self.pv_limit_kw is None:
            return self.pv_available_w
        return min(self.pv_available_w, self.pv_limit_kw * 1000.0)

    def set_ev_current_limit(self, amps: float) -> None:
        """Set the charger current limit: 0 pauses, otherwise 6 A up to the charger maximum."""
        top = self.site.ev_max_current_a
        if not (amps == 0 or EV_MIN_CURRENT_A <= amps <= top):
            raise UsageError(
                f"EV current limit {amps} A is not allowed",
                hint=f"use 0 to pause or {EV_MIN_CURRENT_A:g}-{top:g} A (IEC 61851-1 minimum)",
            )
        self.ev_current_limit_a = float(amps)

    def set_pv_limit_kw(self, kw: float | None) -> None:
        """Limit PV output to `kw` (None removes the limit)."""
        if kw is not None and kw < 0:
            raise UsageError(f"PV limit {kw} kW must not be negative")
        self.pv_limit_kw = None if kw is None else float(kw)

    def net_power_w(self) -> float:
        """Return grid power: HVAC + EV + plug - PV (negative = export)."""
        return self.hvac_electric_w + self.ev_power_w + self.plug_w - self.pv_power_w

    def meter(self) -> MeterReading:
        """Return the grid meter's per-phase values and energy counters."""
        third = (self.hvac_electric_w - self.pv_power_w) / 3.0
        phases = [third, third, third]
        if self.site.ev_phases == 1:
            phases[0] += self.ev_power_w
        else:
            phases = [ph + self.ev_power_w / 3.0 for ph in phases]
        for i, z in enumerate(self.zones.values()):
            phases[i % 3] += z.plug_w  # single-phase sockets spread over the phases
        a = [p / NOMINAL_VOLTAGE_V for p in phases]
        v = [NOMINAL_VOLTAGE_V - self.site.line_impedance_ohm * x for x in a]
        p3 = (phases[0], phases[1], phases[2])
        kwh_in, kwh_out = self._import_j / 3.6e6, self._export_j / 3.6e6
        return MeterReading(
            (v[0], v[1], v[2]), (abs(a[0]), abs(a[1]), abs(a[2])), p3, sum(p3), kwh_in, kwh_out
        )

    def _ev_is_connected(self, c: Clock) -> bool:
        if not self.site.ev_charger:
            return False
        arrive, depart, weekdays_only, _ = self.site.ev_habit
        day = c.weekday
        if arrive <= depart:
            inside = arrive <= c.hour < depart
        else:  # overnight: in the morning the car arrived the previous day
            inside = c.hour >= arrive or c.hour < depart
            if c.hour < depart:
                day = (day - 1) % 7
        return inside and not (weekdays_only and day >= 5)

    def _update_site(self, c: Clock, irr: float) -> None:
        connected = self._ev_is_connected(c)
        if connected and (not self.ev_connected or not self._ev_seen):
            self._ev_remaining_j = self.site.ev_habit[3] * 3.6e6  # a car arrives
        self._ev_seen, self.ev_connected = True, connected
        amps = self.ev_current_limit_a
        charging = connected and self._ev_remaining_j > 0 and amps >= EV_MIN_CURRENT_A
        self.ev_power_w = self.site.ev_phases * NOMINAL_VOLTAGE_V * amps if charging else 0.0
        self.pv_available_w = self.site.pv_kwp * self.site.pv_performance * irr

    def step(self, dt_s: float, now: datetime) -> None:
        """Advance the state over the `dt_s` seconds that end at `now`; 0 only refreshes loads."""
        if not 0 <= dt_s <= MAX_STEP_S:
            raise UsageError(f"step of {dt_s} s is outside 0-{MAX_STEP_S:g} s")
        n = max(1, math.ceil(dt_s / self._substep - 1e-9))
        h = dt_s / n
        for k in range(n):
            c = Clock.of(now - timedelta(seconds=dt_s - k * h) if dt_s else now)
            t_out = self.climate._temperature(c)
            irr = self.climate._irradiance(c)
            self.outdoor_temperature_c = t_out
            self._update_site(c, irr)
            for z in self.zones.values():
                z._update_loads(c, t_out, irr)
            if h == 0:
                break
            if self.ev_power_w * h > self._ev_remaining_j:
                self.ev_power_w = self._ev_remaining_j / h  # the battery fills mid-step
            self._ev_remaining_j -= self.ev_power_w * h
            net = self.net_power_w() * h
            if net >= 0:
                self._import_j += net
            else:
                self._export_j -= net
            w_out = humidity_ratio(t_out, self.climate.outdoor_rh_pct)
            for z in self.zones.values():
                z._integrate(h, t_out, w_out)
        self.now = now
