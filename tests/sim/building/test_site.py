"""Tests of the simulated building: templates served by role, the point map, the physics binding."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from smartbuild.config.schema import DeviceSpec, Template
from smartbuild.errors import UsageError
from smartbuild.sim.building.site import (
    SLOTS,
    SimBuilding,
    choose_template,
    modbus_templates,
    zone_layout,
)
from smartbuild.sim.peers.pointmap import PointMap
from smartbuild.transports.base import Device
from smartbuild.transports.modbus import codec as modbus_codec
from smartbuild.transports.modbus.family import match_modbus
from smartbuild.transports.modbus.transport import _apply_sf, decode_point

TEMPLATES = modbus_templates()
MODBUS = {n: t for n, t in TEMPLATES.items() if t.transport == "modbus"}
MORNING = dt.datetime(2026, 1, 15, 10, 0)  # a Thursday in January: occupied, heating


def client_value(template: Template, tables: dict[str, dict[int, Any]], name: str) -> Any:
    """Decode a point from register tables exactly as smartbuild's Modbus transport does."""
    device = Device(
        "d", DeviceSpec(template=template.template, transport="modbus-tcp", address="x"), template
    )
    point = template.points[name]
    address = template.pdu_address(point)
    words = [tables[point.table].get(address + i, 0) for i in range(point.register_count())]
    value, _, _ = decode_point(device, name, words)
    if point.sf:
        exponent, _, _ = decode_point(
            device, point.sf, [tables["holding"][template.pdu_address(template.points[point.sf])]]
        )
        value = _apply_sf(value, point.scale, point.offset, int(exponent))
    return value


@pytest.fixture(scope="module")
def building() -> SimBuilding:
    return SimBuilding.create(4, start=MORNING, templates=TEMPLATES)


@pytest.mark.parametrize("name", sorted(MODBUS))
def test_every_modbus_template_is_served_as_the_client_decodes_it(
    name: str, building: SimBuilding
) -> None:
    template = MODBUS[name]
    dev = next((d for d in building.devices if d.template.template == name), None)
    if dev is None:  # not part of the building: serve it with the binding anyway
        from smartbuild.sim.building.binding import SimDevice

        dev = SimDevice("extra", template, "modbus-tcp", "x:1", 1, zone="z01")
    values = building.values(dev)
    pm = PointMap(template)
    tables = pm.tables(values)
    for point_name, spec in template.points.items():
        if point_name in pm.scale_factors:
            continue  # chosen by the map itself; checked through the points they scale
        expected, got = values[point_name], client_value(template, tables, point_name)
        if spec.type == "string":
            assert got == expected, point_name
        elif spec.sf is None and isinstance(expected, float):
            assert got == pytest.approx(expected, abs=abs(spec.scale) / 2 + 1e-3 * abs(expected)), (
                point_name
            )
        else:
            assert got == pytest.approx(expected, rel=1e-3, abs=abs(spec.scale)), point_name


def test_sunspec_chain_is_rebuilt_from_the_points_and_found_by_discovery(
    building: SimBuilding,
) -> None:
    from smartbuild.aio import run_sync
    from smartbuild.transports.modbus.sunspec import detect

    pm = PointMap(MODBUS["sunspec-inverter"])
    assert pm.chain == [(40002, 1, 66), (40070, 103, 50), (40122, 123, 24)]
    tables = pm.tables(building.values(building.device("pv-inverter")))
    holding = tables["holding"]
    assert (holding[40000], holding[40001]) == (0x5375, 0x6E53)
    assert holding[40148] == 0xFFFF

    low, high = min(holding), max(holding)

    async def read(address: int, count: int) -> list[int] | None:
        # as the server: every address between the lowest and highest point, gaps read 0
        if address < low or address + count - 1 > high:
            return None
        return [int(holding.get(a, 0)) for a in range(address, address + count)]

    found = run_sync(detect(read))
    assert found is not None
    assert found["models"] == [1, 103, 123]
    assert found["manufacturer"] == "smartbuild"
    assert PointMap(MODBUS["sunspec-meter"]).chain == [(40002, 1, 66), (40070, 203, 105)]


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, t in MODBUS.items()
        if t.identify and t.identify.modbus and t.identify.modbus.vendor_name
    ),
)
def test_fc43_identity_satisfies_the_templates_own_rules(name: str) -> None:
    template = MODBUS[name]
    objects = PointMap(template).identity()
    assert objects is not None
    seen = {"vendor_name": objects["VendorName"], "product_code": objects["ProductCode"],
            "revision": objects["MajorMinorRevision"], "product_name": objects["ProductName"]}  # fmt: skip
    assert template.identify is not None and template.identify.modbus is not None
    assert match_modbus(template.identify.modbus, seen, name)


