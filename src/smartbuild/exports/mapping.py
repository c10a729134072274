"""One table from smartbuild's roles to Brick classes and Project Haystack tags, and the units.

Every role of ``smartbuild.model.roles`` has a row here (tests/exports/test_mapping.py fails when
one is missing); Brick class names are those of Brick 1.4, Haystack tags are markers of the
standard vocabulary (the point's own ``point``, ``sensor``/``sp``/``cmd`` kind included).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Meaning:
    """How Brick and Haystack say what one role means."""

    brick: str  # a Brick class, e.g. "Zone_Air_Temperature_Sensor"
    haystack: tuple[str, ...]  # Haystack marker tags, e.g. ("zone", "air", "temp", "sensor")


def _m(brick: str, tags: str) -> Meaning:
    return Meaning(brick, tuple(tags.split()))


ROLE_MEANINGS: dict[str, Meaning] = {
    # zone measurements
    "zone_air_temperature": _m("Zone_Air_Temperature_Sensor", "zone air temp sensor"),
    "zone_relative_humidity": _m("Zone_Air_Humidity_Sensor", "zone air humidity sensor"),
    "zone_co2": _m("Zone_CO2_Level_Sensor", "zone air co2 sensor"),
    "occupancy": _m("Occupancy_Sensor", "occupied sensor"),
    # zone setpoints and commands
    "heating_setpoint": _m("Heating_Zone_Air_Temperature_Setpoint", "zone air temp heating sp"),
    "cooling_setpoint": _m("Cooling_Zone_Air_Temperature_Setpoint", "zone air temp cooling sp"),
    "zone_air_temperature_setpoint": _m("Target_Zone_Air_Temperature_Setpoint", "zone air temp sp"),
    "co2_setpoint": _m("CO2_Setpoint", "zone air co2 sp"),
    "ventilation_mode": _m("Mode_Command", "ventilation mode cmd"),
    "hvac_mode": _m("Mode_Command", "hvac mode cmd"),
    "fan_speed": _m("Fan_Speed_Command", "fan speed cmd"),
    # EV charging
    "ev_charger_current_limit": _m("Current_Limit", "charging elec current limit sp"),
    "ev_charger_enable": _m("Enable_Command", "charging enable cmd"),
    "ev_charger_power": _m("Active_Power_Sensor", "charging elec power sensor"),
    # site energy
    "site_active_power": _m("Active_Power_Sensor", "elec power sensor"),
    "pv_active_power": _m("Active_Power_Sensor", "pv elec power sensor"),
    "pv_power_limit": _m("Demand_Setpoint", "pv elec power max sp"),
    "power_limit": _m("Demand_Setpoint", "elec power max sp"),
    "energy_import_total": _m("Electric_Energy_Sensor", "elec energy import sensor"),
    "energy_export_total": _m("Electric_Energy_Sensor", "elec energy export sensor"),
    # Brick 1.4 has no state-of-charge class; its Battery_Voltage_Sensor "measures the capacity of
    # a battery", the nearest meaning (used for battery levels of sensors too)
    "battery_state_of_charge": _m("Battery_Voltage_Sensor", "battery level sensor"),
    "battery_power": _m("Active_Power_Sensor", "battery elec power sensor"),
    "battery_power_setpoint": _m("Demand_Setpoint", "battery elec power sp"),
    # heat generation
    "heat_pump_flow_setpoint": _m(
        "Leaving_Hot_Water_Temperature_Setpoint", "hot water discharge temp sp"
    ),
    "heat_pump_enable": _m("Enable_Command", "enable cmd"),
    "heat_pump_power": _m("Electric_Power_Sensor", "elec power sensor"),
    "dhw_setpoint": _m(
        "Leaving_Domestic_Hot_Water_Temperature_Setpoint", "domestic hot water temp sp"
    ),
    # water (a building's meter, its leak detection and shut-off valve)
    "water_flow": _m("Water_Flow_Sensor", "water flow sensor"),
    "water_volume_total": _m("Water_Usage_Sensor", "water volume sensor"),
    "leak_alarm": _m("Leak_Alarm", "water leak sensor"),
    "valve": _m("Valve_Command", "water valve cmd"),
    # devices and equipment
    "battery": _m("Battery_Voltage_Sensor", "battery level sensor"),
    "illuminance": _m("Illuminance_Sensor", "illuminance sensor"),
    "window_open": _m("Open_Close_Status", "window open sensor"),
    "supply_air_temperature": _m("Supply_Air_Temperature_Sensor", "discharge air temp sensor"),
    "active_power": _m("Active_Power_Sensor", "elec power sensor"),
    "switch": _m("On_Off_Command", "run cmd"),
    # weather
    "outdoor_temperature": _m("Outside_Air_Temperature_Sensor", "outside air temp sensor"),
    "outdoor_running_mean_temperature": _m(
        "Outside_Air_Temperature_Sensor", "outside air temp avg sensor"
    ),
}

# What a point without a role is, by whether it can be written.
UNMAPPED_SENSOR = _m("Sensor", "sensor")
UNMAPPED_COMMAND = _m("Command", "cmd")

# Equipment classes, first match wins: a role the device's template has, or a role prefix.
EQUIPMENT: tuple[tuple[str, Meaning], ...] = (
    ("water_", _m("Building_Water_Meter", "water meter equip")),
    ("heat_pump_", _m("Packaged_Heat_Pump", "heatPump equip")),
    ("ev_charger_", _m("Electric_Vehicle_Charging_Station", "charging elec equip")),
    ("pv_", _m("Photovoltaic_Inverter", "pv inverter equip")),
    ("battery_", _m("Battery_Energy_Storage_System", "battery equip")),
    ("ventilation_mode", _m("AHU", "ahu equip")),
    ("supply_air_temperature", _m("AHU", "ahu equip")),
    ("site_active_power", _m("Building_Electrical_Meter", "elec meter equip")),
    ("energy_import_total", _m("Building_Electrical_Meter", "elec meter equip")),
    ("heating_setpoint", _m("Thermostat", "thermostat equip")),
    ("zone_air_temperature_setpoint", _m("Thermostat", "thermostat equip")),
)
GENERIC_EQUIPMENT = _m("Equipment", "equip")

# smartbuild unit -> (QUDT unit name for Brick, Haystack unit symbol)
UNITS: dict[str, tuple[str, str]] = {
    "°C": ("DEG_C", "°C"),
    "%": ("PERCENT", "%"),
    "ppm": ("PPM", "ppm"),
    "kW": ("KiloW", "kW"),
    "kWh": ("KiloW-HR", "kWh"),
    "A": ("A", "A"),
    "lx": ("LUX", "lx"),
    "m³": ("M3", "m³"),
    "m3": ("M3", "m³"),
    "m³/h": ("M3-PER-HR", "m³/h"),
    "L": ("L", "L"),
    "l/min": ("L-PER-MIN", "L/min"),
    "m²": ("M2", "m²"),
    "V": ("V", "V"),
    "Hz": ("HZ", "Hz"),
    "kVA": ("KiloV-A", "kVA"),
    "kvar": ("KiloV-A_Reactive", "kVAR"),
    "W": ("W", "W"),
    "Pa": ("PA", "Pa"),
}


def point_meaning(role: str | None, writable: bool) -> Meaning:
    """Return the Brick class and Haystack tags of a point by its role."""
    if role is not None and role in ROLE_MEANINGS:
        return ROLE_MEANINGS[role]
    return UNMAPPED_COMMAND if writable else UNMAPPED_SENSOR


def equipment_meaning(roles: Iterable[str]) -> Meaning:
    """Return the Brick class and Haystack tags of a device by the roles of its points."""
    have = set(roles)
    for key, meaning in EQUIPMENT:
        if any(role == key or (key.endswith("_") and role.startswith(key)) for role in have):
            return meaning
    return GENERIC_EQUIPMENT
