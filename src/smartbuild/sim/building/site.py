"""The simulated building: zones, the devices that serve them, the physics, the site file.

Devices are chosen from the registered templates by the roles of their points (a template
that has a zone temperature and a heating setpoint can be a room thermostat), so a new template
with known roles can stand in for a shipped one. Every zone gets a room thermostat and a CO2
sensor; the site gets a three-phase meter, a heat pump and an air-handling unit behind one
Modbus gateway (an RS-485 bus: several unit ids, exception 0x0B for absent ones), an EV charger
and a PV inverter. ``SimBuilding`` advances the physics and hands each device's point values to
whoever serves them (``sim.serve``) or plans with them (``smartbuild kpi``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from smartbuild.errors import UsageError
from smartbuild.sim.building.binding import Plant, SimDevice
from smartbuild.sim.building.physics import (
    KINDS,
    Building,
    Climate,
    SiteSpec,
    ZoneModel,
    ZoneParams,
    ZoneSpec,
)

if TYPE_CHECKING:
    from smartbuild.profiles.planner import PointState, ZoneInfo
    from smartbuild.sim.peers.pointmap import PointMap, Tables
    from smartbuild.transports.modbus.schema import ModbusTemplate as Template

MAX_ZONES = 1000
ZONES_PER_FLOOR = 8
DEFAULT_TZ = "Europe/Berlin"
WARMUP_S = 6 * 3600.0  # settle temperatures and CO2 before anyone reads them
STEP_S = 900.0


@dataclass(frozen=True)
class Slot:
    """A place for a device in the building and the roles a template needs to fill it."""

    name: str
    prefix: str  # device id, or id prefix for per-zone devices
    needs: frozenset[str]
    likes: frozenset[str] = frozenset()
    prefer: str = ""  # the shipped template that wins a tie
    per_zone: bool = False
    unit: int | None = None  # unit id behind the gateway; None = a TCP device of its own


# device id, template, unit behind the gateway, title: the water devices of `sim --water`
WATER_DEVICES = (
    ("water-meter", "dynaflox-ultrad", 4, "water meter"),
    ("water-valve", "belimo-uk24mod", 5, "shut-off valve"),
    ("leak-detector", "rle-ld5000", 6, "leak detection controller"),
)
PARKING = "parking"  # a zone without a thermal model: the car park with the EV chargers


def _slot(name: str, prefix: str, needs: str, likes: str = "", prefer: str = "", **kw: Any) -> Slot:
    return Slot(name, prefix, frozenset(needs.split()), frozenset(likes.split()), prefer, **kw)


SLOTS: tuple[Slot, ...] = (
    _slot("room thermostat", "th", "zone_air_temperature heating_setpoint",
          "cooling_setpoint hvac_mode occupancy", "acme-th200", per_zone=True),
    _slot("CO2 sensor", "co2", "zone_co2", "zone_air_temperature zone_relative_humidity co2_setpoint",
          "acme-co2-100", per_zone=True),
    _slot("energy meter", "meter", "site_active_power",
          "energy_import_total energy_export_total", "eastron-sdm630", unit=1),
    _slot("heat pump", "heat-pump", "heat_pump_power",
          "heat_pump_enable heat_pump_flow_setpoint outdoor_temperature", "acme-hp-50", unit=2),
    _slot("air-handling unit", "ahu", "ventilation_mode", "fan_speed co2_setpoint",
          "acme-ahu-20", unit=3),
    _slot("EV charger", "ev-charger", "ev_charger_current_limit",
          "ev_charger_enable ev_charger_power", "acme-evc-22"),
    _slot("PV inverter", "pv-inverter", "pv_active_power", "pv_power_limit", "sunspec-inverter"),
)  # fmt: skip


def choose_template(slot: Slot, templates: Mapping[str, Template]) -> Template | None:
    """Return the Modbus template that fits a slot best by its roles (None if none has them)."""
    fits: list[tuple[int, bool, str, Template]] = []
    for name, t in templates.items():
        if t.transport != "modbus" or t.identify is None or t.identify.modbus is None:
            continue  # the simulator serves only what discovery can identify
        roles = {p.role for p in t.points.values() if p.role}
        if slot.needs <= roles:
            fits.append((len(slot.likes & roles), name == slot.prefer, name, t))
    if not fits:
        return None
    fits.sort(key=lambda f: (-f[0], not f[1], f[2]))
    return fits[0][3]


@dataclass(frozen=True)
class SimZone:
    """A zone of the simulated building."""

    id: str
    title: str
    floor: int
    area_m2: float
    kind: str
    tags: tuple[str, ...]


def zone_layout(count: int, kind: str = "office") -> list[SimZone]:
    """Return ``count`` zones of a kind, eight per floor, 60-140 m² each."""
    if not 1 <= count <= MAX_ZONES:
        raise UsageError(
            f"--zones must be between 1 and {MAX_ZONES}, got {count}",
            hint="a building of 12 zones shows everything; 500 is the benchmark size",
        )
    if kind not in KINDS:
        raise UsageError(f"unknown zone kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    width = max(2, len(str(count)))
    zones = []
    for i in range(count):
        floor, room = divmod(i, ZONES_PER_FLOOR)
        tags = (kind, "meeting") if kind == "office" and room % 4 == 3 else (kind,)
        area = 60.0 + 10.0 * (i * 37 % 9)
        title = f"{kind.capitalize()} {floor}.{room + 1:02d}"
        zones.append(SimZone(f"z{i + 1:0{width}d}", title, floor, area, kind, tags))
    return zones


def modbus_templates(templates: Mapping[str, Any] | None = None) -> dict[str, Template]:
    """Return the registered templates (from every loaded plugin), or the given ones."""
    if templates is not None:
        return {n: getattr(t, "value", t) for n, t in templates.items()}
    from smartbuild.services.registry import builtin_registry

    every = builtin_registry().template_values()
    return {n: t for n, t in every.items() if t.transport == "modbus"}  # type: ignore[misc]


@dataclass
class SimBuilding:
    """Zones, devices and the physics of the simulated building at simulated time ``now``."""

    zones: list[SimZone]
    devices: list[SimDevice]
    plant: Plant
    now: dt.datetime
    missing: list[str] = field(default_factory=list)  # slots no template could fill
    gateway: str | None = None  # host:port of the Modbus gateway in front of the RS-485 bus
    _maps: dict[str, PointMap] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        zones: int | Sequence[SimZone] = 12,
        *,
        kind: str = "office",
        hosts: Sequence[str] = (),
        port: int = 5020,
        start: dt.datetime | None = None,
        templates: Mapping[str, Any] | None = None,
        choose: Mapping[str, str] | None = None,
        seed: int | None = 0,
        warmup_s: float = WARMUP_S,
        water: Any = None,
    ) -> SimBuilding:
        """Lay out zones and devices, choose templates by role and settle the physics.

        ``hosts`` are the loopback addresses of the TCP devices (gateway first; none: no
        addresses, as for KPI runs); ``choose`` maps slot prefixes to template names. ``water``
        (a ``WaterModel``) adds a water meter, a shut-off valve and a leak detector to the bus.
        """
        layout = zone_layout(zones, kind) if isinstance(zones, int) else list(zones)
        table = modbus_templates(templates)
        picked: dict[Slot, Template] = {}
        missing = []
        for slot in SLOTS:
            name = (choose or {}).get(slot.prefix)
            if name is not None and name not in table:
                raise UsageError(f"no template {name!r} for the {slot.name}")
            template = table[name] if name else choose_template(slot, table)
            if template is None:
                missing.append(f"{slot.name} (needs roles {', '.join(sorted(slot.needs))})")
            else:
                picked[slot] = template
        tcp = [s for s in picked if s.unit is None and not s.per_zone]
        bus = [s for s in picked if s.unit is not None]
        needed = (1 if bus else 0) + len(tcp) + 2 * len(layout)
        if hosts and len(hosts) < needed:
            raise UsageError(f"the simulator needs {needed} addresses, got {len(hosts)}")
        addresses = iter(hosts) if hosts else iter(f"sim-{i}" for i in range(needed))
        devices: list[SimDevice] = []
        gateway = f"{next(addresses)}:{port}" if bus else ""
        for slot in bus:
            title = f"{slot.name} (RS-485 unit {slot.unit} behind the gateway)"
            # the air-handling unit ventilates every zone (the binding applies its mode to all)
            serves = tuple(z.id for z in layout) if slot.prefix == "ahu" else ()
            devices.append(SimDevice(slot.prefix, picked[slot], "modbus-tcp", gateway, slot.unit,
                                     title=title, serves=serves))  # fmt: skip
        if water is not None and gateway:
            for prefix, name, unit, title in WATER_DEVICES:
                if name in table:
                    devices.append(SimDevice(prefix, table[name], "modbus-tcp", gateway, unit,
                                             title=f"{title} (RS-485 unit {unit})"))  # fmt: skip
        for slot in tcp:
            address = f"{next(addresses)}:{port}"
            # EV chargers stand in the car park, so parking profiles (peak shaving) select them
            place = PARKING if "ev_charger_current_limit" in slot.needs else None
            devices.append(SimDevice(slot.prefix, picked[slot], "modbus-tcp", address, 1, place,
                                     title=slot.name))  # fmt: skip
        for zone in layout:
            for slot in (s for s in picked if s.per_zone):
                address = f"{next(addresses)}:{port}"
                devices.append(SimDevice(f"{slot.prefix}-{zone.id}", picked[slot], "modbus-tcp",
                                         address, 1, zone.id, f"{slot.name} {zone.title}"))  # fmt: skip
        physics = _physics(layout, devices, seed)
        tz = _tz(DEFAULT_TZ)
        start = start or dt.datetime.now(tz)
        now = (start if start.tzinfo else start.replace(tzinfo=tz)).astimezone(tz)
        now = now.replace(microsecond=0)
        begin = now - dt.timedelta(seconds=warmup_s)
        building = cls(layout, devices, Plant(physics), begin, missing, gateway or None)
        physics.step(0, building.now)
        while building.now < now:
            building.advance(min(STEP_S, (now - building.now).total_seconds()))
        if water is not None:  # injected leaks and bursts start now, not in the warm-up
            water.now = building.now
            building.plant.water = water
        return building

    # ---- time ---------------------------------------------------------------------------

    @property
    def physics(self) -> Building:
        """Return the physics model."""
        return self.plant.physics

    def advance(self, dt_s: float) -> None:
        """Advance simulated time by ``dt_s`` seconds (any length; cut into physics steps)."""
        remaining = float(dt_s)
        while remaining > 1e-9:
            h = min(remaining, 3600.0)
            self.plant.apply_controls()
            self.now += dt.timedelta(seconds=h)
            self.physics.step(h, self.now)
            self.plant.after_step(h)
            if self.plant.water is not None:
                self.plant.water.advance(h, self.now)
            remaining -= h

    # ---- devices ------------------------------------------------------------------------

    def device(self, device_id: str) -> SimDevice:
        """Return a device by id."""
        for d in self.devices:
            if d.id == device_id:
                return d
        raise UsageError(f"the simulated building has no device {device_id!r}")

    def point_map(self, dev: SimDevice) -> PointMap:
        """Return the register map of a device's template (shared by devices of one template)."""
        from smartbuild.sim.peers.pointmap import PointMap

        name = dev.template.template
        if name not in self._maps:
            self._maps[name] = PointMap(dev.template)
        return self._maps[name]

    def values(self, dev: SimDevice) -> dict[str, Any]:
        """Return every point value of a device now (engineering units)."""
        return {name: self.plant.value(dev, name) for name in dev.template.points}

    def tables(self, dev: SimDevice) -> Tables:
        """Return the device's register tables now."""
        values = self.values(dev)
        rules = dev.template.identify.modbus if dev.template.identify else None
        probe = rules.probe if rules else None
        if probe is not None and isinstance(values.get(probe.point), (int, float)):
            # whatever the physics says, the identification probe must hold (a real meter's does)
            v = float(values[probe.point])
            lo = probe.min if probe.min is not None else v
            hi = probe.max if probe.max is not None else v
            values[probe.point] = probe.equals if probe.equals is not None else min(max(v, lo), hi)
        return self.point_map(dev).tables(values)

    def write(self, dev: SimDevice, changed: Mapping[str, Any]) -> list[str]:
        """Apply points a client wrote; return the refusals (the device keeps its old value)."""
        refused = []
        for name, value in changed.items():
            try:
                self.plant.write(dev, name, value)
            except (UsageError, ValueError) as error:
                refused.append(f"{dev.id}.{name} = {value}: {getattr(error, 'message', error)}")
        return refused

    # ---- profile planning without a network (smartbuild kpi) ----------------------------

    def zone_infos(self) -> list[ZoneInfo]:
        """Return the zones as the planner selects them."""
        from smartbuild.profiles.planner import ZoneInfo

        zones = [ZoneInfo(z.id, "main", z.floor, z.tags, z.area_m2) for z in self.zones]
        if any(d.zone == PARKING for d in self.devices):
            zones.append(ZoneInfo(PARKING, "main", 0, ("parking",), None))
        return zones

    def point_states(self, roles: set[str] | frozenset[str]) -> list[PointState]:
        """Return the current state of every device point with one of ``roles``."""
        from smartbuild.profiles.planner import PointState

        out = []
        for dev in self.devices:
            for name, p in dev.template.points.items():
                if p.role in roles:
                    value = self.plant.value(dev, name)
                    out.append(PointState(
                        dev.id, name, p.role or "", dev.zone, p.unit, float(value), p.writable,
                        p.min, p.max, abs(p.scale) if p.scale != 1 else None,
                        dev.serves,
                    ))  # fmt: skip
        return out

    # ---- the site file ------------------------------------------------------------------

    def site_yaml(
        self, extra: Sequence[tuple[str, dict[str, Any]]] = (), *, name: str = "sim-building"
    ) -> str:
        """Return the site file of the building: zones and every device with its zone."""
        floors = sorted({z.floor for z in self.zones})
        lines = [
            f"# The simulated building of `smartbuild sim`, written {dt.datetime.now():%Y-%m-%d %H:%M}.",
            "# Its devices answer while the simulator runs; check it with `smartbuild validate`.",
            f"site: {name}",
            f"title: Simulated {self.zones[0].kind} building ({len(self.zones)} zones)",
            f"timezone: {DEFAULT_TZ}",
            "buildings:",
            f"  main: {{title: Main building, floors: {json.dumps(floors)}}}",
            "zones:",
        ]
        for z in self.zones:
            tags = ", ".join(z.tags)
            lines.append(f"  {z.id}: {{title: {json.dumps(z.title)}, building: main, "
                         f"floor: {z.floor}, area_m2: {z.area_m2:g}, tags: [{tags}]}}")  # fmt: skip
        if any(d.zone == PARKING for d in self.devices):
            lines.append(
                f"  {PARKING}: {{title: Car park, building: main, floor: 0, tags: [parking]}}"
            )
        lines.append("devices:")
        entries = [(d.id, self.site_entry(d)) for d in self.devices]
        for dev_id, entry in [*entries, *extra]:
            body = ", ".join(f"{k}: {json.dumps(v)}" for k, v in entry.items())
            lines.append(f"  {dev_id}: {{{body}}}")
        return "\n".join(lines) + "\n"

    @staticmethod
    def site_entry(dev: SimDevice) -> dict[str, Any]:
        """Return the site-file entry of a device."""
        entry: dict[str, Any] = {"template": dev.template.template, "transport": dev.transport,
                                 "address": dev.address}  # fmt: skip
        if dev.unit is not None:
            entry["unit"] = dev.unit
        if dev.zone is not None:
            entry["zone"] = dev.zone
        if dev.serves:
            entry["serves"] = list(dev.serves)
        if dev.title:
            entry["title"] = dev.title
        return entry


