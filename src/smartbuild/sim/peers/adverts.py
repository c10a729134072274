"""Build realistic BLE advertisement payloads from published formats.

Pure functions, no I/O. Each builder returns an :class:`Advert` whose fields are
named like the properties BlueZ exposes (and like ``SimBleDevice`` arguments), so
``SimBleDevice(address, **advert.fields())`` advertises it. ``ad_bytes`` and
``hci_le_advertising_report`` give the on-air byte forms that decoders consume.

Byte layouts and their public sources:

* AD structures (length, type, data): Bluetooth Core Specification Supplement,
  part A; AD type numbers from the Bluetooth SIG "Assigned Numbers" document
  (0x01 Flags, 0x03 16-bit UUIDs, 0x07 128-bit UUIDs, 0x09 Complete Local Name,
  0x0A Tx Power Level, 0x16 Service Data 16-bit UUID, 0xFF Manufacturer Data).
* HCI LE Advertising Report event: Core Specification vol 4 part E 7.7.65.2.
* BTHome v2: https://bthome.io/format/ (service UUID 0xFCD2, device-info byte,
  object ids in ascending order, little-endian values).
* iBeacon: Apple "Proximity Beacon Specification" R1 (company 0x004C, 02 15,
  UUID, major and minor big-endian, measured power int8).
* Eddystone UID/URL: https://github.com/google/eddystone/blob/master/protocol-specification.md
  and ``eddystone-uid``/``eddystone-url`` in the same repository (service 0xFEAA).
* Xiaomi MiBeacon (unencrypted): Xiaomi IoT "BLE object definition"
  (https://iot.mi.com/new/doc/accesses/direct-access/embedded-development/ble/object-definition)
  as documented by https://custom-components.github.io/ble_monitor/ (service 0xFE95,
  frame control, product id, frame counter, reversed MAC, objects id/len/value).
* Govee H5075: manufacturer id 0xEC88, 3-byte big-endian packed temperature and
  humidity, then battery; reverse-engineered in
  https://github.com/Thrilleratplay/GoveeWatcher/issues/2 and
  https://github.com/wcbonner/GoveeBTTempLogger.
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BLUETOOTH_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"

BTHOME_UUID16 = 0xFCD2
EDDYSTONE_UUID16 = 0xFEAA
XIAOMI_UUID16 = 0xFE95
APPLE_COMPANY_ID = 0x004C
GOVEE_H5075_COMPANY_ID = 0xEC88

# "LE General Discoverable" + "BR/EDR not supported", what battery sensors send.
DEFAULT_FLAGS = 0x06

_EDDYSTONE_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
_EDDYSTONE_EXPANSIONS = (
    ".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
    ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov",
)  # fmt: skip


def uuid16(value: int) -> str:
    """Return the full 128-bit UUID string of a 16-bit Bluetooth SIG UUID."""
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"not a 16-bit UUID: {value!r}")
    return f"0000{value:04x}{BLUETOOTH_BASE_SUFFIX}"


def normalize_uuid(value: int | str) -> str:
    """Return a UUID as the lowercase 128-bit string BlueZ uses ("180a" -> "0000180a-...")."""
    if isinstance(value, int):
        if value > 0xFFFFFFFF:
            raise ValueError(f"UUID integer too large: {value:#x}")
        return f"{value:08x}{BLUETOOTH_BASE_SUFFIX}"
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) in (4, 8) and all(c in "0123456789abcdef" for c in text):
        return f"{int(text, 16):08x}{BLUETOOTH_BASE_SUFFIX}"
    return str(uuidlib.UUID(text))


def short_uuid(value: str) -> int | None:
    """Return the 16-bit form of a 128-bit UUID string, or None if it has none."""
    full = normalize_uuid(value)
    if full.endswith(BLUETOOTH_BASE_SUFFIX) and full.startswith("0000"):
        return int(full[4:8], 16)
    return None


@dataclass(frozen=True)
class Advert:
    """The advertised fields of one BLE device, keyed the way BlueZ reports them."""

    name: str | None = None
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    service_uuids: tuple[str, ...] = ()
    tx_power: int | None = None

    def fields(self) -> dict[str, Any]:
        """Return keyword arguments for ``SimBleDevice`` (and ``update_advert``)."""
        return {
            "name": self.name,
            "manufacturer_data": dict(self.manufacturer_data),
            "service_data": dict(self.service_data),
            "service_uuids": list(self.service_uuids),
            "tx_power": self.tx_power,
        }

    def merged(self, other: Advert) -> Advert:
        """Return this advert combined with another (the other wins on conflicts)."""
        uuids = list(self.service_uuids)
        uuids += [u for u in other.service_uuids if u not in uuids]
        return Advert(
            name=other.name if other.name is not None else self.name,
            manufacturer_data={**self.manufacturer_data, **other.manufacturer_data},
            service_data={**self.service_data, **other.service_data},
            service_uuids=tuple(uuids),
            tx_power=other.tx_power if other.tx_power is not None else self.tx_power,
        )


def ad_structures(advert: Advert, *, flags: int | None = DEFAULT_FLAGS) -> list[tuple[int, bytes]]:
    """Return the (AD type, data) pairs a device sends for an advert."""
    out: list[tuple[int, bytes]] = []
    if flags is not None:
        out.append((0x01, bytes([flags])))
    short = [s for s in (short_uuid(u) for u in advert.service_uuids) if s is not None]
    if short:
        out.append((0x03, b"".join(struct.pack("<H", s) for s in short)))
    longs = [u for u in advert.service_uuids if short_uuid(u) is None]
    if longs:
        # 128-bit UUIDs go on air little-endian (reversed byte order).
        out.append((0x07, b"".join(uuidlib.UUID(u).bytes[::-1] for u in longs)))
    if advert.name is not None:
        out.append((0x09, advert.name.encode()))
    if advert.tx_power is not None:
        out.append((0x0A, struct.pack("<b", advert.tx_power)))
    for key, data in advert.service_data.items():
        s16 = short_uuid(key)
        if s16 is not None:
            out.append((0x16, struct.pack("<H", s16) + bytes(data)))
        else:
            out.append((0x21, uuidlib.UUID(key).bytes[::-1] + bytes(data)))
    for company, data in advert.manufacturer_data.items():
        out.append((0xFF, struct.pack("<H", company) + bytes(data)))
    return out


def ad_bytes(advert: Advert, *, flags: int | None = DEFAULT_FLAGS) -> bytes:
    """Return the advertising data as sent on air (length-prefixed AD structures)."""
    chunks = []
    for ad_type, data in ad_structures(advert, flags=flags):
        if len(data) + 1 > 0xFF:
            raise ValueError(f"AD structure {ad_type:#04x} too long ({len(data)} bytes)")
        chunks.append(bytes([len(data) + 1, ad_type]) + data)
    return b"".join(chunks)


def hci_le_advertising_report(
    address: str, advert: Advert, rssi: int = -60, *, random_address: bool = False
) -> bytes:
    """Return an HCI LE Advertising Report event (as read from a raw HCI socket)."""
    data = ad_bytes(advert)
    mac = bytes.fromhex(address.replace(":", ""))
    if len(mac) != 6:
        raise ValueError(f"not a Bluetooth address: {address!r}")
    # subevent 0x02, one report, ADV_IND, address type, address LE, data, RSSI
    params = (
        bytes([0x02, 0x01, 0x00, 0x01 if random_address else 0x00])
        + mac[::-1]
        + bytes([len(data)])
        + data
        + struct.pack("<b", rssi)
    )
    return bytes([0x04, 0x3E, len(params)]) + params


def bthome_v2(
    *,
    temperature: float | None = None,
    humidity: float | None = None,
    battery: int | None = None,
    co2: int | None = None,
    illuminance: float | None = None,
    window_open: bool | None = None,
    packet_id: int | None = None,
    trigger_based: bool = False,
    name: str | None = None,
) -> Advert:
    """Return an unencrypted BTHome v2 advert with the given measurements."""
    # (object id, encoded value), object ids must be sent in ascending order
    objects: list[tuple[int, bytes]] = []
    if packet_id is not None:
        objects.append((0x00, struct.pack("<B", packet_id & 0xFF)))
    if battery is not None:
        objects.append((0x01, struct.pack("<B", _clamp(battery, 0, 100))))
    if temperature is not None:
        objects.append((0x02, struct.pack("<h", round(temperature * 100))))
    if humidity is not None:
        objects.append((0x03, struct.pack("<H", round(humidity * 100))))
    if illuminance is not None:
        objects.append((0x05, round(illuminance * 100).to_bytes(3, "little")))
    if co2 is not None:
        objects.append((0x12, struct.pack("<H", co2)))
    if window_open is not None:
        objects.append((0x2D, bytes([1 if window_open else 0])))
    # device info: bit 0 encryption (off), bit 2 trigger based, bits 5-7 version 2
    info = (2 << 5) | (0x04 if trigger_based else 0)
    payload = bytes([info]) + b"".join(bytes([oid]) + value for oid, value in objects)
    return Advert(name=name, service_data={uuid16(BTHOME_UUID16): payload})


def ibeacon(beacon_uuid: str | uuidlib.UUID, major: int, minor: int, tx_power: int = -59) -> Advert:
    """Return an iBeacon advert (tx_power = measured RSSI at 1 m)."""
    value = beacon_uuid if isinstance(beacon_uuid, uuidlib.UUID) else uuidlib.UUID(beacon_uuid)
    payload = b"\x02\x15" + value.bytes + struct.pack(">HHb", major, minor, tx_power)
    return Advert(manufacturer_data={APPLE_COMPANY_ID: payload})


def eddystone_uid(namespace: bytes, instance: bytes, tx_power: int = -20) -> Advert:
    """Return an Eddystone-UID advert (10-byte namespace, 6-byte instance)."""
    if len(namespace) != 10 or len(instance) != 6:
        raise ValueError("Eddystone-UID needs a 10-byte namespace and a 6-byte instance")
    frame = b"\x00" + struct.pack("<b", tx_power) + namespace + instance + b"\x00\x00"
    return _eddystone(frame)


def eddystone_url(url: str, tx_power: int = -20) -> Advert:
    """Return an Eddystone-URL advert; raise ValueError if the URL cannot be encoded."""
    return _eddystone(b"\x10" + struct.pack("<b", tx_power) + encode_eddystone_url(url))


def encode_eddystone_url(url: str) -> bytes:
    """Return the scheme byte and compressed URL of an Eddystone-URL frame."""
    for code, prefix in sorted(enumerate(_EDDYSTONE_SCHEMES), key=lambda p: -len(p[1])):
        if url.startswith(prefix):
            out, rest = bytearray([code]), url[len(prefix) :]
            break
    else:
        raise ValueError(f"Eddystone-URL needs an http(s) URL: {url!r}")
    while rest:
        for code, text in enumerate(_EDDYSTONE_EXPANSIONS):
            if rest.startswith(text):
                out.append(code)
                rest = rest[len(text) :]
                break
        else:
            char = rest[0].encode("ascii")
            if not 0x20 < char[0] < 0x7F:
                raise ValueError(f"Eddystone-URL cannot carry {rest[0]!r}")
            out += char
            rest = rest[1:]
    if len(out) > 18:
        raise ValueError(f"Eddystone-URL too long after compression ({len(out) - 1} > 17)")
    return bytes(out)


def mibeacon(
    address: str,
    *,
    temperature: float | None = None,
    humidity: float | None = None,
    battery: int | None = None,
    product_id: int = 0x01AA,
    frame_counter: int = 0,
) -> Advert:
    """Return an unencrypted Xiaomi MiBeacon v2 advert (default product: LYWSDCGQ)."""
    objects = b""
    if temperature is not None and humidity is not None:
        objects += _mi_object(
            0x100D, struct.pack("<hH", round(temperature * 10), round(humidity * 10))
        )
    elif temperature is not None:
        objects += _mi_object(0x1004, struct.pack("<h", round(temperature * 10)))
    elif humidity is not None:
        objects += _mi_object(0x1006, struct.pack("<H", round(humidity * 10)))
    if battery is not None:
        objects += _mi_object(0x100A, bytes([_clamp(battery, 0, 100)]))
    if not objects:
        raise ValueError("a MiBeacon advert needs at least one measurement")
    # frame control: version 2 (bits 12-15), object included (bit 6), MAC included (bit 4)
    frame_control = (2 << 12) | (1 << 6) | (1 << 4)
    mac = bytes.fromhex(address.replace(":", ""))[::-1]
    payload = struct.pack("<HHB", frame_control, product_id, frame_counter & 0xFF) + mac + objects
    return Advert(service_data={uuid16(XIAOMI_UUID16): payload})


def govee_h5075(temperature: float, humidity: float, battery: int) -> Advert:
    """Return a Govee H5072/H5075 thermo-hygrometer advert (one decimal resolution)."""
    # temperature and humidity packed as one decimal number: TTTHHH in tenths,
    # a set top bit marks a negative temperature
    packed = abs(round(temperature * 10)) * 1000 + round(humidity * 10)
    if temperature < 0:
        packed |= 0x800000
    payload = b"\x00" + packed.to_bytes(3, "big") + bytes([_clamp(battery, 0, 100), 0x00])
    return Advert(name=None, manufacturer_data={GOVEE_H5075_COMPANY_ID: payload})


def _eddystone(frame: bytes) -> Advert:
    key = uuid16(EDDYSTONE_UUID16)
    return Advert(service_data={key: frame}, service_uuids=(key,))


def _mi_object(object_id: int, value: bytes) -> bytes:
    return struct.pack("<HB", object_id, len(value)) + value


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, int(value)))
