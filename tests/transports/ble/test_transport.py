"""The BLE transport: advert decoding, GATT values, and the real bleak backend against the simulated BlueZ."""

from __future__ import annotations

import asyncio
import shutil
import struct
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartbuild.config.schema import DeviceSpec
from smartbuild.errors import DeviceError, SafetyRefusal, SmartbuildError, UsageError
from smartbuild.services.identify import identify_device
from smartbuild.services.registry import load_template_file as load_template
from smartbuild.sim.peers import adverts
from smartbuild.sim.peers.bluez import BlueZService, SimBleDevice, sensor_device
from smartbuild.sim.peers.bluez_devices import SETPOINT_CHAR_UUID
from smartbuild.sim.peers.dbusd import PrivateBus
from smartbuild.templates import TEMPLATE_DIR
from smartbuild.transports.base import Candidate, Device, DiscoverContext, Reading
from smartbuild.transports.ble import decode as ble_decode
from smartbuild.transports.ble.decode import AdvertData, Measurement, decode_advert
from smartbuild.transports.ble.discovery import make_candidate
from smartbuild.transports.ble.family import BleOptions
from smartbuild.transports.ble.scan import ble_error, default_duration, passive_patterns
from smartbuild.transports.ble.schema import BlePoint as PointSpec
from smartbuild.transports.ble.schema import BleTemplate as Template
from smartbuild.transports.ble.transport import BleTransport
from smartbuild.transports.ble.values import decode_value, encode_value

needs_dbus = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None,
    reason="dbus-daemon is not installed (apt-get install dbus-daemon)",
)
BLE_TEMPLATES = {p.stem: load_template(p) for p in TEMPLATE_DIR.glob("*.yaml")}
BLE_TEMPLATES = {k: t for k, t in BLE_TEMPLATES.items() if t.transport == "ble"}
IBEACON_UUID = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
IBEACON_IDS = {"beacon_uuid": IBEACON_UUID, "major": 7, "minor": 9, "measured_power": -59}


def myco2(temperature: float, humidity: float, co2: int) -> dict[int, bytes]:
    """Return Sensirion gadget manufacturer data (advertisement type 0, sample type 8: T, RH, CO2)."""
    t_raw = round((temperature + 45) / 175 * 65535)
    rh_raw = round(humidity / 100 * 65535)
    return {0x06D5: bytes([0x00, 0x08, 0x12, 0x34]) + struct.pack("<HHH", t_raw, rh_raw, co2)}


def advert_of(address: str, advert: adverts.Advert, rssi: int = -60) -> AdvertData:
    """Return the AdvertData bleak would report for a sim advert (service data UUIDs listed too)."""
    uuids = tuple(dict.fromkeys([*advert.service_uuids, *advert.service_data]))
    return AdvertData(
        address, advert.name, rssi, advert.manufacturer_data, advert.service_data, uuids
    )


def mixed_devices(interval_s: float = 0.05) -> list[SimBleDevice]:
    """Return one device of each advert format smartbuild ships a template for, plus an unknown one."""
    return [
        SimBleDevice("A4:C1:38:00:00:01", interval_s=interval_s, rssi=-51,
                     **adverts.bthome_v2(temperature=21.37, humidity=45.5, battery=87, name="TH-1").fields()),
        SimBleDevice("A4:C1:38:00:00:02", interval_s=interval_s, rssi=-70,
                     **adverts.ibeacon(IBEACON_UUID, 7, 9).fields()),
        SimBleDevice("A4:C1:38:00:00:03", interval_s=interval_s, rssi=-80,
                     **adverts.govee_h5075(-5.3, 44.2, 88).fields()),
        SimBleDevice("A4:C1:38:00:00:04", interval_s=interval_s,
                     **adverts.mibeacon("A4:C1:38:00:00:04", temperature=22.5, humidity=40.0).fields()),
        SimBleDevice("A4:C1:38:00:00:05", interval_s=interval_s, name="MyCO2",
                     manufacturer_data=myco2(22.5, 41.0, 812)),
        SimBleDevice("A4:C1:38:00:00:06", interval_s=interval_s, manufacturer_data={0x1234: b"\x01\x02"}),
    ]  # fmt: skip