def test_slots_are_filled_by_role(building: SimBuilding) -> None:
    chosen = {s.prefix: choose_template(s, MODBUS) for s in SLOTS}
    assert {k: t.template for k, t in chosen.items() if t} == {
        "th": "acme-th200", "co2": "acme-co2-100", "meter": "eastron-sdm630", "heat-pump": "acme-hp-50",
        "ahu": "acme-ahu-20", "ev-charger": "acme-evc-22", "pv-inverter": "sunspec-inverter",
    }  # fmt: skip
    kinds = {d.id: d.kind for d in building.devices}
    assert kinds["meter"] == "meter" and kinds["pv-inverter"] == "pv" and kinds["th-z01"] == "zone"
    gateway_units = sorted(d.unit or 0 for d in building.devices if d.address == building.gateway)
    assert gateway_units == [1, 2, 3]
    assert len({d.address for d in building.devices if d.zone}) == 2 * len(building.zones) + 1
    assert {d.id: d.zone for d in building.devices}["ev-charger"] == "parking"


NEW_THERMOSTAT = """
template: other-stat
title: Another vendor's room thermostat
vendor: Other
model: OS-9
transport: modbus
identify:
  modbus: {vendor_name: "^Other", product_code: "^OS-9"}
defaults: {address_base: modicon, word_order: CDAB}
points:
  temp: {table: input, address: 30101, type: float32, unit: "°C", role: zone_air_temperature}
  heat_sp: {table: holding, address: 40201, type: uint16, scale: 0.5, unit: "°C", role: heating_setpoint, writable: true, min: 10, max: 28}
  cool_sp: {table: holding, address: 40202, type: float32, word_order: DCBA, unit: "°C", role: cooling_setpoint, writable: true, min: 18, max: 32}
  mode: {table: holding, address: 40210, bit: 3, role: occupancy}
  status: {table: holding, address: 40210, bit: 5, description: a flag sharing the register}
"""


def test_a_new_template_with_known_roles_just_works(tmp_path: Path) -> None:
    from smartbuild.services.registry import load_template_file as load_template

    path = tmp_path / "other-stat.yaml"
    path.write_text(NEW_THERMOSTAT)
    other = load_template(path)
    templates = {n: t for n, t in MODBUS.items() if n != "acme-th200"} | {"other-stat": other}
    b = SimBuilding.create(2, start=MORNING, templates=templates)
    dev = b.device("th-z02")
    assert dev.template.template == "other-stat"
    pm = b.point_map(dev)
    tables = b.tables(dev)
    zone = b.physics.zones["z02"]
    assert client_value(other, tables, "temp") == pytest.approx(zone.temperature_c, abs=1e-4)
    assert client_value(other, tables, "heat_sp") == zone.heating_setpoint_c
    assert client_value(other, tables, "mode") is (zone.occupants >= 0.5)
    # a client writes 18.5 °C the way smartbuild's transport encodes it (PDU 200, uint16 x 0.5)
    written = {t: dict(v) for t, v in tables.items()}
    written["holding"][200] = modbus_codec.encode(18.5, "UINT16", "CDAB", 0.5)[0]
    changed = pm.changed_writes(tables, written)
    assert changed == {"heat_sp": 18.5}
    assert b.write(dev, changed) == []
    assert zone.heating_setpoint_c == 18.5
    assert client_value(other, b.tables(dev), "heat_sp") == 18.5


def test_writes_reach_the_physics_or_are_refused() -> None:
    b = SimBuilding.create(3, start=MORNING, templates=TEMPLATES)
    plant, zones = b.plant, b.physics.zones
    ahu, ev, pv, hp = (b.device(n) for n in ("ahu", "ev-charger", "pv-inverter", "heat-pump"))
    assert b.write(ahu, {"ventilation_mode": 0}) == []
    plant.apply_controls()
    assert {int(z.ventilation) for z in zones.values()} == {0}
    assert b.write(ev, {"current_limit": 16.0}) == []
    assert b.physics.ev_current_limit_a == 16.0
    refused = b.write(ev, {"current_limit": 3.0})  # IEC 61851-1: 0 or at least 6 A
    assert len(refused) == 1 and "not allowed" in refused[0]
    assert b.values(ev)["current_limit"] == 16.0
    assert b.write(th := b.device("th-z01"), {"heating_setpoint": 40.0})  # above the template max
    assert b.values(th)["heating_setpoint"] == 21.0
    assert b.write(pv, {"WMaxLimPct": 50.0}) == []
    assert b.physics.pv_limit_kw == pytest.approx(b.physics.site.pv_kwp / 2)
    assert b.write(hp, {"enable": False}) == []
    b.advance(600)
    assert b.values(hp)["power"] == 0.0
    assert all(z.hvac_electric_w == 0 for z in zones.values())
    assert b.write(hp, {"flow_setpoint": 42.0}) == []  # a parameter the physics keeps as set
    assert b.values(hp)["flow_setpoint"] == 42.0


