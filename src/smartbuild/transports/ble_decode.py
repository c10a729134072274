"""Decode BLE advertisements into measurements with units and roles, behind a small decoder interface.

bleparser (MIT) is the default backend; TheengsDecoder (GPL-3.0, the optional extra
``smartbuild[theengs]``) can be added with ``SMARTBUILD_BLE_DECODERS=bleparser,theengs``. Both load
on first use. Backends are tried in order and the first that understands an advert wins. A backend
that chokes on a malformed advert never stops a scan: the advert stays listed raw (hex) with the
complaint. Eddystone UID/URL ids, which neither backend reports, are read here from the frame
layout of the public Eddystone specification.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartbuild.errors import UsageError

BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"
EDDYSTONE_UUID = f"0000feaa{BASE_UUID_SUFFIX}"
DECODERS_ENV = "SMARTBUILD_BLE_DECODERS"

# Measurement keys with a point role (profiles/roles.py); the rest carry none.
ROLES = {
    "temperature": "zone_air_temperature",
    "humidity": "zone_relative_humidity",
    "co2": "zone_co2",
    "battery": "battery",
    "occupancy": "occupancy",
    "illuminance": "illuminance",
    "window": "window_open",
}
# Units the decoder libraries leave out (bleparser's BTHome table covers the rest).
_EXTRA_UNITS = {
    "illuminance": "lx",
    "conductivity": "µS/cm",
    "formaldehyde": "mg/m³",
    "rssi": "dBm",
    "measured_power": "dBm",
    "tx_power": "dBm",
    "eddystone_tx_power": "dBm",
}
# bleparser result keys that describe the packet rather than measure anything.
_BLEPARSER_META = {"rssi", "mac", "type", "firmware", "packet", "data", "tracker_id"}
# iBeacon's "cypress" values are only meaningful for Cypress sensor beacons; elsewhere they are noise.
_BLEPARSER_NOISE = {"cypress_temperature", "cypress_humidity"}
_BEACON_IDS = {"uuid", "major", "minor", "measured_power"}
_EDDYSTONE_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
_EDDYSTONE_EXPANSIONS = (
    ".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
    ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov",
)  # fmt: skip


@functools.cache
def units() -> dict[str, str]:
    """Return the unit of each measurement key (from bleparser's BTHome table, then ours)."""
    from bleparser.bthome_const import MEAS_TYPES

    table: dict[str, str] = {}
    for meas in MEAS_TYPES.values():
        if meas.unit_of_measurement and meas.unit_of_measurement != "1":
            table.setdefault(meas.meas_format.replace(" ", "_"), meas.unit_of_measurement)
    table.update(_EXTRA_UNITS)
    return table


class Measurement:
    """A decoded value with its unit and point role; prints as "21.5 °C"."""

    __slots__ = ("role", "unit", "value")

    def __init__(self, value: Any, unit: str | None = None, role: str | None = None) -> None:
        self.value = value
        self.unit = unit
        self.role = role

    @classmethod
    def of(cls, key: str, value: Any, unit: str | None = None) -> Measurement:
        """Return a measurement with the unit and role known for a key."""
        return cls(value, unit or units().get(key), ROLES.get(key))

    def __str__(self) -> str:
        text = f"{self.value:g}" if isinstance(self.value, float) else str(self.value)
        return f"{text} {self.unit}" if self.unit else text

    def __repr__(self) -> str:
        return f"Measurement({self.value!r}, {self.unit!r}, {self.role!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Measurement):
            return NotImplemented
        return (self.value, self.unit, self.role) == (other.value, other.unit, other.role)

    __hash__ = None  # type: ignore[assignment]

    def to_json(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {"value": self.value, "unit": self.unit, "role": self.role}


@dataclass(frozen=True)
class AdvertData:
    """What one advertisement said, in the shape BlueZ reports it (service UUIDs in 128-bit form)."""

    address: str
    name: str | None = None
    rssi: int | None = None
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    service_uuids: tuple[str, ...] = ()
    tx_power: int | None = None

    @classmethod
    def from_bleak(cls, device: Any, adv: Any) -> AdvertData:
        """Return the advert of a bleak (BLEDevice, AdvertisementData) pair."""
        return cls(
            device.address,
            adv.local_name or device.name,
            adv.rssi,
            {int(k): bytes(v) for k, v in adv.manufacturer_data.items()},
            {str(k).lower(): bytes(v) for k, v in adv.service_data.items()},
            tuple(str(u).lower() for u in adv.service_uuids),
            adv.tx_power,
        )

    def payload(self) -> tuple[Any, ...]:
        """Return what decoders look at (everything but the signal strength)."""
        return (
            self.name,
            tuple(sorted(self.manufacturer_data.items())),
            tuple(sorted(self.service_data.items())),
            self.service_uuids,
        )

    def raw(self) -> dict[str, Any]:
        """Return the advert data as hex, keyed by company id and service UUID."""
        return {
            "manufacturer_data": {f"{k:#06x}": v.hex() for k, v in self.manufacturer_data.items()},
            "service_data": {_short(k): v.hex() for k, v in self.service_data.items()},
            "service_uuids": [_short(u) for u in self.service_uuids],
        }

    def raw_text(self) -> str:
        """Return a one-line hex summary for tables."""
        parts = [f"{k:#06x}:{v.hex()}" for k, v in self.manufacturer_data.items()]
        parts += [f"{_short(k)}:{v.hex()}" for k, v in self.service_data.items()]
        return " ".join(parts) or "(no data)"


@dataclass(frozen=True)
class Decoded:
    """What the decoders made of an advert."""

    decoder: str | None = None  # backend that understood it; None: unknown advert
    device_type: str | None = None  # the backend's device type, e.g. "BTHome", "LYWSDCGQ"
    firmware: str | None = None
    brand: str | None = None
    measurements: dict[str, Measurement] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)  # iBeacon / Eddystone identifiers
    errors: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        """Return True when a backend decoded the advert or it carried beacon ids."""
        return self.decoder is not None or bool(self.ids)

    def values(self) -> dict[str, Measurement]:
        """Return ids and measurements together, as templates address them (``advert:``)."""
        out = {k: Measurement.of(k, v) for k, v in self.ids.items()}
        out.update(self.measurements)
        return out


class Decoder(Protocol):
    """An advert decoding backend."""

    name: str

    def decode(self, advert: AdvertData) -> Decoded | None:
        """Return the decoded advert, or None when the backend does not know it."""


# TheengsDecoder result keys: measurement names, and those that describe the packet.
_THEENGS_KEYS = {
    "tempc": "temperature", "hum": "humidity", "batt": "battery", "volt": "voltage",
    "lux": "illuminance", "pres": "pressure", "pm25": "pm2.5", "moi": "moisture",
    "fer": "conductivity", "txpower": "measured_power",
}  # fmt: skip
_THEENGS_META = {
    "id", "rssi", "mac", "name", "brand", "model", "model_id", "type", "cidc", "acts", "cont",
    "mfid", "manufacturerdata", "servicedata", "servicedatauuid", "tempf",
}  # fmt: skip


class BleParserDecoder:
    """The default backend: bleparser (MIT; BTHome, Xiaomi, Govee, iBeacon and ~40 more brands)."""

    name = "bleparser"

    def __init__(self) -> None:
        from bleparser import BleParser

        self._parser = BleParser()

    def decode(self, advert: AdvertData) -> Decoded | None:
        """Run bleparser on the advert's AD structures, as it would see them on air."""
        mac = _mac_bytes(advert.address)
        service_data = []
        for uuid, data in advert.service_data.items():
            short = _uuid16(uuid)
            if short is not None and len(data) <= 252:
                service_data.append(
                    bytes([len(data) + 3, 0x16]) + short.to_bytes(2, "little") + data
                )
        manufacturer = [
            bytes([len(data) + 3, 0xFF]) + company.to_bytes(2, "little") + data
            for company, data in advert.manufacturer_data.items()
            if len(data) <= 252
        ]
        listed = [u for u in advert.service_uuids if u not in advert.service_data]
        shorts = [s for s in map(_uuid16, listed) if s is not None]
        longs = [u for u in listed if _uuid16(u) is None]
        # bleparser reads a 16-bit UUID list entry big-endian from its little-endian bytes
        uuid16 = ((shorts[0] & 0xFF) << 8 | shorts[0] >> 8) if shorts else None
        uuid128 = _uuid_bytes_le(longs[0]) if longs else None
        sensor, _tracker = self._parser.parse_advertisement(
            mac, advert.rssi or 0, uuid16, uuid128, advert.name or "", service_data, manufacturer
        )
        if not sensor:
            return None
        measurements: dict[str, Measurement] = {}
        ids: dict[str, Any] = {}
        for raw_key, value in sensor.items():
            key = raw_key.replace(" ", "_")
            if raw_key in _BLEPARSER_META or key in _BLEPARSER_NOISE:
                continue
            if key in _BEACON_IDS:
                ids["beacon_uuid" if key == "uuid" else key] = (
                    _uuid_text(value) if key == "uuid" else value
                )
            elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
                measurements[key] = Measurement.of(key, value)
        return Decoded(
            self.name,
            _text(sensor.get("type")),
            _text(sensor.get("firmware")),
            measurements=measurements,
            ids=ids,
        )


class TheengsBackend:
    """Optional backend: TheengsDecoder (GPL-3.0, ``pip install 'smartbuild[theengs]'``)."""

    name = "theengs"

    def __init__(self) -> None:
        try:
            import TheengsDecoder
        except ImportError:
            raise UsageError(
                "the 'theengs' BLE decoder needs the TheengsDecoder package, which is not installed",
                hint="pip install 'smartbuild[theengs]' (GPL-3.0), or drop 'theengs' from "
                f"{DECODERS_ENV}",
            ) from None
        self._lib = TheengsDecoder

    def decode(self, advert: AdvertData) -> Decoded | None:
        """Run TheengsDecoder on the advert in its JSON input form."""
        message: dict[str, Any] = {"id": advert.address, "rssi": advert.rssi or 0}
        if advert.name:
            message["name"] = advert.name
        for company, data in advert.manufacturer_data.items():  # Theengs takes one of each
            message["manufacturerdata"] = company.to_bytes(2, "little").hex() + data.hex()
            break
        for uuid, data in advert.service_data.items():
            short = _uuid16(uuid)
            if short is not None:
                message["servicedata"] = data.hex()
                message["servicedatauuid"] = f"0x{short:04x}"
                break
        text = self._lib.decodeBLE(json.dumps(message))
        if not text:
            return None
        result = json.loads(text)
        model_id = result.get("model_id")
        props = (json.loads(self._lib.getProperties(model_id)) if model_id else {}).get(
            "properties", {}
        )
        measurements: dict[str, Measurement] = {}
        ids: dict[str, Any] = {}
        for raw_key, value in result.items():
            if raw_key in _THEENGS_META:
                continue
            key = _THEENGS_KEYS.get(raw_key, raw_key)
            if key in _BEACON_IDS:
                ids["beacon_uuid" if key == "uuid" else key] = (
                    _uuid_text(value) if key == "uuid" else value
                )
            elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
                unit = (props.get(raw_key) or {}).get("unit")
                unit = None if unit in ("hex", "string", "status") else unit
                measurements[key] = Measurement.of(key, value, unit)
        return Decoded(
            self.name,
            _text(model_id),
            _text(result.get("model")),
            _text(result.get("brand")),
            measurements,
            ids,
        )


BACKENDS: dict[str, Any] = {"bleparser": BleParserDecoder, "theengs": TheengsBackend}


def make_decoders(names: Iterable[str]) -> list[Decoder]:
    """Return decoder backends by name, in order; raise UsageError for unknown or missing ones."""
    from smartbuild.config.locate import did_you_mean

    decoders = []
    for given in names:
        name = given.strip().lower()
        if not name:
            continue
        backend = BACKENDS.get(name)
        if backend is None:
            raise UsageError(
                f"unknown BLE decoder {name!r} in {DECODERS_ENV}.{did_you_mean(name, BACKENDS)}",
                hint=f"known decoders: {', '.join(BACKENDS)}",
            )
        decoders.append(backend())
    return decoders


def decoders_from_env() -> list[Decoder]:
    """Return the decoders named by SMARTBUILD_BLE_DECODERS (default: bleparser)."""
    return make_decoders((os.environ.get(DECODERS_ENV) or "bleparser").split(","))


def decode_advert(advert: AdvertData, decoders: Sequence[Decoder]) -> Decoded:
    """Decode an advert with the first backend that understands it; never raise for bad data."""
    ids = eddystone_ids(advert.service_data.get(EDDYSTONE_UUID, b""))
    errors = []
    for decoder in decoders:
        try:
            decoded = decoder.decode(advert)
        except Exception as error:  # a library bug on a malformed advert must not end the scan
            errors.append(f"{decoder.name}: {type(error).__name__}: {error}")
            continue
        if decoded is not None:
            return Decoded(
                decoded.decoder, decoded.device_type, decoded.firmware, decoded.brand,
                decoded.measurements, {**ids, **decoded.ids},
            )  # fmt: skip
    if ids:  # bleparser takes Eddystone frames for RuuviTag ones and fails: not worth a warning
        return Decoded(device_type="Eddystone", ids=ids)
    return Decoded(errors=tuple(errors))


def eddystone_ids(frame: bytes) -> dict[str, Any]:
    """Return the ids of an Eddystone UID or URL frame (service data of UUID 0xFEAA), else {}."""
    if len(frame) >= 18 and frame[0] == 0x00:  # UID: tx power, 10-byte namespace, 6-byte instance
        return {
            "eddystone_namespace": frame[2:12].hex(),
            "eddystone_instance": frame[12:18].hex(),
            "eddystone_tx_power": int.from_bytes(frame[1:2], "big", signed=True),
        }
    if len(frame) >= 3 and frame[0] == 0x10 and frame[2] < len(_EDDYSTONE_SCHEMES):
        url = _EDDYSTONE_SCHEMES[frame[2]]
        for byte in frame[3:]:
            url += _EDDYSTONE_EXPANSIONS[byte] if byte < len(_EDDYSTONE_EXPANSIONS) else chr(byte)
        return {"eddystone_url": url}
    return {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _short(uuid: str) -> str:
    short = _uuid16(uuid)
    return f"{short:04x}" if short is not None else uuid


def _uuid16(uuid: str) -> int | None:
    text = uuid.lower()
    if text.startswith("0000") and text.endswith(BASE_UUID_SUFFIX) and len(text) == 36:
        return int(text[4:8], 16)
    return None


def _uuid_bytes_le(uuid: str) -> bytes | None:
    try:
        return bytes.fromhex(uuid.replace("-", ""))[::-1]
    except ValueError:
        return None


def _uuid_text(value: Any) -> str:
    text = str(value).replace("-", "").lower()
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


def _mac_bytes(address: str) -> bytes:
    try:
        mac = bytes.fromhex(address.replace(":", "").replace("-", ""))
    except ValueError:
        mac = b""
    return mac if len(mac) == 6 else bytes(6)  # macOS gives UUIDs, not MACs
