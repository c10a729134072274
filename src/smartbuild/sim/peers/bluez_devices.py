"""Simulated BLE devices: what they advertise and the GATT they serve (plain data).

:func:`sensor_device` builds a realistic connectable room sensor (BTHome v2 adverts,
Device Information, Battery and Environmental Sensing services, one writable
setpoint); :func:`demo_devices` builds many of them for the simulator.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from smartbuild.sim.peers.adverts import bthome_v2, normalize_uuid

# A vendor-specific service of the simulated sensors (random 128-bit UUIDs).
SETPOINT_SERVICE_UUID = "5b1d0000-6a3c-4f6e-9b8e-736d61727462"
SETPOINT_CHAR_UUID = "5b1d0001-6a3c-4f6e-9b8e-736d61727462"
ATT_INVALID_VALUE_LENGTH = 0x0D


class AttError(Exception):
    """Raise from an ``on_write`` callback to answer with an ATT error code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"ATT error {code:#04x}")
        self.code = code


@dataclass
class SimGattChar:
    """One characteristic of a simulated device; ``value`` keeps the device's state."""

    uuid: str
    value: bytes = b""
    flags: Sequence[str] = ("read",)
    # Called with the written bytes; returns the value to store (None: store as written).
    on_write: Callable[[bytes], bytes | None] | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        self.uuid = normalize_uuid(self.uuid)
        self.value = bytes(self.value)


@dataclass
class SimGattService:
    """One primary GATT service of a simulated device."""

    uuid: str
    characteristics: list[SimGattChar] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.uuid = normalize_uuid(self.uuid)


@dataclass
class SimBleDevice:
    """A simulated BLE peripheral: what it advertises and, if connectable, its GATT."""

    address: str
    name: str | None = None
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    service_data: dict[str, bytes] = field(default_factory=dict)
    service_uuids: list[str] = field(default_factory=list)
    rssi: int = -60
    tx_power: int | None = None
    interval_s: float = 0.1
    connectable: bool | None = None  # None: connectable when it has GATT services
    gatt: list[SimGattService] = field(default_factory=list)
    address_type: str = "public"

    def __post_init__(self) -> None:
        self.address = self.address.upper()
        if len(self.address.split(":")) != 6:
            raise ValueError(f"not a Bluetooth address: {self.address!r}")
        if self.interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.service_data = {normalize_uuid(k): bytes(v) for k, v in self.service_data.items()}
        self.manufacturer_data = {int(k): bytes(v) for k, v in self.manufacturer_data.items()}
        self.service_uuids = [normalize_uuid(u) for u in self.service_uuids]
        if self.connectable is None:
            self.connectable = bool(self.gatt)


def sensor_device(
    address: str,
    *,
    name: str | None = "SB-TH1",
    temperature: float = 21.5,
    humidity: float = 45.0,
    battery: int = 90,
    setpoint: float = 21.0,
    model: str = "SB-TH1",
    rssi: int = -60,
    interval_s: float = 0.1,
) -> SimBleDevice:
    """Return a connectable thermo-hygrometer with standard GATT services."""

    def check_setpoint(data: bytes) -> bytes | None:
        # Like a real device: refuse values of the wrong size with the ATT error.
        if len(data) != 2:
            raise AttError(ATT_INVALID_VALUE_LENGTH)
        return None

    advert = bthome_v2(temperature=temperature, humidity=humidity, battery=battery, name=name)
    return SimBleDevice(
        address,
        rssi=rssi,
        interval_s=interval_s,
        gatt=[
            SimGattService(
                "180a",
                [
                    SimGattChar("2a29", b"smartbuild"),
                    SimGattChar("2a24", model.encode()),
                    SimGattChar("2a26", b"1.0.0"),
                ],
            ),
            SimGattService("180f", [SimGattChar("2a19", bytes([battery]), ("read", "notify"))]),
            SimGattService(
                "181a",
                [
                    SimGattChar(
                        "2a6e", struct.pack("<h", round(temperature * 100)), ("read", "notify")
                    ),
                    SimGattChar(
                        "2a6f", struct.pack("<H", round(humidity * 100)), ("read", "notify")
                    ),
                ],
            ),
            SimGattService(
                SETPOINT_SERVICE_UUID,
                [
                    SimGattChar(
                        SETPOINT_CHAR_UUID,
                        struct.pack("<h", round(setpoint * 100)),
                        ("read", "write"),
                        on_write=check_setpoint,
                        description="Heating setpoint (0.01 degC)",
                    )
                ],
            ),
        ],
        **{k: v for k, v in advert.fields().items() if k != "service_uuids"},
    )


def demo_devices(count: int, *, interval_s: float = 1.0) -> list[SimBleDevice]:
    """Return ``count`` sensors with distinct addresses, names and readings."""
    if not 0 <= count <= 0xFFFF:
        raise ValueError("count must be between 0 and 65535")
    return [
        sensor_device(
            f"5A:0B:00:00:{i >> 8:02X}:{i & 0xFF:02X}",
            name=f"SB-TH1-{i:04d}",
            temperature=19.0 + (i * 37 % 60) / 10,
            humidity=35.0 + (i * 53 % 300) / 10,
            battery=100 - i % 40,
            rssi=-45 - i % 50,
            interval_s=interval_s,
        )
        for i in range(count)
    ]
