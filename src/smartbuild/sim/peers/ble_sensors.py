"""The simulated building's BLE sensors: adverts and GATT values that follow the physics.

Three sensors, each in a zone: a BTHome v2 thermo-hygrometer, a Sensirion-style CO2 sensor
(manufacturer data of the Sensirion BLE gadget format) and the connectable SB-TH1 room sensor
of :func:`smartbuild.sim.peers.bluez_devices.sensor_device`, whose setpoint characteristic is the
zone's heating setpoint. The zone owns that setpoint: a client's GATT write goes through the
plant's one setpoint path (as a Modbus write to the zone's thermostat does) and ``on_change``
tells the simulator to publish the zone's new value over Modbus before it answers another read.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartbuild.sim.peers.adverts import bthome_v2
from smartbuild.sim.peers.bluez_devices import (
    SETPOINT_CHAR_UUID,
    AttError,
    SimBleDevice,
    sensor_device,
)

if TYPE_CHECKING:
    from smartbuild.sim.building.site import SimBuilding
    from smartbuild.sim.peers.bluez import BlueZService

SENSIRION_COMPANY_ID = 0x06D5
ATT_VALUE_NOT_ALLOWED = 0x13  # Bluetooth Core Spec, ATT error "Value Not Allowed"
ADVERT_INTERVAL_S = 1.0
TEMPERATURE_UUID, HUMIDITY_UUID = "2a6e", "2a6f"


def sensirion_gadget(
    temperature: float, humidity: float, co2: int, device_id: int = 0x1234
) -> dict[int, bytes]:
    """Return Sensirion BLE gadget manufacturer data (advertisement type 0, sample type 8: T, RH, CO2).

    Layout from Sensirion's arduino-ble-gadget: T = raw/65535*175-45 °C, RH = raw/65535*100 %.
    """
    t_raw = round(min(max((temperature + 45) / 175, 0), 1) * 65535)
    rh_raw = round(min(max(humidity / 100, 0), 1) * 65535)
    ident = struct.pack(">H", device_id)
    return {
        SENSIRION_COMPANY_ID: bytes([0x00, 0x08]) + ident + struct.pack("<HHH", t_raw, rh_raw, co2)
    }


@dataclass
class BleSensor:
    """One simulated BLE sensor and the zone whose air it measures."""

    kind: str  # bthome, co2 or room
    address: str
    name: str
    zone: str


class BleSensors:
    """Keep the BLE sensors' adverts and characteristics in step with the building."""

    def __init__(self, building: SimBuilding, prefix: str = "5A:0B:51") -> None:
        self.building = building
        zones = [z.id for z in building.zones]
        specs = [("bthome", "SBH-T"), ("co2", "MyCO2"), ("room", "SB-TH1")]
        self.sensors = [
            BleSensor(kind, f"{prefix}:00:00:{i + 1:02X}", name, zones[i % len(zones)])
            for i, (kind, name) in enumerate(specs)
        ]
        self.service: BlueZService | None = None
        self.setpoint_writes = 0
        self.on_change: Callable[[str], None] = lambda zone: None  # a zone's setpoint moved

    def _zone(self, sensor: BleSensor) -> Any:
        return self.building.physics.zones[sensor.zone]

    def devices(self) -> list[SimBleDevice]:
        """Return the simulated BLE devices as they first advertise."""
        out = []
        for s in self.sensors:
            z = self._zone(s)
            if s.kind == "room":
                dev = sensor_device(s.address, name=s.name, temperature=z.temperature_c,
                                    humidity=z.humidity_pct, setpoint=z.heating_setpoint_c,
                                    interval_s=ADVERT_INTERVAL_S)  # fmt: skip
                for service in dev.gatt:
                    for char in service.characteristics:
                        if char.uuid == SETPOINT_CHAR_UUID:
                            char.on_write = self._on_setpoint(s)
                out.append(dev)
            else:
                out.append(SimBleDevice(s.address, name=s.name, interval_s=ADVERT_INTERVAL_S,
                                        **self._advert(s)))  # fmt: skip
        return out

    def _advert(self, s: BleSensor) -> dict[str, Any]:
        z = self._zone(s)
        if s.kind == "co2":
            data = sensirion_gadget(z.temperature_c, z.humidity_pct, round(z.co2_ppm))
            return {"manufacturer_data": data}
        advert = bthome_v2(temperature=round(z.temperature_c, 2), humidity=round(z.humidity_pct, 2),
                           battery=87, name=s.name)  # fmt: skip
        return {"service_data": dict(advert.service_data)}

    def _on_setpoint(self, sensor: BleSensor) -> Any:
        def write(data: bytes) -> bytes | None:
            if len(data) != 2:
                raise AttError(0x0D)  # invalid attribute value length, as the device would
            value = struct.unpack("<h", data)[0] / 100
            try:
                self.building.plant.set_zone_setpoint(sensor.zone, "heating_setpoint", value)
            except Exception:
                raise AttError(ATT_VALUE_NOT_ALLOWED) from None
            self.setpoint_writes += 1
            self.on_change(sensor.zone)
            return None

        return write

    def update(self) -> None:
        """Send the current physics values with the sensors' next adverts and notifications."""
        service = self.service
        if service is None:
            return
        for s in self.sensors:
            if s.address not in service.devices:
                continue
            z = self._zone(s)
            advert = self._advert(s)
            service.update_advert(s.address, service_data=advert.get("service_data"),
                                  manufacturer_data=advert.get("manufacturer_data"))  # fmt: skip
            if s.kind == "room":
                service.set_char_value(s.address, TEMPERATURE_UUID,
                                       struct.pack("<h", round(z.temperature_c * 100)))  # fmt: skip
                service.set_char_value(s.address, HUMIDITY_UUID,
                                       struct.pack("<H", round(z.humidity_pct * 100)))  # fmt: skip
        self.refresh_setpoints()

    def refresh_setpoints(self, zone: str | None = None) -> None:
        """Show the zones' current setpoints in the room sensors' characteristics (all or one zone)."""
        service = self.service
        if service is None:
            return
        for s in self.sensors:
            if s.kind != "room" or s.address not in service.devices or zone not in (None, s.zone):
                continue
            setpoint = struct.pack("<h", round(self._zone(s).heating_setpoint_c * 100))
            current = next(c.value for sv in service.devices[s.address].gatt
                           for c in sv.characteristics if c.uuid == SETPOINT_CHAR_UUID)  # fmt: skip
            if current != setpoint:  # a Modbus write moved the same zone's setpoint
                service.set_char_value(s.address, SETPOINT_CHAR_UUID, setpoint)

    def site_entries(self, templates: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Return site-file entries of the sensors a registered BLE template identifies."""
        match = _identifier(templates)
        if match is None:
            return []
        entries = []
        for dev, s in zip(self.devices(), self.sensors, strict=True):
            template = match(dev)
            if template is None:
                continue
            entries.append((f"ble-{s.kind}-{s.zone}", {
                "template": template, "transport": "ble", "address": s.address, "zone": s.zone,
                "title": f"{s.name} BLE sensor",
            }))  # fmt: skip
        return entries


def _identifier(templates: Mapping[str, Any]) -> Any:
    """Return a function naming the template discovery would match, or None without BLE support."""
    try:
        from smartbuild.services.identify import identify_device
        from smartbuild.transports.ble.decode import AdvertData, decode_advert, decoders_from_env
        from smartbuild.transports.ble.discovery import make_candidate
    except ImportError:  # the BLE transport is not part of this installation
        return None
    decoders = decoders_from_env()
    ble = {n: t for n, t in templates.items() if t.transport == "ble"}

    def match(dev: SimBleDevice) -> str | None:
        # BlueZ lists service-data UUIDs among the service UUIDs; discovery sees them so
        uuids = tuple(dict.fromkeys([*dev.service_uuids, *dev.service_data]))
        advert = AdvertData(dev.address, dev.name, dev.rssi, dict(dev.manufacturer_data),
                            dict(dev.service_data), uuids)  # fmt: skip
        candidate = make_candidate(advert, decode_advert(advert, decoders))
        found = identify_device(candidate=candidate, templates=ble)
        return found[0] if found else None

    return match
