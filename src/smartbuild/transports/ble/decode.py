"""Decode BLE advertisements into measurements with units and roles, behind a small decoder interface.

The backends live in :mod:`smartbuild.transports.ble.backends`: bleparser (MIT) is the default; TheengsDecoder (GPL-3.0, the optional extra
``smartbuild[theengs]``) can be added with ``SMARTBUILD_BLE_DECODERS=bleparser,theengs``. Both load
on first use. Backends are tried in order and the first that understands an advert wins. A backend
that chokes on a malformed advert never stops a scan: the advert stays listed raw (hex) with the
complaint. Eddystone UID/URL ids, which neither backend reports, are read here from the frame
layout of the public Eddystone specification.
"""

from __future__ import annotations

import functools
import importlib
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


# backend name -> "module:class", imported when chosen
BACKENDS = {
    "bleparser": "smartbuild.transports.ble.backends:BleParserDecoder",
    "theengs": "smartbuild.transports.ble.backends:TheengsBackend",
}


def make_decoders(names: Iterable[str]) -> list[Decoder]:
    """Return decoder backends by name, in order; raise UsageError for unknown or missing ones."""
    from smartbuild.suggest import did_you_mean

    decoders = []
    for given in names:
        name = given.strip().lower()
        if not name:
            continue
        where = BACKENDS.get(name)
        if where is None:
            raise UsageError(
                f"unknown BLE decoder {name!r} in {DECODERS_ENV}.{did_you_mean(name, BACKENDS)}",
                hint=f"known decoders: {', '.join(BACKENDS)}",
            )
        module, _, cls = where.partition(":")
        decoders.append(getattr(importlib.import_module(module), cls)())
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


def advert_values(advert: AdvertData, decoded: Decoded) -> dict[str, Measurement]:
    """Return what an advert offers to ``advert:`` points: decoded values, ids and signal."""
    values = decoded.values()
    if advert.rssi is not None:
        values.setdefault("rssi", Measurement.of("rssi", advert.rssi))
    if advert.tx_power is not None:
        values.setdefault("tx_power", Measurement.of("tx_power", advert.tx_power))
    return values


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


def _short(uuid: str) -> str:
    short = uuid16(uuid)
    return f"{short:04x}" if short is not None else uuid


def uuid16(uuid: str) -> int | None:
    """Return the 16-bit form of a Bluetooth SIG UUID ("0000fcd2-0000-1000-...") or None."""
    text = uuid.lower()
    if text.startswith("0000") and text.endswith(BASE_UUID_SUFFIX) and len(text) == 36:
        return int(text[4:8], 16)
    return None
