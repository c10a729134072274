"""The simulated BlueZ against the real, unmodified bleak BlueZ backend."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from bleak.args.bluez import OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakDBusError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from bleparser import BleParser
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

import smartbuild
from smartbuild.sim.peers import adverts
from smartbuild.sim.peers.bluez import (
    BlueZService,
    SimBleDevice,
    demo_devices,
    sensor_device,
    wait_for_bluez,
)
from smartbuild.sim.peers.bluez_devices import SETPOINT_CHAR_UUID
from smartbuild.sim.peers.dbusd import PrivateBus

pytestmark = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None,
    reason="dbus-daemon is not installed (apt-get install dbus-daemon)",
)

U = adverts.normalize_uuid
Seen = dict[str, tuple[BLEDevice, AdvertisementData]]


async def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition (bounded) instead of sleeping a guessed time."""
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    assert check(), "condition not met in time"


def recorder() -> tuple[Seen, Callable[[BLEDevice, AdvertisementData], None]]:
    seen: Seen = {}

    def callback(device: BLEDevice, adv: AdvertisementData) -> None:
        seen[device.address] = (device, adv)

    return seen, callback


def decode(address: str, adv: AdvertisementData) -> dict[str, object]:
    """Decode what bleak received with bleparser, as a transport would."""
    advert = adverts.Advert(
        adv.local_name,
        adv.manufacturer_data,
        adv.service_data,
        tuple(adv.service_uuids),
        adv.tx_power,
    )
    report = adverts.hci_le_advertising_report(address, advert, adv.rssi)
    sensor, _ = BleParser().parse_raw_data(report)
    assert sensor is not None
    return sensor


def mixed(interval_s: float = 0.1) -> list[SimBleDevice]:
    """Return fresh devices of five advert formats (the tests mutate them)."""
    return [
        SimBleDevice(
            "A4:C1:38:00:00:01",
            **adverts.bthome_v2(temperature=21.37, humidity=45.5, battery=87, name="TH-1").fields(),
            rssi=-51,
            interval_s=interval_s,
        ),
        SimBleDevice(
            "A4:C1:38:00:00:02",
            **adverts.ibeacon("e2c56db5-dffb-48d2-b060-d0f5a71096e0", 7, 9).fields(),
            rssi=-70,
            interval_s=interval_s,
        ),
        SimBleDevice(
            "A4:C1:38:00:00:03",
            **adverts.govee_h5075(-5.3, 44.2, 88).fields(),
            rssi=-80,
            interval_s=interval_s,
        ),
        SimBleDevice(
            "A4:C1:38:00:00:04",
            **adverts.mibeacon("A4:C1:38:00:00:04", temperature=22.5, humidity=40.0).fields(),
            rssi=-64,
            interval_s=interval_s,
        ),
        SimBleDevice(
            "A4:C1:38:00:00:05",
            **adverts.eddystone_uid(bytes(10), bytes(6)).fields(),
            rssi=-90,
            interval_s=interval_s,
        ),
    ]


async def test_active_scan_reports_typed_advert_data(bluez: BlueZService) -> None:
    devices = mixed()
    for device in devices:
        bluez.add_device(device)
    seen, callback = recorder()
    async with BleakScanner(callback):
        await wait_until(lambda: len(seen) == len(devices))
    assert bluez.stats.calls["StartDiscovery"] == 1
    assert bluez.stats.calls["StopDiscovery"] == 1
    for sim in devices:
        device, adv = seen[sim.address]
        assert adv.rssi == sim.rssi
        assert adv.manufacturer_data == sim.manufacturer_data
        assert adv.service_data == sim.service_data
        assert set(adv.service_uuids) == set(sim.service_uuids) | set(sim.service_data)
        assert device.name == sim.name  # None when the device sends no name
    assert decode("A4:C1:38:00:00:01", seen["A4:C1:38:00:00:01"][1])["temperature"] == 21.37
    assert decode("A4:C1:38:00:00:02", seen["A4:C1:38:00:00:02"][1])["major"] == 7
    assert decode("A4:C1:38:00:00:03", seen["A4:C1:38:00:00:03"][1])["temperature"] == -5.3
    assert decode("A4:C1:38:00:00:04", seen["A4:C1:38:00:00:04"][1])["humidity"] == 40.0