def ble_device(template: str, address: str, **spec: Any) -> Device:
    """Return a site device of a shipped BLE template."""
    return Device(
        f"{template}-1",
        DeviceSpec(template=template, transport="ble", address=address, **spec),
        BLE_TEMPLATES[template],
    )


# ---- decoding (pure) --------------------------------------------------------------------


def test_decoded_values_carry_units_and_roles() -> None:
    decoders = ble_decode.make_decoders(["bleparser"])
    cases = {
        "BTHome": adverts.bthome_v2(temperature=21.37, humidity=45.5, battery=87, co2=612),
        "H5072/H5075": adverts.govee_h5075(-5.3, 44.2, 88),
        "LYWSDCGQ": adverts.mibeacon("A4:C1:38:00:00:04", temperature=22.5, humidity=40.0),
        "MyCO2": adverts.Advert(name="MyCO2", manufacturer_data=myco2(22.5, 41.0, 812)),
    }
    got = {
        kind: decode_advert(advert_of("A4:C1:38:00:00:04", advert), decoders)
        for kind, advert in cases.items()
    }
    assert {kind: d.device_type for kind, d in got.items()} == {k: k for k in cases}
    bthome = got["BTHome"].measurements
    assert bthome["temperature"] == Measurement(21.37, "°C", "zone_air_temperature")
    assert bthome["humidity"] == Measurement(45.5, "%", "zone_relative_humidity")
    assert bthome["battery"] == Measurement(87, "%", "battery")
    assert bthome["co2"] == Measurement(612, "ppm", "zone_co2")
    assert got["H5072/H5075"].measurements["temperature"].value == -5.3
    assert got["LYWSDCGQ"].measurements["humidity"].value == 40.0
    co2 = got["MyCO2"].measurements
    assert co2["co2"] == Measurement(812, "ppm", "zone_co2")
    assert co2["temperature"].value == pytest.approx(22.5, abs=0.01)
    assert str(bthome["temperature"]) == "21.37 °C"


def test_decoded_roles_are_in_the_role_vocabulary() -> None:
    from smartbuild.model.roles import ROLES

    assert set(ble_decode.ROLES.values()) <= set(ROLES)
    assert ble_decode.units()["co2"] == "ppm"  # from bleparser's own BTHome table
    assert ble_decode.units()["illuminance"] == "lx"


def test_beacon_ids_are_shown_and_cypress_noise_dropped() -> None:
    decoders = ble_decode.make_decoders(["bleparser"])
    ibeacon = decode_advert(
        advert_of("A4:C1:38:00:00:02", adverts.ibeacon(IBEACON_UUID, 7, 9)), decoders
    )
    assert ibeacon.ids == IBEACON_IDS
    assert ibeacon.measurements == {}  # no "cypress temperature" from a plain iBeacon
    assert ibeacon.values()["measured_power"] == Measurement(-59, "dBm")
    uid = adverts.eddystone_uid(bytes(range(10)), bytes.fromhex("0a0b0c0d0e0f"))
    url = adverts.eddystone_url("https://example.com/room-1")
    eddy_uid = decode_advert(advert_of("A4:C1:38:00:00:05", uid), decoders)
    eddy_url = decode_advert(advert_of("A4:C1:38:00:00:06", url), decoders)
    assert eddy_uid.known and not eddy_uid.errors  # bleparser's RuuviTag guess fails quietly
    assert eddy_uid.ids == {
        "eddystone_namespace": "00010203040506070809",
        "eddystone_instance": "0a0b0c0d0e0f",
        "eddystone_tx_power": -20,
    }
    assert eddy_url.ids == {"eddystone_url": "https://example.com/room-1"}


GARBAGE = [
    adverts.Advert(manufacturer_data={0x1234: b"\x01\x02"}),  # unknown company
    adverts.Advert(manufacturer_data={0x004C: b""}),  # Apple, empty
    adverts.Advert(manufacturer_data={0x004C: b"\x02\x15\x01"}),  # truncated iBeacon
    adverts.Advert(service_data={adverts.uuid16(0xFCD2): b"\x40\x02\xca"}),  # truncated BTHome
    adverts.Advert(service_data={adverts.uuid16(0xFE95): b"\x50"}),  # truncated MiBeacon
    adverts.Advert(service_data={adverts.uuid16(0xFEAA): b"\x00\x01\x02"}),  # short Eddystone
    adverts.Advert(manufacturer_data={0xEC88: b"\xff" * 6}),  # Govee, nonsense
]


