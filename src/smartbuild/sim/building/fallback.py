"""Values for points without a role: what the device is, the point's unit and its name say.

A meter's phase voltages sag with load, line-to-line voltages are √3 larger, currents follow the
power of the device's kind (meter, PV inverter, EV charger, heat pump), energy counters grow, and
states come from enum labels ("C: charging", "MPPT"). Strings name the manufacturer, model,
version and a stable serial. Nothing here changes the physics.
"""

from __future__ import annotations

import math
import re
import zlib
from typing import TYPE_CHECKING, Any

from smartbuild.model.roles import normalize_unit
from smartbuild.sim.building.binding import convert
from smartbuild.sim.building.physics import VentilationMode

if TYPE_CHECKING:
    from smartbuild.sim.building.binding import Plant, SimDevice
    from smartbuild.transports.modbus.schema import ModbusPoint as PointSpec

SQRT3 = math.sqrt(3.0)
POWER_FACTOR = 0.97  # a typical building mix of heat pump drives and electronics
FREQUENCY_HZ = 50.0
DC_VOLTAGE_V = 600.0  # a string of about 16 PV modules at their maximum power point


def _phase(name: str) -> tuple[int, ...]:
    """Return the phases a point name refers to: (0,) for L1/A, (0, 1) for L1-L2/AB."""
    text = name.lower()
    if m := re.search(r"l([123])_?l([123])", text):
        return (int(m.group(1)) - 1, int(m.group(2)) - 1)
    if m := re.search(r"ph(?:v)?ph([abc])([abc])", text) or re.search(r"ph([abc])([abc])$", text):
        return ("abc".index(m.group(1)), "abc".index(m.group(2)))
    if m := re.search(r"l([123])\b|l([123])$|_l([123])", text):
        digit = next(g for g in m.groups() if g)
        return (int(digit) - 1,)
    if m := re.search(r"ph([abc])$", text):
        return ("abc".index(m.group(1)),)
    return ()


def _enum_by_label(enum: dict[int, str], *patterns: str) -> int:
    for pattern in patterns:
        for key, label in enum.items():
            if re.search(pattern, label, re.IGNORECASE):
                return key
    return next(iter(enum))


def _electrical(plant: Plant, dev: SimDevice) -> tuple[list[float], list[float], float]:
    """Return (phase voltages, phase powers W, total W) of the device's kind."""
    m = plant.meter()
    volts = list(m.voltage_v)
    b = plant.physics
    total = {
        "meter": m.total_power_w,
        "pv": b.pv_power_w,
        "ev": b.ev_power_w,
        "heat-pump": plant.heat_pump_w,
    }.get(dev.kind, 0.0)
    powers = list(m.power_w) if dev.kind == "meter" else [total / 3.0] * 3
    return volts, powers, total


def fallback_value(plant: Plant, dev: SimDevice, name: str, spec: PointSpec) -> Any:
    """Return a plausible value for a point without a role, from its unit and name."""
    unit = normalize_unit(spec.unit)
    low = name.lower()
    if spec.type == "string":
        return _text(plant, dev, low)
    if spec.enum:
        return _state(plant, dev, spec.enum)
    if spec.table in ("coil", "discrete") or spec.bit is not None:
        running = plant.heat_pump_w > 0 if dev.kind == "heat-pump" else False
        return running if re.search(r"running|compressor|active|on$", low) else False
    volts, powers, total = _electrical(plant, dev)
    phases = _phase(name)
    if unit == "V":
        if "dc" in low:
            return DC_VOLTAGE_V
        if len(phases) == 2 or re.search(r"ppv|_ll|line", low):
            return SQRT3 * (volts[phases[0]] + volts[phases[1]]) / 2 if phases else SQRT3 * 230
        return volts[phases[0]] if phases else sum(volts) / 3
    if unit == "A":
        if "neutral" in low:
            return abs(powers[0] - powers[1]) / volts[0] / 3  # unbalance only
        amps = [abs(p) / v for p, v in zip(powers, volts, strict=True)]
        if "dc" in low:
            return abs(total) / DC_VOLTAGE_V
        return amps[phases[0]] if phases else sum(amps) if dev.kind == "pv" else max(amps)
    if unit in ("W", "kW"):
        watts = powers[phases[0]] if phases else total
        return convert(watts / 1e3, "kW", unit)
    if unit == "VA":
        return abs(total) / POWER_FACTOR
    if unit == "var":
        return abs(total) * math.tan(math.acos(POWER_FACTOR))
    if unit == "Hz":
        return FREQUENCY_HZ
    if re.search(r"power_?factor|^pf$|cos", low) or unit == "cos()":
        return POWER_FACTOR * (100 if unit == "%" else 1)
    if unit in ("kWh", "Wh"):
        return convert(_energy(plant, dev, low), "kWh", unit)
    if unit == "°C":
        return _temperature(plant, dev, low)
    if unit == "ppm":
        return plant.zone_mean("co2_ppm")
    if unit == "%" and "fan" in low:
        return _fan_actual(plant, dev)
    return 0