async def test_500_devices_are_all_seen_in_one_short_scan(bluez: BlueZService) -> None:
    devices = demo_devices(500, interval_s=1.0)
    for device in devices:
        bluez.add_device(device)
    seen, callback = recorder()
    async with BleakScanner(callback):
        await wait_until(lambda: len(seen) == 500, timeout=10)
    assert set(seen) == {d.address for d in devices}
    assert {adv.local_name for _, adv in seen.values()} == {d.name for d in devices}
    assert bluez._bus is not None and bluez._bus.connected


async def test_changed_readings_reach_a_running_scan(bluez: BlueZService) -> None:
    address = "A4:C1:38:00:00:11"
    fields = adverts.bthome_v2(temperature=20.0).fields()
    bluez.add_device(SimBleDevice(address, interval_s=0.02, **fields))
    seen, callback = recorder()
    async with BleakScanner(callback):
        await wait_until(lambda: address in seen)
        new = adverts.bthome_v2(temperature=23.5)
        bluez.update_advert(address, service_data=new.service_data, rssi=-42)
        await wait_until(lambda: seen[address][1].rssi == -42)
    assert decode(address, seen[address][1])["temperature"] == 23.5


async def test_passive_scan_reports_only_devices_matching_the_patterns(
    bluez: BlueZService,
) -> None:
    for device in mixed(interval_s=0.02):
        bluez.add_device(device)
    bthome = OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xd2\xfc")
    seen, callback = recorder()
    async with BleakScanner(callback, scanning_mode="passive", bluez={"or_patterns": [bthome]}):
        await wait_until(lambda: "A4:C1:38:00:00:01" in seen)
        # several more advert rounds: none of them may come from other devices
        await wait_until(lambda: bluez.stats.adverts >= 5)
    assert set(seen) == {"A4:C1:38:00:00:01"}
    assert bluez.stats.calls["RegisterMonitor"] == 1
    assert bluez.stats.calls["UnregisterMonitor"] == 1
    assert bluez.stats.calls["StartDiscovery"] == 0


async def test_connect_read_write_notify_disconnect(bluez: BlueZService) -> None:
    sim = sensor_device("5A:0B:00:00:00:01", model="SB-TH1", battery=90)
    bluez.add_device(sim)
    device = await BleakScanner.find_device_by_address(sim.address, timeout=5)
    assert device is not None
    notified: asyncio.Queue[bytes] = asyncio.Queue()
    async with BleakClient(device) as client:
        assert await client.read_gatt_char(U("2a29")) == b"smartbuild"
        assert await client.read_gatt_char(U("2a24")) == b"SB-TH1"
        assert await client.read_gatt_char(U("2a19")) == bytes([90])
        assert {s.uuid for s in client.services} == {s.uuid for s in sim.gatt}

        await client.write_gatt_char(SETPOINT_CHAR_UUID, b"\x10\x09", response=True)
        assert await client.read_gatt_char(SETPOINT_CHAR_UUID) == b"\x10\x09"
        with pytest.raises(BleakGATTProtocolError) as wrong_size:
            await client.write_gatt_char(SETPOINT_CHAR_UUID, b"\x01", response=True)
        assert wrong_size.value.code == BleakGATTProtocolErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH

        battery = client.services.get_characteristic(U("2a19"))
        assert battery is not None
        cccd = battery.get_descriptor(U("2902"))
        assert cccd is not None
        await client.start_notify(battery, lambda _c, data: notified.put_nowait(bytes(data)))
        assert await client.read_gatt_descriptor(cccd) == b"\x01\x00"
        assert bluez.set_char_value(sim.address, "2a19", b"\x4b")
        assert await asyncio.wait_for(notified.get(), 5) == b"\x4b"
        await client.stop_notify(U("2a19"))
        assert not bluez.set_char_value(sim.address, "2a19", b"\x4a")
    assert not client.is_connected
    assert bluez.stats.writes[(sim.address, SETPOINT_CHAR_UUID)] == 1
    assert bluez.stats.reads[(sim.address, SETPOINT_CHAR_UUID)] == 1
    assert bluez.stats.calls["Connect"] == 1
    assert bluez.stats.calls["Disconnect"] == 1
    assert bluez.stats.notifications == 1
    assert sim.gatt[3].characteristics[0].value == b"\x10\x09"  # the device remembers


