"""The one vocabulary of point roles: what a point means, its unit, and whether profiles set it."""

from __future__ import annotations

from dataclasses import dataclass

from smartbuild.suggest import did_you_mean


@dataclass(frozen=True)
class Role:
    """One meaning a device point can have, with its canonical unit."""

    name: str
    unit: str  # canonical unit; "bool" and "enum" for switches and device-specific codes
    writable: bool  # profiles may set it (setpoints, limits, switches)
    description: str
    deadband: float = 0.0  # default: no write for smaller changes
    comfort_ref: str | None = None  # comfort value an `{offset: n}` is relative to


_C = "°C"

_ROLES: tuple[Role, ...] = (
    # Zone measurements (read only).
    Role("zone_air_temperature", _C, False, "zone air temperature"),
    Role("zone_relative_humidity", "%", False, "zone relative humidity"),
    Role("zone_co2", "ppm", False, "zone CO2 concentration"),
    Role("occupancy", "bool", False, "zone occupied (presence sensor)"),
    # Zone setpoints and commands.
    Role("heating_setpoint", _C, True, "heating setpoint", 0.3, "low"),
    Role("cooling_setpoint", _C, True, "cooling setpoint", 0.3, "high"),
    Role("zone_air_temperature_setpoint", _C, True, "single room setpoint", 0.3),
    Role("co2_setpoint", "ppm", True, "demand-controlled ventilation CO2 setpoint", 50, "co2_max"),
    Role("ventilation_mode", "enum", True, "ventilation mode (device code)"),
    Role("hvac_mode", "enum", True, "HVAC operating mode (device code)"),
    Role("fan_speed", "%", True, "fan speed", 5),
    # EV charging.
    Role("ev_charger_current_limit", "A", True, "EV charger current limit per phase", 0.5),
    Role("ev_charger_enable", "bool", True, "EV charging allowed"),
    Role("ev_charger_power", "kW", False, "EV charger active power"),
    # Site energy.
    Role("site_active_power", "kW", False, "site grid active power (import positive)"),
    Role("pv_active_power", "kW", False, "PV inverter active power"),
    Role("pv_power_limit", "%", True, "PV inverter active power limit", 1),
    Role("power_limit", "kW", True, "active power limit of a load or inverter", 0.1),
    Role("energy_import_total", "kWh", False, "imported energy counter"),
    Role("energy_export_total", "kWh", False, "exported energy counter"),
    Role("battery_state_of_charge", "%", False, "battery state of charge"),
    Role("battery_power", "kW", False, "battery power (charge positive)"),
    Role("battery_power_setpoint", "kW", True, "battery charge/discharge setpoint", 0.1),
    # Heat generation.
    Role("heat_pump_flow_setpoint", _C, True, "heat pump flow temperature setpoint", 0.5),
    Role("heat_pump_enable", "bool", True, "heat pump allowed to run"),
    Role("heat_pump_power", "kW", False, "heat pump electrical power"),
    Role("dhw_setpoint", _C, True, "domestic hot water setpoint", 0.5),
    # Devices and equipment.
    Role("battery", "%", False, "battery level of a battery-powered device"),
    Role("illuminance", "lx", False, "illuminance"),
    Role("window_open", "bool", False, "window or door contact open"),
    Role("supply_air_temperature", _C, False, "supply air temperature of an air-handling unit"),
    Role("active_power", "kW", False, "active power of a load"),
    Role("switch", "bool", True, "relay or switch state"),
    # Water.
    Role("water_flow", "m³/h", False, "water flow through a meter"),
    Role("water_volume_total", "m³", False, "water volume counter of a meter"),
    Role("leak_alarm", "bool", False, "water leak detected (sensing cable or probe)"),
    Role("valve", "enum", True, "shut-off valve command (device code: open, closed)"),
    # Weather.
    Role("outdoor_temperature", _C, False, "outdoor air temperature"),
    Role(
        "outdoor_running_mean_temperature",
        _C,
        False,
        "running-mean outdoor temperature (adaptive comfort input)",
    ),
)

