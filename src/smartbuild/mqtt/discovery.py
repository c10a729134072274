"""Home Assistant MQTT discovery, device based: one retained config per device (pure, no I/O).

``homeassistant/device/<id>/config`` carries ``dev`` (the device), ``o`` (origin: smartbuild)
and ``cmps`` (one component per point, keyed by point). A point becomes a component by what it
means: a writable setpoint a ``number`` (min, max and step from the template), a writable switch
a ``switch``, a writable enum a ``select``, a window or leak contact a ``binary_sensor``, any
other measurement a ``sensor`` with its device class, unit and state class. Every component
is available while both the hub (``<site>/status``) and its device (``…/availability``) are.
An empty retained config removes the device and its entities from Home Assistant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartbuild.mqtt.topics import Topics, ha_id

if TYPE_CHECKING:
    from smartbuild.config.schema import PointSpec
    from smartbuild.model.device import Device

ORIGIN = "smartbuild"

# role -> (sensor device class, state class)
_SENSOR_ROLES: dict[str, tuple[str | None, str | None]] = {
    "zone_air_temperature": ("temperature", "measurement"),
    "outdoor_temperature": ("temperature", "measurement"),
    "outdoor_running_mean_temperature": ("temperature", "measurement"),
    "supply_air_temperature": ("temperature", "measurement"),
    "zone_relative_humidity": ("humidity", "measurement"),
    "zone_co2": ("carbon_dioxide", "measurement"),
    "battery": ("battery", "measurement"),
    "battery_state_of_charge": ("battery", "measurement"),
    "illuminance": ("illuminance", "measurement"),
    "energy_import_total": ("energy", "total_increasing"),
    "energy_export_total": ("energy", "total_increasing"),
}
# unit -> (device class, state class) when the role says nothing more precise
_SENSOR_UNITS: dict[str, tuple[str, str]] = {
    "°C": ("temperature", "measurement"),
    "°F": ("temperature", "measurement"),
    "W": ("power", "measurement"),
    "kW": ("power", "measurement"),
    "Wh": ("energy", "total_increasing"),
    "kWh": ("energy", "total_increasing"),
    "A": ("current", "measurement"),
    "V": ("voltage", "measurement"),
    "Hz": ("frequency", "measurement"),
    "lx": ("illuminance", "measurement"),
    "m³": ("water", "total_increasing"),
    "L": ("water", "total_increasing"),
    "m³/h": ("volume_flow_rate", "measurement"),
    "L/min": ("volume_flow_rate", "measurement"),
}
# number device classes Home Assistant knows, by unit (a setpoint in °C is a temperature)
_NUMBER_UNITS = {"°C": "temperature", "°F": "temperature", "kW": "power", "W": "power",
                 "A": "current", "V": "voltage", "ppm": "carbon_dioxide"}  # fmt: skip
_BINARY_ROLES = {"window_open": "window", "occupancy": "occupancy"}


@dataclass(frozen=True)
class DiscoveryOptions:
    """What a config depends on beyond the device: where, which version, may HA command it."""

    topics: Topics
    prefix: str = "homeassistant"
    version: str = ""
    commands: bool = False


def device_object_id(site: str, device: str) -> str:
    """Return the device's discovery object id (also its identifier in Home Assistant)."""
    return ha_id("smartbuild", site, device)


def config_topic(options: DiscoveryOptions, device: str) -> str:
    """Return the retained discovery topic of a device."""
    return f"{options.prefix}/device/{device_object_id(options.topics.site, device)}/config"


def _label(name: str, point: PointSpec) -> str:
    return name.replace("_", " ").strip().capitalize() or name


def binary_class(name: str, point: PointSpec) -> str | None:
    """Return the binary_sensor device class of a switch-like measurement (leak, window, ...)."""
    role = point.role or ""
    if role in _BINARY_ROLES:
        return _BINARY_ROLES[role]
    text = f"{role} {name}".lower()
    if "leak" in text or "burst" in text:
        return "moisture"
    if "alarm" in text or "fault" in text:
        return "problem"
    return None