async def test_pair_connects_first(bluez: BlueZService) -> None:
    sim = sensor_device("5A:0B:00:00:00:02")
    bluez.add_device(sim)
    device = await BleakScanner.find_device_by_address(sim.address, timeout=5)
    assert device is not None
    async with BleakClient(device, pair=True) as client:
        assert client.is_connected
        assert await client.read_gatt_char(U("2a26")) == b"1.0.0"
    assert bluez.stats.calls["Pair"] == 1
    assert bluez.stats.calls["Connect"] == 0
    await client.unpair()  # RemoveDevice: gone from BlueZ, still in range
    assert bluez.stats.calls["RemoveDevice"] == 1
    again = await BleakScanner.find_device_by_address(sim.address, timeout=5)
    assert again is not None


async def test_injected_read_in_progress_is_retried_by_bleak(bluez: BlueZService) -> None:
    sim = sensor_device("5A:0B:00:00:00:03")
    bluez.add_device(sim)
    device = await BleakScanner.find_device_by_address(sim.address, timeout=5)
    assert device is not None
    async with BleakClient(device) as client:
        bluez.inject_error("ReadValue", count=2)
        assert await client.read_gatt_char(U("2a29")) == b"smartbuild"
        bluez.inject_error(
            "WriteValue", "org.bluez.Error.Failed", "Operation failed with ATT error: 0x0e"
        )
        with pytest.raises(BleakGATTProtocolError) as err:
            await client.write_gatt_char(SETPOINT_CHAR_UUID, b"\x00\x08", response=True)
        assert err.value.code == BleakGATTProtocolErrorCode.UNLIKELY_ERROR
    assert bluez.stats.calls["ReadValue"] == 3
    assert bluez.stats.writes[(sim.address, SETPOINT_CHAR_UUID)] == 0


async def test_power_off_drops_connections(bluez: BlueZService) -> None:
    sim = sensor_device("5A:0B:00:00:00:04")
    bluez.add_device(sim)
    device = await BleakScanner.find_device_by_address(sim.address, timeout=5)
    assert device is not None
    dropped = asyncio.Event()
    client = BleakClient(device, disconnected_callback=lambda _c: dropped.set())
    await client.connect()
    bluez.set_powered(False)
    await asyncio.wait_for(dropped.wait(), 5)
    assert not client.is_connected
    await client.disconnect()


async def test_connect_to_a_non_connectable_device_fails(bluez: BlueZService) -> None:
    beacon = mixed()[1]
    bluez.add_device(beacon)
    device = await BleakScanner.find_device_by_address(beacon.address, timeout=5)
    assert device is not None
    with pytest.raises(BleakDBusError) as err:
        await BleakClient(device).connect(timeout=5)
    assert err.value.dbus_error == "org.bluez.Error.Failed"
    assert bluez.stats.calls["Connect"] == 1