def test_co2_setpoint_drives_demand_controlled_ventilation() -> None:
    b = SimBuilding.create(1, start=MORNING, templates=TEMPLATES)
    zone = b.physics.zones["z01"]
    co2 = b.device("co2-z01")
    b.write(co2, {"co2_setpoint": 400.0})  # below any occupied room: the AHU must boost
    b.advance(60)
    assert int(zone.ventilation) == 2
    b.write(co2, {"co2_setpoint": 2000.0})
    b.write(b.device("ahu"), {"co2_setpoint": 2000.0})
    b.advance(60)
    assert int(zone.ventilation) == 1


def test_temperature_follows_a_written_setpoint() -> None:
    b = SimBuilding.create(2, start=MORNING, templates=TEMPLATES)
    zone = b.physics.zones["z01"]
    before = zone.temperature_c
    b.write(b.device("th-z01"), {"heating_setpoint": 26.0})
    b.advance(3600)
    assert zone.temperature_c > before + 1.0
    assert b.physics.zones["z02"].temperature_c < before + 0.5


def test_zone_layout_and_bad_counts() -> None:
    zones = zone_layout(20)
    assert len({z.id for z in zones}) == 20 and zones[0].id == "z01" and zones[-1].floor == 2
    assert all("office" in z.tags for z in zones) and sum("meeting" in z.tags for z in zones) == 5
    for bad in (0, -3, 1001):
        with pytest.raises(UsageError, match="--zones must be between 1 and 1000"):
            zone_layout(bad)
    with pytest.raises(UsageError, match="unknown zone kind"):
        zone_layout(3, "factory")


def test_site_file_validates_with_zones_and_devices(tmp_path: Path, building: SimBuilding) -> None:
    from smartbuild.config.site import load_site
    from smartbuild.services.plugins import get_plugin_manager
    from smartbuild.services.registry import build_registry

    path = tmp_path / "site.yaml"
    path.write_text(building.site_yaml([("ble-x", {"template": "bthome-sensor", "transport": "ble",
                                                   "address": "5A:0B:51:00:00:01", "zone": "z02"})]))  # fmt: skip
    loaded = load_site(path, build_registry(get_plugin_manager()))
    site = loaded.site
    assert list(site.zones) == ["z01", "z02", "z03", "z04", "parking"]
    assert (
        site.zones["parking"].tags == ["parking"] and site.devices["ev-charger"].zone == "parking"
    )
    assert site.zones["z01"].area_m2 == 60 and site.zones["z04"].tags == ["office", "meeting"]
    assert len(site.devices) == len(building.devices) + 1
    assert site.devices["th-z03"].zone == "z03" and site.devices["ahu"].unit == 3
    assert site.devices["ahu"].serves == ["z01", "z02", "z03", "z04"]
    assert site.devices["ble-x"].zone == "z02"


def test_point_states_feed_the_planner(building: SimBuilding) -> None:
    from smartbuild.profiles.loading import load_profile, resolve_profile
    from smartbuild.profiles.planner import plan_profile

    profile = load_profile(resolve_profile("office-en16798-cat2"))
    states = building.point_states(set(profile.roles()))
    assert {s.role for s in states} >= {"heating_setpoint", "cooling_setpoint", "co2_setpoint"}
    plan = plan_profile(profile, building.zone_infos(), states, tz="Europe/Berlin", at=MORNING)
    changed = {(a.device, a.point, a.target) for a in plan.changes()}
    assert ("th-z01", "heating_setpoint", 20.5) in changed
    assert ("co2-z04", "co2_setpoint", 1220.0) in changed
    # the air-handling unit serves every zone: planned once, for all of them
    (vent,) = [a for a in plan.actions if a.role == "ventilation_mode"]
    assert (vent.device, vent.serves, vent.zone) == ("ahu", ("z01", "z02", "z03", "z04"), "z01 +3")
    assert (vent.current, vent.target, vent.status) == (1.0, 1.0, "skip-unchanged")
    assert not [w for w in plan.warnings if "no point for" in w]
    night = plan_profile(profile, building.zone_infos(), states, tz="Europe/Berlin",
                         at=MORNING.replace(hour=22))  # fmt: skip
    assert ("ahu", "ventilation_mode", 0.0) in {
        (a.device, a.point, a.target) for a in night.changes()
    }