def _text(plant: Plant, dev: SimDevice, low: str) -> str:
    t = dev.template
    if re.search(r"serial|^sn$", low):
        return f"SB{zlib.crc32(dev.id.encode()) % 10**8:08d}"  # stable across runs
    if re.search(r"version|firmware|^vr$", low):
        return "1.0.0"
    if re.search(r"manufacturer|vendor|^mn$", low):
        return t.vendor if t.vendor and t.vendor != "SunSpec" else "smartbuild"
    if re.search(r"model|^md$", low):
        return t.model or t.template
    return ""


def _state(plant: Plant, dev: SimDevice, enum: dict[int, str]) -> int:
    b = plant.physics
    if dev.kind == "ev":
        if b.ev_power_w > 0:
            return _enum_by_label(enum, r"^C\b|charging")
        return _enum_by_label(enum, r"connected" if b.ev_connected else r"no vehicle|^A\b")
    if dev.kind == "pv":
        return _enum_by_label(enum, r"MPPT" if b.pv_power_w > 0 else r"SLEEP")
    if dev.kind == "heat-pump":
        return _enum_by_label(enum, r"heat" if plant.heat_pump_w > 0 else r"standby")
    return _enum_by_label(enum, r"^on$|connect|enabled|normal|ok")


def _energy(plant: Plant, dev: SimDevice, low: str) -> float:
    m = plant.meter()
    if dev.kind == "pv":
        return plant.pv_kwh
    if dev.kind == "ev":
        return plant.ev_session_kwh
    if dev.kind == "heat-pump":
        return plant.hp_kwh
    if "export" in low:
        return float(m.export_kwh)
    if "import" in low:
        return float(m.import_kwh)
    return float(m.import_kwh + m.export_kwh)


def _temperature(plant: Plant, dev: SimDevice, low: str) -> float:
    b = plant.physics
    mean = plant.zone_mean("temperature_c")
    if "outdoor" in low or "outside" in low:
        return b.outdoor_temperature_c
    if "extract" in low or "return_air" in low or "room" in low:
        return mean
    flow = float(plant.stored_role(dev, "heat_pump_flow_setpoint", 35.0))
    if "flow" in low:
        return flow if plant.heat_pump_w > 0 else mean + 2
    if "return" in low:
        return flow - 5 if plant.heat_pump_w > 0 else mean + 1
    if "dhw" in low or "hot_water" in low:
        return float(plant.stored_role(dev, "dhw_setpoint", 50.0)) - 2
    if "supply" in low:
        setpoint = next((v for n, v in dev.stored.items() if "supply" in n), None)
        return float(setpoint) if setpoint is not None else 19.0
    return b.outdoor_temperature_c + 15  # cabinets, heat sinks: warmer than outside


def _fan_actual(plant: Plant, dev: SimDevice) -> float:
    command = float(plant.stored_role(dev, "fan_speed", 60.0))
    modes = [z.ventilation for z in plant.physics.zones.values()]
    if not modes or all(m == VentilationMode.OFF for m in modes):
        return 0.0
    return min(100.0, command * 1.5) if VentilationMode.BOOST in modes else command