async def test_powered_off_adapter_is_reported_as_not_available(bluez: BlueZService) -> None:
    bluez.set_powered(False)
    await bluez.wait_idle()
    with pytest.raises(BleakBluetoothNotAvailableError):
        await BleakScanner.discover(timeout=0.05)
    bluez.set_powered(True)
    sensor = mixed()[0]
    bluez.add_device(sensor)
    found = None
    for _ in range(100):  # bleak sees Powered=True once it has read the signal
        try:
            found = await BleakScanner.find_device_by_address(sensor.address, timeout=5)
            break
        except BleakBluetoothNotAvailableError:
            await asyncio.sleep(0.01)
    assert found is not None
    assert bluez.stats.calls["StartDiscovery"] == 1  # refused scans never reach BlueZ


async def test_service_starting_powered_off(private_bus: PrivateBus) -> None:
    async with BlueZService(private_bus.address, powered=False):
        with pytest.raises(BleakBluetoothNotAvailableError):
            await BleakScanner.discover(timeout=0.05)


async def test_no_bluez_on_the_bus_is_a_dbus_service_unknown(private_bus: PrivateBus) -> None:
    with pytest.raises(BleakDBusError) as err:
        await BleakScanner.discover(timeout=0.05)
    assert err.value.dbus_error == "org.freedesktop.DBus.Error.ServiceUnknown"


async def test_no_bus_at_all_is_file_not_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'missing'}")
    with pytest.raises(FileNotFoundError):
        await BleakScanner.discover(timeout=0.05)


async def test_injected_in_progress_fails_only_the_next_start(bluez: BlueZService) -> None:
    sensor = mixed()[0]
    bluez.add_device(sensor)
    bluez.inject_error("StartDiscovery")
    with pytest.raises(BleakDBusError) as err:
        await BleakScanner.discover(timeout=0.05)
    assert err.value.dbus_error == "org.bluez.Error.InProgress"
    found = await BleakScanner.find_device_by_address(sensor.address, timeout=5)
    assert found is not None
    assert bluez.stats.calls["StartDiscovery"] == 2
    assert not bluez.discovering


async def test_removed_device_disappears_from_the_scanner(bluez: BlueZService) -> None:
    first, second = mixed()[:2]
    bluez.add_device(first)
    bluez.add_device(second)
    async with BleakScanner() as scanner:
        await wait_until(lambda: len(scanner.discovered_devices) == 2)
        bluez.remove_device(first.address)
        await wait_until(lambda: len(scanner.discovered_devices) == 1)
    assert scanner.discovered_devices[0].address == second.address


async def test_discovery_session_ends_when_its_client_goes(bluez: BlueZService) -> None:
    client = await MessageBus(bus_address=bluez.bus_address).connect()
    reply = await client.call(
        Message(
            destination="org.bluez",
            path=bluez.adapter_path,
            interface="org.bluez.Adapter1",
            member="StartDiscovery",
        )
    )
    assert reply.message_type == MessageType.METHOD_RETURN
    again = await client.call(
        Message(
            destination="org.bluez",
            path=bluez.adapter_path,
            interface="org.bluez.Adapter1",
            member="StartDiscovery",
        )
    )
    assert again.error_name == "org.bluez.Error.InProgress"
    assert bluez.discovering
    client.disconnect()
    await wait_until(lambda: not bluez.discovering)


async def test_service_runs_as_a_separate_process(private_bus: PrivateBus) -> None:
    src = str(Path(smartbuild.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    cmd = [sys.executable, "-m", "smartbuild.sim.peers.bluez", "--bus-address", private_bus.address]
    proc = subprocess.Popen(
        [*cmd, "--demo", "3", "--interval", "0.05"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_for_bluez(private_bus.address, timeout=10)
        seen, callback = recorder()
        async with BleakScanner(callback):
            await wait_until(lambda: len(seen) == 3)
        assert sorted(adv.local_name or "" for _, adv in seen.values()) == [
            "SB-TH1-0000",
            "SB-TH1-0001",
            "SB-TH1-0002",
        ]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