@pytest.mark.parametrize("advert", GARBAGE)
def test_garbage_adverts_are_kept_raw_and_never_raise(advert: adverts.Advert) -> None:
    data = advert_of("A4:C1:38:00:00:09", advert)
    decoded = decode_advert(data, ble_decode.make_decoders(["bleparser"]))
    candidate = make_candidate(data, decoded)
    raw = candidate.extra["raw"]
    assert raw["manufacturer_data"] or raw["service_data"]
    if not decoded.known:
        assert str(candidate.extra["readings"]["raw"]) == data.raw_text()


@given(
    company=st.sampled_from([0x004C, 0xEC88, 0x0001, 0x0499, 0x06D5, 0x8801, 0xFFFF, 0x1234]),
    mdata=st.binary(max_size=40),
    uuid=st.sampled_from([0xFCD2, 0xFE95, 0xFEAA, 0x181A, 0x181C, 0xFDCD, 0xFD3D, 0x2A6E]),
    sdata=st.binary(max_size=40),
    name=st.sampled_from(["", "MyCO2", "ECo", "TP357", "iBBQ", "sps"]),
)
def test_decoding_random_bytes_never_raises(
    company: int, mdata: bytes, uuid: int, sdata: bytes, name: str
) -> None:
    decoders = ble_decode.make_decoders(["bleparser"])
    for advert in (
        AdvertData("A4:C1:38:00:00:07", name, -60, {company: mdata}),
        AdvertData("A4:C1:38:00:00:07", name, -60, {}, {adverts.uuid16(uuid): sdata}),
    ):
        decoded = decode_advert(advert, decoders)
        assert decoded.known or not decoded.measurements


def test_decoder_selection_and_the_optional_theengs_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ble_decode.DECODERS_ENV, raising=False)
    assert [d.name for d in ble_decode.decoders_from_env()] == ["bleparser"]
    monkeypatch.setenv(ble_decode.DECODERS_ENV, "bleparsr")
    with pytest.raises(UsageError, match="Did you mean 'bleparser'"):
        ble_decode.decoders_from_env()
    monkeypatch.setitem(sys.modules, "TheengsDecoder", None)  # as if the extra were not installed
    monkeypatch.setenv(ble_decode.DECODERS_ENV, "bleparser,theengs")
    with pytest.raises(UsageError) as missing:
        ble_decode.decoders_from_env()
    assert "TheengsDecoder" in missing.value.message
    assert "smartbuild[theengs]" in (missing.value.hint or "")


def test_theengs_backend_decodes_when_installed() -> None:
    pytest.importorskip("TheengsDecoder")
    theengs, bleparser = ble_decode.make_decoders(["theengs", "bleparser"])
    mi = advert_of(
        "A4:C1:38:00:00:04", adverts.mibeacon("A4:C1:38:00:00:04", temperature=22.5, humidity=40.0)
    )
    decoded = decode_advert(mi, [theengs, bleparser])
    assert (decoded.decoder, decoded.device_type, decoded.brand) == (
        "theengs",
        "LYWSDCGQ",
        "Xiaomi",
    )
    assert decoded.measurements["temperature"] == Measurement(22.5, "°C", "zone_air_temperature")
    assert decoded.measurements["humidity"] == Measurement(40, "%", "zone_relative_humidity")
    beacon = decode_advert(
        advert_of("A4:C1:38:00:00:02", adverts.ibeacon(IBEACON_UUID, 7, 9)), [theengs]
    )
    assert beacon.ids == IBEACON_IDS
    # BTHome v2 is not in Theengs: the chain falls through to bleparser
    bthome = advert_of("A4:C1:38:00:00:01", adverts.bthome_v2(temperature=20.5))
    assert decode_advert(bthome, [theengs, bleparser]).decoder == "bleparser"