ROLES: dict[str, Role] = {role.name: role for role in _ROLES}
WRITABLE_ROLES: frozenset[str] = frozenset(r.name for r in _ROLES if r.writable)

# Spellings that mean the same unit; anything else is compared literally.
_UNIT_ALIASES = {
    "C": _C,
    "degC": _C,
    "°c": _C,
    "℃": _C,
    "deg C": _C,
    "percent": "%",
    "kw": "kW",
    "kwh": "kWh",
    "a": "A",
    "amp": "A",
    "amps": "A",
}


def normalize_unit(unit: str | None) -> str | None:
    """Return the canonical spelling of a unit ("degC" → "°C"); None stays None."""
    if unit is None:
        return None
    unit = unit.strip()
    return _UNIT_ALIASES.get(unit, unit) or None


# What a profile may ask of a role: anything outside is a typo or a unit mix-up (160 °C for a
# heating setpoint, 3200 A for a charger), refused before a device bound is ever consulted.
# Device templates still bound each point; these ranges are the wider sanity check on profiles.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "heating_setpoint": (5.0, 30.0),  # frost protection .. the top of any comfort band
    "cooling_setpoint": (16.0, 35.0),
    "zone_air_temperature_setpoint": (5.0, 35.0),
    "co2_setpoint": (400.0, 5000.0),  # outdoor air .. the 8-hour occupational limit
    "fan_speed": (0.0, 100.0),
    "ev_charger_current_limit": (0.0, 80.0),  # 0 pauses; 80 A single-phase is the top rating
    "pv_power_limit": (0.0, 100.0),
    "power_limit": (0.0, 10_000.0),
    "battery_power_setpoint": (-10_000.0, 10_000.0),
    "heat_pump_flow_setpoint": (15.0, 75.0),
    "dhw_setpoint": (30.0, 85.0),  # legionella disinfection runs reach 70-80 °C
}
# The largest offset a profile may apply to a comfort value or a scheduled target, per unit.
MAX_OFFSET: dict[str, float] = {_C: 10.0, "ppm": 1500.0, "%": 100.0, "A": 80.0, "kW": 10_000.0}


def _fmt(value: float) -> str:
    return f"{value:g}"


def check_plausible(role: Role, value: float) -> None:
    """Raise ValueError when value is not a finite number inside the role's plausible range."""
    import math

    if not math.isfinite(value):
        raise ValueError(f"{role.name} needs a finite number, not {value!r}")
    low, high = PLAUSIBLE.get(role.name, (-math.inf, math.inf))
    if not low <= value <= high:
        unit = "" if role.unit in ("bool", "enum") else f" {role.unit}"
        raise ValueError(
            f"{role.name} {_fmt(value)}{unit} is outside the plausible range "
            f"{_fmt(low)}..{_fmt(high)}{unit}; check the number and its unit"
        )


def check_offset(role: Role, offset: float) -> None:
    """Raise ValueError when an offset on role is not finite or larger than its unit allows."""
    import math

    limit = MAX_OFFSET.get(role.unit, math.inf)
    if not math.isfinite(offset) or abs(offset) > limit:
        raise ValueError(
            f"offset {_fmt(offset)} on {role.name} is outside ±{_fmt(limit)} {role.unit}"
        )


def check_role(name: str, *, writable: bool = False) -> Role:
    """Return the role called name, or raise ValueError with a suggestion."""
    role = ROLES.get(name)
    if role is None and str(name).isdigit():
        # `{heating_setpoint: 21,5}` in a flow mapping reads as `21` and a new key `5`
        raise ValueError(
            f"unknown role '{name}': a decimal comma? write the number with a dot ('21.5'): "
            "in a {…} mapping a comma starts the next key"
        )
    if role is None:
        raise ValueError(f"unknown role '{name}'.{did_you_mean(name, ROLES)}")
    if writable and not role.writable:
        raise ValueError(
            f"role '{name}' is a measurement and cannot be set.{did_you_mean(name, WRITABLE_ROLES)}"
        )
    return role
