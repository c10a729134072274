"""Bind device points to the simulated building by their roles (not by template names).

A point with a role (``heating_setpoint``, ``site_active_power``, ...) reads its value from the
physics and a client's write to it changes the physics. Points without a role still need
plausible values (a meter's phase voltages, an inverter's frequency): ``sim.fallback`` derives
them from what the device *is* (a meter, a PV inverter, an EV charger ... judged by its roles)
and the point's unit and name. Writable points the physics has no use for keep what clients
wrote, like a real device's parameters. So a new template with known roles works unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartbuild.errors import UsageError
from smartbuild.model.roles import ROLES, normalize_unit
from smartbuild.sim.building.physics import Building, HvacMode, VentilationMode

if TYPE_CHECKING:
    from smartbuild.transports.modbus.schema import ModbusPoint as PointSpec
    from smartbuild.transports.modbus.schema import ModbusTemplate as Template

RUNNING_MEAN_TAU_S = 4 * 86400.0  # EN 16798-1 running mean with alpha 0.8 ~ a 4-day EWMA
ROLE_DEFAULTS: dict[str, float] = {
    "co2_setpoint": 1000.0,
    "fan_speed": 60.0,
    "heat_pump_flow_setpoint": 35.0,
    "dhw_setpoint": 50.0,
    "pv_power_limit": 100.0,
    "battery_power_setpoint": 0.0,
    "ev_charger_enable": 1.0,
    "heat_pump_enable": 1.0,
}
_UNIT_FACTORS = {("kW", "W"): 1e3, ("kW", "MW"): 1e-3, ("kWh", "Wh"): 1e3, ("kWh", "MWh"): 1e-3}
_EV_ROLES = {"ev_charger_current_limit", "ev_charger_enable", "ev_charger_power"}
_HP_ROLES = {"heat_pump_power", "heat_pump_enable", "heat_pump_flow_setpoint", "dhw_setpoint"}


def device_kind(template: Template) -> str:
    """Return what a device is, judged by the roles of its points."""
    roles = {p.role for p in template.points.values() if p.role}
    if roles & {"water_flow", "water_volume_total", "leak_alarm", "valve"}:
        return "water"
    if "site_active_power" in roles:
        return "meter"
    if roles & {"pv_active_power", "pv_power_limit"}:
        return "pv"
    if roles & _EV_ROLES:
        return "ev"
    if roles & _HP_ROLES:
        return "heat-pump"
    if roles & {"ventilation_mode", "fan_speed"} and not roles & {"zone_air_temperature"}:
        return "ahu"
    return "zone"


@dataclass
class SimDevice:
    """One simulated device: its template, where it is reached and the zone it serves."""

    id: str
    template: Template
    transport: str  # modbus-tcp or ble
    address: str  # host:port or MAC
    unit: int | None = None
    zone: str | None = None
    title: str | None = None
    stored: dict[str, Any] = field(default_factory=dict)  # parameters clients may set
    serves: tuple[str, ...] = ()  # the zones a shared device conditions (the air-handling unit)

    @property
    def kind(self) -> str:
        """Return meter, pv, ev, heat-pump, ahu or zone."""
        return device_kind(self.template)


def convert(value: float, from_unit: str | None, to_unit: str | None) -> float:
    """Convert between the role's canonical unit and the point's (W/kW, Wh/kWh)."""
    a, b = normalize_unit(from_unit), normalize_unit(to_unit)
    if a == b or a is None or b is None:
        return value
    factor = _UNIT_FACTORS.get((a, b)) or (
        1 / _UNIT_FACTORS[(b, a)] if (b, a) in _UNIT_FACTORS else 1
    )
    return value * factor


def default_value(name: str, spec: PointSpec) -> Any:
    """Return the factory value of a writable point the physics does not drive."""
    if spec.role in ROLE_DEFAULTS:
        value: Any = ROLE_DEFAULTS[spec.role]
    elif spec.min is not None and spec.max is not None:
        value = (spec.min + spec.max) / 2
    else:
        value = spec.min if spec.min is not None else 0
    if spec.enum:
        value = min(spec.enum, key=lambda k: abs(k - float(value)))
    if spec.table in ("coil", "discrete") or spec.bit is not None:
        return bool(value)
    if spec.type.startswith(("int", "uint")) and spec.scale == 1:
        return round(float(value))
    return value


class Plant:
    """The physics plus the controls and counters real equipment would hold."""

    def __init__(self, physics: Building) -> None:
        self.physics = physics
        zones = physics.zones
        self.zone_mode = {z: int(m.hvac_mode) for z, m in zones.items()}
        self.vent_base = {z: int(m.ventilation) for z, m in zones.items()}
        self.zone_co2_setpoint = dict.fromkeys(zones, ROLE_DEFAULTS["co2_setpoint"])
        self.ahu_co2_setpoint = ROLE_DEFAULTS["co2_setpoint"]
        self.heat_pump_enabled = True
        self.ev_limit_a = physics.ev_current_limit_a
        self.ev_enabled = True
        self.pv_kwh = self.hp_kwh = self.ev_session_kwh = 0.0
        self.running_mean_c = physics.climate.annual_mean_c
        self.water: Any = None  # a WaterModel when the building has water devices (sim --water)
        self._cache: dict[str, Any] = {}  # sums over all zones, computed once per step
        self._site_roles: dict[str, Any] = {
            "ev_charger_current_limit": lambda: self.ev_limit_a,
            "ev_charger_enable": lambda: self.ev_enabled,
            "ev_charger_power": lambda: physics.ev_power_w / 1e3,
            "site_active_power": lambda: self._once("net", physics.net_power_w) / 1e3,
            "energy_import_total": lambda: self.meter().import_kwh,
            "energy_export_total": lambda: self.meter().export_kwh,
            "pv_active_power": lambda: physics.pv_power_w / 1e3,
            "pv_power_limit": self._pv_limit_pct,
            "heat_pump_enable": lambda: self.heat_pump_enabled,
            "heat_pump_power": lambda: self.heat_pump_w / 1e3,
            "outdoor_temperature": lambda: physics.outdoor_temperature_c,
            "outdoor_running_mean_temperature": lambda: self.running_mean_c,
        }

    # ---- controls the devices hold, pushed into the physics before each step --------

    def apply_controls(self) -> None:
        """Apply thermostat modes, heat pump enable, ventilation with CO2 demand, EV limit."""
        b = self.physics
        mean_co2 = sum(z.co2_ppm for z in b.zones.values()) / max(len(b.zones), 1)
        for zid, z in b.zones.items():
            z.hvac_mode = HvacMode(self.zone_mode[zid] if self.heat_pump_enabled else 0)
            base = VentilationMode(self.vent_base[zid])
            demand = z.co2_ppm > self.zone_co2_setpoint[zid] or mean_co2 > self.ahu_co2_setpoint
            # demand-controlled ventilation: the AHU boosts a running zone above its CO2 setpoint
            z.ventilation = VentilationMode.BOOST if base == VentilationMode.ON and demand else base
        b.ev_current_limit_a = self.ev_limit_a if self.ev_enabled else 0.0

    def after_step(self, dt_s: float) -> None:
        """Advance counters (PV, heat pump and EV session energy, outdoor running mean)."""
        b = self.physics
        self._cache.clear()
        self.pv_kwh += b.pv_power_w * dt_s / 3.6e6
        self.hp_kwh += self.heat_pump_w * dt_s / 3.6e6
        self.ev_session_kwh = self.ev_session_kwh + b.ev_power_w * dt_s / 3.6e6
        if not b.ev_connected:
            self.ev_session_kwh = 0.0
        weight = min(1.0, dt_s / RUNNING_MEAN_TAU_S)
        self.running_mean_c += (b.outdoor_temperature_c - self.running_mean_c) * weight

    @property
    def heat_pump_w(self) -> float:
        """Return the electrical power of all zone heat pumps (fans excluded)."""
        zones = self.physics.zones.values()
        return float(self._once("hp", lambda: sum(z.hvac_electric_w for z in zones)))

    def _once(self, key: str, compute: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def zone_mean(self, attribute: str) -> float:
        """Return the mean of a zone attribute (temperature_c, co2_ppm) over all zones."""
        zones = self.physics.zones.values()
        return float(
            self._once(
                attribute, lambda: sum(getattr(z, attribute) for z in zones) / max(len(zones), 1)
            )
        )

    def meter(self) -> Any:
        """Return the grid meter reading of this instant (computed once per step)."""
        return self._once("meter", self.physics.meter)

    # ---- reading ----------------------------------------------------------------------

    def value(self, dev: SimDevice, name: str) -> Any:
        """Return a point's current value in the point's own unit."""
        spec = dev.template.points[name]
        if name in dev.stored:
            return dev.stored[name]
        role = spec.role
        if self.water is not None and dev.kind == "water" and (role or not spec.writable):
            got = self.water.role_value(role) if role else None
            if isinstance(got, bool):
                return got
            if got is not None:
                return convert(float(got), ROLES[role].unit, spec.unit) if role else got
            return self.water.point_value(name, spec.unit)
        if role is not None and role in ROLES:
            got = self.role_value(dev, role)
            if got is not None:
                if isinstance(got, bool):
                    return got
                return convert(float(got), ROLES[role].unit, spec.unit)
        if spec.writable:
            dev.stored[name] = default_value(name, spec)
            return dev.stored[name]
        return self.fallback(dev, name, spec)

    def _zone(self, dev: SimDevice) -> Any:
        zones = self.physics.zones
        return zones.get(dev.zone or "")

    def role_value(self, dev: SimDevice, role: str) -> Any:
        """Return the physics value of a role (canonical unit), or None when it has none."""
        b, z = self.physics, self._zone(dev)
        zones = list(b.zones.values())
        if z is None and zones and role.startswith(("zone_", "heating", "cooling", "occ")):
            z = zones[0]
        if z is not None:
            if role == "zone_air_temperature":
                return z.temperature_c
            if role == "zone_relative_humidity":
                return z.humidity_pct
            if role == "zone_co2":
                return z.co2_ppm
            if role == "occupancy":
                return z.occupants >= 0.5
            if role in ("heating_setpoint", "zone_air_temperature_setpoint"):
                return z.heating_setpoint_c
            if role == "cooling_setpoint":
                return z.cooling_setpoint_c
        zid = dev.zone if dev.zone in b.zones else None
        if role == "hvac_mode":
            return self.zone_mode[zid] if zid else None
        if role == "ventilation_mode":
            return self.vent_base[zid] if zid else next(iter(self.vent_base.values()), 1)
        if role == "co2_setpoint":
            return self.zone_co2_setpoint[zid] if zid else self.ahu_co2_setpoint
        if role == "power_limit" and dev.kind == "pv":
            return b.pv_limit_kw if b.pv_limit_kw is not None else b.site.pv_kwp
        site = self._site_roles.get(role)
        return site() if site is not None else None

    def _pv_limit_pct(self) -> float:
        b = self.physics
        if b.pv_limit_kw is None or b.site.pv_kwp <= 0:
            return 100.0
        return min(100.0, 100.0 * b.pv_limit_kw / b.site.pv_kwp)

    def fallback(self, dev: SimDevice, name: str, spec: PointSpec) -> Any:
        """Return a plausible value for a point without a role (see sim.fallback)."""
        from smartbuild.sim.building.fallback import fallback_value

        return fallback_value(self, dev, name, spec)

    def stored_role(self, dev: SimDevice, role: str, default: float) -> Any:
        """Return the device's value of a role it holds as a setting (flow setpoint, fan speed)."""
        for name, spec in dev.template.points.items():
            if spec.role == role:
                return self.value(dev, name)
        return default

    # ---- writing ----------------------------------------------------------------------

    def write(self, dev: SimDevice, name: str, value: Any) -> None:
        """Apply a client's write; raise UsageError when the device would refuse it."""
        spec = dev.template.points[name]
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        low = -math.inf if spec.min is None else spec.min - 1e-9
        high = math.inf if spec.max is None else spec.max + 1e-9
        if number is not None and not low <= number <= high:
            raise UsageError(f"{dev.id}.{name}: {number:g} is outside {spec.min}..{spec.max}")
        role = spec.role
        if role == "valve" and self.water is not None:
            self.water.valve_code = int(value)
            return
        if role is None or not self._write_role(dev, role, value, spec):
            dev.stored[name] = value
            return
        dev.stored.pop(name, None)

    def set_zone_setpoint(self, zone: str, role: str, value: float) -> None:
        """Set a zone's heating or cooling setpoint: the one path a write through any device takes.

        The zone holds the setpoint; every device of the zone (a Modbus thermostat, a BLE room
        sensor) shows the zone's value, so a write through one is what all of them read back.
        """
        z = self.physics.zones[zone]
        if role == "cooling_setpoint":
            z.set_cooling_setpoint(float(value))
        else:
            z.set_heating_setpoint(float(value))

    def _write_role(self, dev: SimDevice, role: str, value: Any, spec: PointSpec) -> bool:
        """Change the physics for a role; return False when the role is only a stored setting."""
        b, zid = self.physics, dev.zone if dev.zone in self.physics.zones else None
        targets = [zid] if zid else list(b.zones)
        number = float(value)
        if (
            role in ("heating_setpoint", "zone_air_temperature_setpoint", "cooling_setpoint")
            and zid
        ):
            self.set_zone_setpoint(zid, role, number)
        elif role == "hvac_mode":
            HvacMode(int(number))
            for z in targets:
                self.zone_mode[z] = int(number)
        elif role == "ventilation_mode":
            VentilationMode(int(number))
            for z in targets:
                self.vent_base[z] = int(number)
        elif role == "co2_setpoint":
            if zid:
                self.zone_co2_setpoint[zid] = number
            else:
                self.ahu_co2_setpoint = number
        elif role == "heat_pump_enable":
            self.heat_pump_enabled = bool(value)
        elif role == "ev_charger_enable":
            self.ev_enabled = bool(value)
        elif role == "ev_charger_current_limit":
            amps = convert(number, spec.unit, "A")
            b.set_ev_current_limit(amps)  # validates 0 or 6..max (IEC 61851-1)
            self.ev_limit_a = amps
        elif role == "pv_power_limit":
            b.set_pv_limit_kw(None if number >= 100 else number / 100 * b.site.pv_kwp)
        elif role == "power_limit" and dev.kind == "pv":
            b.set_pv_limit_kw(convert(number, spec.unit, "kW"))
        else:
            return False
        return True