def test_candidates_match_the_shipped_templates() -> None:
    decoders = ble_decode.make_decoders(["bleparser"])
    sensor = sensor_device("5A:0B:00:00:00:01")
    cases = {
        "bthome-sensor": advert_of("A4:C1:38:00:00:01", adverts.bthome_v2(temperature=20.0, name="TH-1")),
        "sb-th1": AdvertData(sensor.address, sensor.name, -50, {}, sensor.service_data, tuple(sensor.service_data)),
        "ibeacon": advert_of("A4:C1:38:00:00:02", adverts.ibeacon(IBEACON_UUID, 7, 9)),
        "govee-h5075": advert_of("A4:C1:38:00:00:03", adverts.govee_h5075(20.1, 40.0, 90)),
        "xiaomi-lywsdcgq": advert_of("A4:C1:38:00:00:04", adverts.mibeacon("A4:C1:38:00:00:04", temperature=20.0, humidity=40.0)),
        "sensirion-myco2": advert_of("A4:C1:38:00:00:05", adverts.Advert(name="MyCO2", manufacturer_data=myco2(20, 40, 600))),
        None: advert_of("A4:C1:38:00:00:06", adverts.Advert(manufacturer_data={0x1234: b"\x01"})),
    }  # fmt: skip
    for expected, advert in cases.items():
        candidate = make_candidate(advert, decode_advert(advert, decoders))
        match = identify_device(candidate=candidate, templates=BLE_TEMPLATES)
        assert (match[0] if match else None) == expected, candidate.identity


# ---- GATT values and scan helpers (pure) ------------------------------------------------


def point(**fields: Any) -> PointSpec:
    return PointSpec(characteristic="2a6e", **fields)


@pytest.mark.parametrize(
    ("fmt", "value", "data"),
    [
        ("uint8", 200, b"\xc8"),
        ("int8", -5, b"\xfb"),
        ("uint16le", 0xBEEF, b"\xef\xbe"),
        ("int16le", -2, b"\xfe\xff"),
        ("uint32le", 70000, struct.pack("<I", 70000)),
        ("int32le", -70000, struct.pack("<i", -70000)),
        ("float32le", 1.5, struct.pack("<f", 1.5)),
        ("utf8", "hello", b"hello"),
    ],
)
def test_characteristic_formats_round_trip(fmt: str, value: Any, data: bytes) -> None:
    spec = point(ble_format=fmt)
    assert encode_value(spec, value) == data
    assert decode_value(spec, data)[0] == value


def test_characteristic_scaling_ranges_and_sizes() -> None:
    setpoint = point(ble_format="int16le", scale=0.01)
    assert encode_value(setpoint, 21.5) == struct.pack("<h", 2150)
    # exact, not 21.370000000000001
    assert decode_value(setpoint, struct.pack("<h", 2137))[0] == 21.37
    with pytest.raises(ValueError, match="whole number of steps"):
        encode_value(setpoint, 21.555)
    with pytest.raises(ValueError, match=r"outside -32768\.\.32767"):
        encode_value(setpoint, 400)
    with pytest.raises(ValueError, match="needs 2 byte"):
        decode_value(setpoint, b"\x01")
    assert decode_value(point(ble_format="utf8"), b"SB-TH1\0\0")[0] == "SB-TH1"
    assert decode_value(point(), b"\x01\xff")[0] == "01ff"
    with pytest.raises(ValueError, match="no ble_format"):
        encode_value(point(), 1)
    mode = point(ble_format="uint8", enum={0: "off", 1: "heat"})
    assert decode_value(mode, b"\x01") == (1, 1, "heat")


def _template(name: str, **defaults: Any) -> Template:
    return Template(
        template=name,
        title=name,
        transport="ble",
        defaults=defaults,
        identify={"ble": {"manufacturer_id": 0x0499, "service_data_uuid": "fcd2"}},
        points={"t": {"advert": "temperature"}},
    )


def test_default_scan_covers_twice_the_slowest_advertiser() -> None:
    assert default_duration(BLE_TEMPLATES.values()) == 10.0
    slow = _template("slow", advert_interval=8.0)
    assert default_duration([*BLE_TEMPLATES.values(), slow]) == 16.0
    assert default_duration([]) == 10.0


