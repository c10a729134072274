"""Advert decoding backends: bleparser (the default, MIT) and TheengsDecoder (optional, GPL-3.0).

Each turns one :class:`~smartbuild.transports.ble.decode.AdvertData` into a
:class:`~smartbuild.transports.ble.decode.Decoded` with measurement keys in one vocabulary
(temperature, humidity, battery, co2, ...), or None when it does not know the advert.
"""

from __future__ import annotations

import json
from typing import Any

from smartbuild.errors import UsageError
from smartbuild.transports.ble.decode import (
    DECODERS_ENV,
    AdvertData,
    Decoded,
    Measurement,
    uuid16,
)

# bleparser result keys that describe the packet rather than measure anything.
_BLEPARSER_META = {"rssi", "mac", "type", "firmware", "packet", "data", "tracker_id"}
# iBeacon's "cypress" values are only meaningful for Cypress sensor beacons; elsewhere they are noise.
_BLEPARSER_NOISE = {"cypress_temperature", "cypress_humidity"}
_BEACON_IDS = {"uuid", "major", "minor", "measured_power"}
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
            short = uuid16(uuid)
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
        shorts = [s for s in map(uuid16, listed) if s is not None]
        longs = [u for u in listed if uuid16(u) is None]
        # bleparser reads a 16-bit UUID list entry big-endian from its little-endian bytes
        listed16 = ((shorts[0] & 0xFF) << 8 | shorts[0] >> 8) if shorts else None
        uuid128 = _uuid_bytes_le(longs[0]) if longs else None
        sensor, _tracker = self._parser.parse_advertisement(
            mac, advert.rssi or 0, listed16, uuid128, advert.name or "", service_data, manufacturer
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
            short = uuid16(uuid)
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
            None,
            _text(result.get("brand")),
            measurements,
            ids,
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


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
