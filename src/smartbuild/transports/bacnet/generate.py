"""A template generated from a device's object list: units, roles, writable commandable objects.

Pure functions: discovery reads the objects (name, type, units, priority array, state texts) and
hands them here. Roles are given only where the object's name and type make them clear; points
keep the object's own name so people recognise them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from smartbuild.transports.bacnet.schema import ALWAYS_COMMANDABLE, BINARY, OBJECT_TYPES

# BACnet engineering units (their bacpypes3 names) to the units smartbuild's roles use
UNITS: dict[str, str] = {
    "degrees-celsius": "°C",
    "degrees-fahrenheit": "°F",
    "degrees-kelvin": "K",
    "delta-degrees-kelvin": "K",
    "percent": "%",
    "percent-relative-humidity": "%",
    "parts-per-million": "ppm",
    "kilowatts": "kW",
    "watts": "W",
    "megawatts": "MW",
    "kilowatt-hours": "kWh",
    "watt-hours": "Wh",
    "megawatt-hours": "MWh",
    "amperes": "A",
    "volts": "V",
    "hertz": "Hz",
    "pascals": "Pa",
    "kilopascals": "kPa",
    "bars": "bar",
    "cubic-meters-per-hour": "m³/h",
    "cubic-meters-per-second": "m³/s",
    "liters-per-second": "l/s",
    "liters-per-hour": "l/h",
    "cubic-feet-per-minute": "cfm",
    "luxes": "lx",
    "seconds": "s",
    "minutes": "min",
    "hours": "h",
    "revolutions-per-minute": "rpm",
    "no-units": "",
}

# (name pattern, object kind, unit) -> role; the first match wins, and only when unambiguous
_ROLE_RULES: tuple[tuple[str, str, str | None, str], ...] = (
    (r"(zone|room|space).*(temp|tmp)(?!.*(sp|set))", "input", "°C", "zone_air_temperature"),
    (r"(heat|htg).*(sp|set)", "setpoint", "°C", "heating_setpoint"),
    (r"(cool|clg).*(sp|set)", "setpoint", "°C", "cooling_setpoint"),
    (r"(zone|room|space).*(sp|set)", "setpoint", "°C", "zone_air_temperature_setpoint"),
    (r"(supply|sa|discharge|da).?(air)?.?(temp|tmp)(?!.*(sp|set))", "input", "°C",
     "supply_air_temperature"),
    (r"(outdoor|outside|oa).?(air)?.?(temp|tmp)", "input", "°C", "outdoor_temperature"),
    (r"co2(?!.*(sp|set))", "input", "ppm", "zone_co2"),
    (r"co2.*(sp|set)", "setpoint", "ppm", "co2_setpoint"),
    (r"(humidity|rh)", "input", "%", "zone_relative_humidity"),
    (r"(occupancy|occupied|presence)", "input", None, "occupancy"),
    (r"fan.*(speed|cmd)", "setpoint", "%", "fan_speed"),
)  # fmt: skip


@dataclass
class ObjectInfo:
    """What discovery learnt about one object of a device."""

    type: str
    instance: int
    name: str = ""
    units: str | None = None  # the BACnet engineering unit name
    commandable: bool = False  # it has a priority array
    states: list[str] = field(default_factory=list)  # multi-state state texts
    description: str = ""


def unit_of(engineering: str | None) -> str | None:
    """Return smartbuild's unit of a BACnet engineering unit (unknown ones keep their name)."""
    if engineering is None:
        return None
    unit = UNITS.get(engineering, engineering)
    return unit or None


def role_of(obj: ObjectInfo) -> str | None:
    """Return a role when the object's name, type and unit make it clear, else None."""
    name = obj.name.lower().replace("_", "-")
    writable = obj.commandable or obj.type in ALWAYS_COMMANDABLE
    kind = "setpoint" if writable else "input"
    unit = unit_of(obj.units)
    if obj.type in BINARY:
        return (
            "occupancy"
            if re.search(r"(occupancy|occupied|presence)", name) and not writable
            else None
        )
    matches = [
        role for pattern, want, want_unit, role in _ROLE_RULES
        if re.search(pattern, name) and want == kind and (want_unit is None or want_unit == unit)
    ]  # fmt: skip
    return matches[0] if matches else None


def point_name(obj: ObjectInfo, taken: set[str]) -> str:
    """Return a point name from the object name (type-instance when it has none), unique."""
    base = re.sub(r"[^a-z0-9]+", "_", obj.name.lower()).strip("_")[:60]
    if not base or not base[0].isalpha():
        base = f"{obj.type.replace('-', '_')}_{obj.instance}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def slug(*parts: Any) -> str:
    """Return a template name from vendor and model (lowercase, dashes)."""
    text = "-".join(str(p) for p in parts if p)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:70] or "bacnet-device"


def generate_template(identity: dict[str, Any], objects: list[ObjectInfo]) -> dict[str, Any]:
    """Return a template document (to dump as YAML) for a device and its objects."""
    vendor, model = identity.get("vendor"), identity.get("model")
    name = "bacnet-" + slug(vendor, model) if model else f"bacnet-device-{identity.get('instance')}"
    points: dict[str, Any] = {}
    taken: set[str] = set()
    for obj in objects:
        if obj.type not in OBJECT_TYPES:
            continue
        entry: dict[str, Any] = {"object": f"{obj.type},{obj.instance}"}
        unit = unit_of(obj.units)
        if unit:
            entry["unit"] = unit
        role = role_of(obj)
        if role:
            entry["role"] = role
        if obj.commandable or obj.type in ALWAYS_COMMANDABLE:
            entry["writable"] = True
            if obj.type not in ALWAYS_COMMANDABLE:
                entry["commandable"] = True
        if obj.states:
            entry["enum"] = {i + 1: text for i, text in enumerate(obj.states)}
        if obj.description:
            entry["description"] = obj.description
        points[point_name(obj, taken)] = entry
    rules: dict[str, Any] = {}
    if vendor:
        rules["vendor_name"] = "^" + re.escape(str(vendor)) + "$"
    if model:
        rules["model_name"] = "^" + re.escape(str(model)) + "$"
    doc: dict[str, Any] = {
        "template": name,
        "title": " ".join(str(p) for p in (vendor, model) if p) or name,
        "transport": "bacnet",
        "source": f"generated by smartbuild from the object list of device {identity.get('instance')}",
    }
    if vendor:
        doc["vendor"] = str(vendor)
    if model:
        doc["model"] = str(model)
    if rules:
        doc["identify"] = {"bacnet": rules}
    doc["defaults"] = {"priority": 16}
    doc["points"] = points
    return doc