def test_passive_patterns_come_from_identify_rules() -> None:
    patterns = passive_patterns(BLE_TEMPLATES.values())
    assert (0, 0xFF, b"\x4c\x00") in patterns  # iBeacon: Apple company id, little-endian
    assert (0, 0xFF, b"\x88\xec") in patterns  # Govee
    assert (0, 0x16, b"\xd2\xfc") in patterns  # BTHome service data
    assert (0, 0x16, b"\x95\xfe") in patterns  # Xiaomi
    assert len(patterns) == len(set(patterns)) == 5


def test_bleak_errors_become_messages_with_what_to_check() -> None:
    from bleak.exc import (
        BleakBluetoothNotAvailableError,
        BleakBluetoothNotAvailableReason,
        BleakDBusError,
        BleakError,
    )

    def mapped(error: BaseException) -> SmartbuildError:
        result = ble_error(error, "BLE scan")
        assert result is not None
        return result

    assert "no system D-Bus" in mapped(FileNotFoundError(2, "No such file")).message
    off = BleakBluetoothNotAvailableError("off", BleakBluetoothNotAvailableReason.POWERED_OFF)
    assert "powered off" in mapped(off).message
    assert "bluetoothctl power on" in (mapped(off).hint or "")
    none = BleakBluetoothNotAvailableError("none", BleakBluetoothNotAvailableReason.NO_BLUETOOTH)
    assert "no Bluetooth LE adapter" in mapped(none).message
    unknown = BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["no org.bluez"])
    assert "BlueZ (org.bluez) is not on the system D-Bus" in mapped(unknown).message
    busy = BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"])
    assert "busy" in mapped(busy).message
    assert "not found" in mapped(BleakError("adapter 'hci7' not found")).message
    assert mapped(asyncio.TimeoutError()).exit_status == 3
    assert ble_error(KeyError("x"), "BLE scan") is None  # bugs are not dressed up as BLE errors


# ---- the transport against the simulated BlueZ (real bleak) -----------------------------


@pytest.fixture
async def transport() -> AsyncIterator[tuple[BleTransport, list[str]]]:
    warnings: list[str] = []
    t = BleTransport(warn=warnings.append)
    yield t, warnings
    await t.aclose()


async def discover(t: BleTransport, **options: Any) -> dict[str, Candidate]:
    found: dict[str, Candidate] = {}
    settings = BleOptions(**{"duration": 1.0, **options})
    await t.discover(
        settings, DiscoverContext(BLE_TEMPLATES), lambda c: found.__setitem__(c.address, c)
    )
    return found


@needs_dbus
async def test_discover_decodes_every_format_and_lists_unknown_ones(
    bluez: BlueZService, transport: tuple[BleTransport, list[str]]
) -> None:
    t, _ = transport
    for device in [*mixed_devices(), sensor_device("5A:0B:00:00:00:01")]:
        bluez.add_device(device)
    found = await discover(t, until=7)
    assert len(found) == 7
    readings = {a: {k: str(v) for k, v in c.extra["readings"].items()} for a, c in found.items()}
    assert readings["A4:C1:38:00:00:01"]["temperature"] == "21.37 °C"
    assert readings["A4:C1:38:00:00:02"]["major"] == "7"
    assert readings["A4:C1:38:00:00:03"]["temperature"] == "-5.3 °C"
    assert readings["A4:C1:38:00:00:05"]["co2"] == "812 ppm"
    assert readings["A4:C1:38:00:00:06"]["raw"] == "0x1234:0102"
    assert readings["5A:0B:00:00:00:01"]["rssi"] == "-60 dBm"
    assert found["A4:C1:38:00:00:06"].extra["raw"]["manufacturer_data"] == {"0x1234": "0102"}
    assert bluez.stats.calls["StartDiscovery"] == bluez.stats.calls["StopDiscovery"] == 1


@needs_dbus
async def test_until_stops_at_exactly_n_devices(
    bluez: BlueZService, transport: tuple[BleTransport, list[str]]
) -> None:
    for device in mixed_devices():
        bluez.add_device(device)
    found = await discover(transport[0], until=2, duration=5.0)
    assert len(found) == 2
    assert bluez.stats.calls["StopDiscovery"] == 1