def _tz(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _physics(layout: Sequence[SimZone], devices: Sequence[SimDevice], seed: int | None) -> Building:
    specs = [ZoneSpec(z.id, z.kind, z.area_m2) for z in layout]
    site = SiteSpec.for_zones(specs)
    ev = next((d for d in devices if d.kind == "ev"), None)
    if ev is None:
        site = replace(site, ev_charger=False)
    else:
        limit = next(
            (p for p in ev.template.points.values() if p.role == "ev_charger_current_limit"), None
        )
        if limit is not None and limit.max:
            # the charger's own maximum, so every current the template allows is accepted
            site = replace(site, ev_max_current_a=float(limit.max))
    if not any(d.kind == "pv" for d in devices):
        site = replace(site, pv_kwp=0.0)
    Building.from_zones(specs, seed, site=site)  # validates kinds, areas and ids
    models = []
    for i, spec in enumerate(specs):
        # rooms differ: glazing, sun and equipment vary by +-20 %, so zones drift apart
        f = [0.8 + 0.4 * ((i * k) % 97) / 96 for k in (31, 57, 73)]
        p = ZoneParams.for_spec(spec)
        p = replace(p, h_window_w_m2k=p.h_window_w_m2k * f[0], solar_aperture=p.solar_aperture * f[1],
                    plug_peak_w_m2=p.plug_peak_w_m2 * f[2])  # fmt: skip
        models.append(ZoneModel(spec, p))
    climate = Climate(noise_k=0.5 if seed is not None else 0.0, seed=seed or 0)
    return Building(models, site, climate)
