"""Advert builders: byte layouts from the public specs, round-tripped through bleparser."""

from __future__ import annotations

import base64
import struct
import uuid

import pytest
from bleparser import BleParser
from hypothesis import given
from hypothesis import strategies as st

from smartbuild.sim.peers import adverts

ADDRESS = "A4:C1:38:12:34:56"


def parse(advert: adverts.Advert, rssi: int = -61) -> dict[str, object]:
    """Decode an advert the way bleparser sees it from a raw HCI socket."""
    report = adverts.hci_le_advertising_report(ADDRESS, advert, rssi)
    sensor, _tracker = BleParser().parse_raw_data(report)
    assert sensor is not None, report.hex()
    assert sensor["mac"] == ADDRESS.replace(":", "")
    assert sensor["rssi"] == rssi
    return sensor


def test_uuid_helpers_use_the_bluetooth_base_uuid() -> None:
    assert adverts.uuid16(0x180A) == "0000180a-0000-1000-8000-00805f9b34fb"
    assert adverts.normalize_uuid("180A") == adverts.uuid16(0x180A)
    assert adverts.normalize_uuid(0xFCD2) == adverts.uuid16(0xFCD2)
    assert adverts.normalize_uuid("0x2a19") == adverts.uuid16(0x2A19)
    custom = "5B1D0001-6A3C-4F6E-9B8E-736D61727462"
    assert adverts.normalize_uuid(custom) == custom.lower()
    assert adverts.short_uuid(adverts.uuid16(0x2A29)) == 0x2A29
    assert adverts.short_uuid(custom) is None
    with pytest.raises(ValueError):
        adverts.uuid16(0x10000)


def test_bthome_reference_example_bytes() -> None:
    # bthome.io/format: 40 02 CA 09 03 BF 13 = 25.06 degC, 50.55 %
    advert = adverts.bthome_v2(temperature=25.06, humidity=50.55)
    assert advert.service_data == {adverts.uuid16(0xFCD2): bytes.fromhex("4002ca0903bf13")}


def test_bthome_round_trips_every_object() -> None:
    advert = adverts.bthome_v2(
        temperature=21.37,
        humidity=45.5,
        battery=87,
        co2=612,
        illuminance=1234.56,
        window_open=True,
        packet_id=9,
        name="TH-1",
    )
    sensor = parse(advert)
    assert sensor["firmware"] == "BTHome V2"
    assert sensor["packet"] == 9
    assert sensor["temperature"] == 21.37
    assert sensor["humidity"] == 45.5
    assert sensor["battery"] == 87
    assert sensor["co2"] == 612
    assert sensor["illuminance"] == 1234.56
    assert sensor["window"] == 1


@given(
    temperature=st.integers(-4000, 8000).map(lambda t: t / 100),
    humidity=st.integers(0, 10000).map(lambda h: h / 100),
)
def test_bthome_temperature_and_humidity_round_trip(temperature: float, humidity: float) -> None:
    sensor = parse(adverts.bthome_v2(temperature=temperature, humidity=humidity))
    assert sensor["temperature"] == temperature
    assert sensor["humidity"] == humidity


def test_ibeacon_layout_and_round_trip() -> None:
    beacon = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
    advert = adverts.ibeacon(beacon, major=1, minor=258, tx_power=-59)
    payload = advert.manufacturer_data[0x004C]
    assert payload == b"\x02\x15" + uuid.UUID(beacon).bytes + bytes.fromhex("00010102c5")
    # the on-air form starts with the Flags AD and then the Apple manufacturer AD
    assert adverts.ad_bytes(advert).startswith(bytes.fromhex("0201061aff4c000215"))
    sensor = parse(advert)
    assert (sensor["type"], sensor["uuid"]) == ("iBeacon", beacon.replace("-", ""))
    assert (sensor["major"], sensor["minor"], sensor["measured power"]) == (1, 258, -59)