@needs_dbus
async def test_passive_scan_hears_only_template_patterns_and_falls_back_when_refused(
    bluez: BlueZService, transport: tuple[BleTransport, list[str]]
) -> None:
    t, warnings = transport
    for device in mixed_devices(interval_s=0.02):
        bluez.add_device(device)
    found = await discover(t, passive=True, duration=0.5)
    assert "A4:C1:38:00:00:06" not in found  # unknown company: no pattern matches it
    assert {"A4:C1:38:00:00:01", "A4:C1:38:00:00:02", "A4:C1:38:00:00:03"} <= set(found)
    assert bluez.stats.calls["RegisterMonitor"] == 1
    assert bluez.stats.calls["StartDiscovery"] == 0
    assert warnings == []
    bluez.inject_error("RegisterMonitor", "org.bluez.Error.NotSupported", "Not supported")
    found = await discover(t, passive=True, until=6)
    assert len(found) == 6  # the active fallback hears the unknown device too
    assert bluez.stats.calls["StartDiscovery"] == 1
    assert len(warnings) == 1 and "scanning actively instead" in warnings[0]


@needs_dbus
async def test_in_progress_is_retried_once_then_explained(
    bluez: BlueZService, transport: tuple[BleTransport, list[str]]
) -> None:
    t, _ = transport
    bluez.add_device(mixed_devices()[0])
    bluez.inject_error("StartDiscovery", count=1)
    assert len(await discover(t, until=1)) == 1
    assert bluez.stats.calls["StartDiscovery"] == 2
    bluez.inject_error("StartDiscovery", count=2)
    with pytest.raises(SmartbuildError, match="busy with another scan") as err:
        await discover(t, until=1)
    assert "stop other Bluetooth programs" in (err.value.hint or "")
    assert bluez.stats.calls["StartDiscovery"] == 4


@needs_dbus
async def test_read_advert_and_gatt_points_over_one_connection(
    bluez: BlueZService, transport: tuple[BleTransport, list[str]]
) -> None:
    t, _ = transport
    bluez.add_device(sensor_device("5A:0B:00:00:00:01", temperature=22.25, battery=77))
    dev = ble_device("sb-th1", "5A:0B:00:00:00:01")
    first = {r.point: r for r in await t.read(dev, list(dev.template.points))}
    assert all(r.ok for r in first.values()), first
    assert (first["temperature"].value, first["temperature"].unit) == (22.25, "°C")
    assert first["battery"].value == 77
    assert first["manufacturer"].value == "smartbuild"
    assert first["model"].value == "SB-TH1"
    assert first["battery_level"].value == 77
    assert first["gatt_temperature"].value == 22.25
    assert first["setpoint"].value == 21.0
    again = await t.read(dev, ["firmware", "setpoint"])
    assert [r.value for r in again] == ["1.0.0", 21.0]
    assert bluez.stats.calls["Connect"] == 1
    assert t.stats[dev.id].errors == 0


@needs_dbus
async def test_write_encodes_checks_and_reports_device_refusals(
    bluez: BlueZService, transport: tuple[BleTransport, list[str]]
) -> None:
    t, _ = transport
    sim = sensor_device("5A:0B:00:00:00:02")
    bluez.add_device(sim)
    dev = ble_device("sb-th1", sim.address)
    await t.write(dev, "setpoint", 22.5)
    assert sim.gatt[3].characteristics[0].value == struct.pack("<h", 2250)
    assert (await t.read(dev, ["setpoint"]))[0].value == 22.5
    with pytest.raises(SafetyRefusal):
        await t.write(dev, "setpoint", 31)
    with pytest.raises(DeviceError, match="whole number of steps"):
        await t.write(dev, "setpoint", 21.555)
    with pytest.raises(DeviceError, match="comes from adverts"):
        await t.write(dev, "temperature", 20)
    bluez.inject_error(
        "WriteValue", "org.bluez.Error.Failed", "Operation failed with ATT error: 0x0e"
    )
    with pytest.raises(DeviceError, match=r"ATT error 0x0e \(unlikely error\)"):
        await t.write(dev, "setpoint", 23.0)
    assert bluez.stats.writes[(sim.address, SETPOINT_CHAR_UUID)] == 1
    assert bluez.stats.calls["Connect"] == 1