def component(
    device: Device, name: str, options: DiscoveryOptions, *, step: float | None = None
) -> dict[str, Any]:
    """Return the discovery component of one point (``p`` is the Home Assistant platform)."""
    point = device.point(name)
    topics = options.topics
    base: dict[str, Any] = {
        "name": _label(name, point),
        "unique_id": ha_id("smartbuild", topics.site, device.id, name),
        "state_topic": topics.state(device.id, name),
    }
    kind = point.value_kind()
    writable = point.writable and options.commands
    command = {"command_topic": topics.set(device.id, name), "retain": False}
    if point.enum:
        labels = [str(label) for label in point.enum.values()]
        base |= {"value_template": "{{ value_json.text }}", "options": labels}
        if writable:
            return {"p": "select", **base, **command}
        return {"p": "sensor", **base, "device_class": "enum"}
    if kind == "bool" or point.role in ("switch", "ev_charger_enable", "heat_pump_enable"):
        if writable:
            return {"p": "switch", **base, **command, "value_template":
                    "{{ 'on' if value_json.value else 'off' }}", "state_on": "on",
                    "state_off": "off", "payload_on": "on", "payload_off": "off"}  # fmt: skip
        out = {"p": "binary_sensor", **base,
               "value_template": "{{ 'ON' if value_json.value else 'OFF' }}"}  # fmt: skip
        if (cls := binary_class(name, point)) is not None:
            out["device_class"] = cls
        return out
    base["value_template"] = "{{ value_json.value }}"
    if point.unit:
        base["unit_of_measurement"] = point.unit
    low, high = _bounds(point)
    if writable and low is not None and high is not None:
        out = {"p": "number", **base, **command, "min": low, "max": high,
               "step": max(step or point.step() or 0.01, 0.001), "mode": "box"}  # fmt: skip
        if point.unit in _NUMBER_UNITS and point.role != "fan_speed":
            out["device_class"] = _NUMBER_UNITS[point.unit]
        return out
    out = {"p": "sensor", **base}
    classes = _SENSOR_ROLES.get(point.role or "") or _SENSOR_UNITS.get(point.unit or "")
    if classes is not None:
        device_class, state_class = classes
        if device_class:
            out["device_class"] = device_class
        if state_class:
            out["state_class"] = state_class
    elif kind in ("number", "integer"):
        out["state_class"] = "measurement"
    return out


def _bounds(point: PointSpec) -> tuple[float | None, float | None]:
    """Return the template's bounds, else the role's plausible range (HA needs both for a number)."""
    from smartbuild.model.roles import PLAUSIBLE

    low, high = point.min, point.max
    if (low is None or high is None) and point.role in PLAUSIBLE:
        plausible = PLAUSIBLE[point.role]
        low = plausible[0] if low is None else low
        high = plausible[1] if high is None else high
    return low, high


def device_config(
    device: Device, options: DiscoveryOptions, *, zone_title: str | None = None
) -> dict[str, Any]:
    """Return the device-based discovery payload of one device (every point a component)."""
    template: Any = device.template
    object_id = device_object_id(options.topics.site, device.id)
    dev: dict[str, Any] = {"ids": [object_id], "name": device.spec.title or device.id,
                           "mf": template.vendor or "unknown",
                           "mdl": template.model or template.title}  # fmt: skip
    serial = device.spec.identity.get("serial") if device.spec.identity else None
    if serial:
        dev["sn"] = str(serial)
    if zone_title:
        dev["sa"] = zone_title
    origin = {"name": ORIGIN}
    if options.version:
        origin["sw"] = options.version
    components = {ha_id(name): component(device, name, options) for name in template.points}
    return {
        "dev": dev,
        "o": origin,
        "cmps": components,
        "availability": [
            {"topic": options.topics.status},
            {"topic": options.topics.availability(device.id)},
        ],
        "availability_mode": "all",
        "qos": 1,
    }


def is_ours(payload: dict[str, Any], topics: Topics) -> bool:
    """Return True when a retained discovery config was published by smartbuild for this site.

    Its ids carry the site, and every state topic lies under the site's own root: the ids of
    site ``hq`` are a prefix of those of site ``hq_2``, its topics are not.
    """
    origin = payload.get("o") or payload.get("origin") or {}
    dev = payload.get("dev") or payload.get("device") or {}
    ids = dev.get("ids") or dev.get("identifiers") or []
    ids = [ids] if isinstance(ids, str) else ids
    prefix = device_object_id(topics.site, "")
    states = state_topics(payload)
    return (
        origin.get("name") == ORIGIN
        and any(str(i).startswith(prefix) for i in ids)
        and bool(states)
        and all(t.startswith(f"{topics.root}/") for t in states)
    )


def state_topics(payload: dict[str, Any]) -> list[str]:
    """Return the state topics a discovery config names (cleared with the device)."""
    components = payload.get("cmps") or payload.get("components") or {}
    return sorted({c["state_topic"] for c in components.values()
                   if isinstance(c, dict) and isinstance(c.get("state_topic"), str)})  # fmt: skip