def test_eddystone_uid_layout() -> None:
    namespace, instance = bytes(range(10)), bytes(range(0xA0, 0xA6))
    advert = adverts.eddystone_uid(namespace, instance, tx_power=-20)
    # spec: frame 0x00, ranging data, namespace, instance, two RFU bytes
    frame = advert.service_data[adverts.uuid16(0xFEAA)]
    assert frame == b"\x00\xec" + namespace + instance + b"\x00\x00"
    assert adverts.ad_bytes(advert) == bytes.fromhex("0201060303aafe1716aafe") + frame
    with pytest.raises(ValueError):
        adverts.eddystone_uid(b"short", instance)


def test_eddystone_url_compression() -> None:
    assert adverts.encode_eddystone_url("https://www.example.com/") == b"\x01example\x00"
    assert adverts.encode_eddystone_url("http://goo.gl/abc") == b"\x02goo.gl/abc"
    with pytest.raises(ValueError, match="http"):
        adverts.encode_eddystone_url("ftp://example.com")
    with pytest.raises(ValueError, match="too long"):
        adverts.encode_eddystone_url("https://a-very-long-host-name.example/x")


def test_eddystone_url_round_trips_as_a_ruuvitag() -> None:
    # RuuviTag data format 2 travels in an Eddystone-URL: https://ruu.vi/#<base64>
    raw = bytes([2, 2 * 40, 21, 50]) + struct.pack(">H", 101325 - 50000)
    url = "https://ruu.vi/#" + base64.urlsafe_b64encode(raw).decode()
    sensor = parse(adverts.eddystone_url(url))
    assert sensor["firmware"] == "Ruuvitag V2"
    assert (sensor["temperature"], sensor["humidity"], sensor["pressure"]) == (21.5, 40.0, 1013.25)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"temperature": -3.4, "humidity": 55.1}, {"temperature": -3.4, "humidity": 55.1}),
        ({"temperature": 23.5}, {"temperature": 23.5}),
        ({"humidity": 61.0, "battery": 77}, {"humidity": 61.0, "battery": 77}),
    ],
)
def test_mibeacon_round_trip(kwargs: dict[str, float], expected: dict[str, float]) -> None:
    sensor = parse(adverts.mibeacon(ADDRESS, frame_counter=5, **kwargs))
    assert sensor["type"] == "LYWSDCGQ"
    assert sensor["packet"] == 5
    assert sensor["firmware"] == "Xiaomi (MiBeacon V2)"
    assert {k: sensor[k] for k in expected} == expected


def test_mibeacon_layout() -> None:
    payload = adverts.mibeacon(ADDRESS, temperature=25.1, humidity=40.0).service_data[
        adverts.uuid16(0xFE95)
    ]
    # frame control 0x2050, product 0x01AA, counter, reversed MAC, object 0x100D len 4
    assert payload == bytes.fromhex("5020aa010056341238c1a40d1004fb009001")
    with pytest.raises(ValueError):
        adverts.mibeacon(ADDRESS)


@pytest.mark.parametrize(
    ("temperature", "humidity", "battery"), [(23.7, 81.6, 100), (-5.3, 44.2, 88), (0.0, 0.0, 1)]
)
def test_govee_h5075_round_trip(temperature: float, humidity: float, battery: int) -> None:
    advert = adverts.govee_h5075(temperature, humidity, battery)
    sensor = parse(advert)
    assert sensor["type"] == "H5072/H5075"
    assert (sensor["temperature"], sensor["humidity"], sensor["battery"]) == (
        temperature,
        humidity,
        battery,
    )


def test_govee_reference_bytes() -> None:
    # GoveeWatcher issue 2: 88EC 00 03A0F8 64 00 -> 23.7 degC, 81.6 %, 100 %
    assert adverts.govee_h5075(23.7, 81.6, 100).manufacturer_data == {
        0xEC88: bytes.fromhex("0003a0f86400")
    }


def test_fields_feed_a_simulated_device_and_merge() -> None:
    combined = adverts.bthome_v2(temperature=20.0, name="A").merged(
        adverts.ibeacon(uuid.uuid4(), 1, 2)
    )
    fields = combined.fields()
    assert fields["name"] == "A"
    assert set(fields["service_data"]) == {adverts.uuid16(0xFCD2)}
    assert set(fields["manufacturer_data"]) == {0x004C}
    types = [ad_type for ad_type, _ in adverts.ad_structures(combined)]
    assert types == [0x01, 0x09, 0x16, 0xFF]