@needs_dbus
async def test_follow_emits_advert_values_when_they_change(
    bluez: BlueZService, transport: tuple[BleTransport, list[str]]
) -> None:
    t, _ = transport
    bluez.add_device(mixed_devices(interval_s=0.02)[0])
    dev = ble_device("bthome-sensor", "A4:C1:38:00:00:01")
    seen: list[Reading] = []
    task = asyncio.ensure_future(t.follow([dev], seen.append))
    await wait_until(lambda: {r.point for r in seen} >= {"temperature", "humidity", "battery"})
    rounds = bluez.stats.adverts
    await wait_until(lambda: bluez.stats.adverts >= rounds + 5)
    assert len(seen) == 3  # repeated adverts with the same values are not emitted again
    bluez.update_advert(
        "A4:C1:38:00:00:01",
        service_data=adverts.bthome_v2(temperature=23.0, humidity=45.5, battery=87).service_data,
    )
    await wait_until(lambda: len(seen) == 4)
    assert (seen[-1].point, seen[-1].value, seen[-1].unit) == ("temperature", 23.0, "°C")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not bluez.discovering


@needs_dbus
async def test_absent_device_and_missing_keys_fail_as_readings(
    bluez: BlueZService, transport: tuple[BleTransport, list[str]]
) -> None:
    t, _ = transport
    bluez.add_device(mixed_devices()[0])  # BTHome without CO2
    absent = ble_device("bthome-sensor", "A4:C1:38:00:00:99", timeout=0.2)
    readings = await t.read(absent, ["temperature", "humidity"])
    assert [r.ok for r in readings] == [False, False]
    assert "not heard within 0.2 s" in (readings[0].error or "")
    bluez.add_device(mixed_devices()[1])  # an iBeacon cannot be connected to
    beacon = ble_device("sb-th1", "A4:C1:38:00:00:02", timeout=0.5)
    reading = (await t.read(beacon, ["firmware"]))[0]
    assert reading.error is not None and reading.error.startswith(
        "cannot connect: BlueZ answered org.bluez.Error.Failed: le-connection-timeout"
    )
    assert "connectable (not a beacon)" in reading.error
    co2 = ble_device("sensirion-myco2", "A4:C1:38:00:00:01", timeout=0.3)  # wrong template
    got = {r.point: r for r in await t.read(co2, ["temperature", "co2"])}
    assert got["temperature"].ok
    assert "carried no 'co2'" in (got["co2"].error or "")


@needs_dbus
async def test_adapter_problems_are_explained(
    private_bus: PrivateBus, transport: tuple[BleTransport, list[str]]
) -> None:
    t, _ = transport
    dev = ble_device("bthome-sensor", "A4:C1:38:00:00:01", timeout=0.2)
    reading = (await t.read(dev, ["temperature"]))[0]
    assert "BlueZ (org.bluez) is not on the system D-Bus" in (reading.error or "")
    async with BlueZService(private_bus.address, powered=False):
        fresh = BleTransport()
        reading = (await fresh.read(dev, ["temperature"]))[0]
        assert "powered off" in (reading.error or "")
        with pytest.raises(SmartbuildError, match="powered off"):
            await discover(fresh)
        with pytest.raises(SmartbuildError, match="adapter 'hci9' not found"):
            await discover(fresh, adapter="hci9")
        await fresh.aclose()


async def test_no_system_bus_is_explained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, transport: tuple[BleTransport, list[str]]
) -> None:
    address = f"unix:path={tmp_path / 'missing'}"
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    with pytest.raises(SmartbuildError) as err:
        await discover(transport[0])
    assert err.value.message == f"BLE scan: no system D-Bus at {address}"
    assert "DBUS_SYSTEM_BUS_ADDRESS" in (err.value.hint or "")


async def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition (bounded) instead of sleeping a guessed time."""
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    assert check(), "condition not met in time"


def test_docs_name_every_ble_template_and_decoder() -> None:
    from tests.conftest import REPO

    docs = (REPO / "docs" / "ble.md").read_text()
    for name in [*BLE_TEMPLATES, *ble_decode.BACKENDS, ble_decode.DECODERS_ENV]:
        assert f"`{name}" in docs, f"docs/ble.md does not mention {name}"
    for role in ble_decode.ROLES.values():
        assert f"`{role}`" in docs, f"docs/ble.md does not list the role {role}"
