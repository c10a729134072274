"""BLE end to end through the CLI: discover, save, read, write, watch, against real bleak and the simulated BlueZ.

CliRunner runs each command (and its event loop) in the test thread, so the simulated BlueZ runs
on its own loop in a background thread, on a private dbus-daemon.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from smartbuild.sim.peers import adverts
from smartbuild.sim.peers.bluez import BlueZService, SimBleDevice, sensor_device
from smartbuild.sim.peers.bluez_devices import SETPOINT_CHAR_UUID
from smartbuild.sim.peers.dbusd import PrivateBus
from tests.transports.ble.test_transport import mixed_devices

pytestmark = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None,
    reason="dbus-daemon is not installed (apt-get install dbus-daemon)",
)
T = TypeVar("T")
SENSOR = "5A:0B:00:00:00:01"


class ThreadedBlueZ:
    """The simulated BlueZ on its own event loop in a daemon thread."""

    def __init__(self, bus_address: str, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = BlueZService(bus_address, **options)
        self._run(self.service.start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def call(self, fn: Callable[[BlueZService], T]) -> T:
        """Run fn(service) on the rig's loop and return its result."""

        async def go() -> T:
            return fn(self.service)

        return self._run(go())

    def add(self, *devices: SimBleDevice) -> None:
        """Put devices in range."""
        self.call(lambda s: [s.add_device(d) for d in devices])

    def stop(self) -> None:
        """Stop the service and the loop."""
        self._run(self.service.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateBus]:
    with PrivateBus() as private:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private.address)
        yield private


@pytest.fixture
def rig(bus: PrivateBus) -> Iterator[ThreadedBlueZ]:
    threaded = ThreadedBlueZ(bus.address)
    yield threaded
    threaded.stop()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return tmp_path / "site.yaml"


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def candidates(result: Any) -> dict[str, dict[str, Any]]:
    return {c["address"]: c for c in json.loads(result.stdout)["candidates"]}


def test_discover_json_decodes_and_identifies_every_format(run: Any, rig: ThreadedBlueZ) -> None:
    eddystone = adverts.eddystone_uid(bytes(range(10)), bytes(6))
    rig.add(
        *mixed_devices(),
        sensor_device(SENSOR, temperature=22.25),
        SimBleDevice("A4:C1:38:00:00:07", **eddystone.fields()),
    )
    found = candidates(ok(run("--json", "discover", "--ble", "--until", "8")))
    assert {a: c["template"] for a, c in found.items()} == {
        "A4:C1:38:00:00:01": "bthome-sensor",
        "A4:C1:38:00:00:02": "ibeacon",
        "A4:C1:38:00:00:03": "govee-h5075",
        "A4:C1:38:00:00:04": "xiaomi-lywsdcgq",
        "A4:C1:38:00:00:05": "sensirion-myco2",
        "A4:C1:38:00:00:06": None,
        "A4:C1:38:00:00:07": None,
        SENSOR: "sb-th1",
    }
    readings = {a: c["extra"]["readings"] for a, c in found.items()}
    assert readings["A4:C1:38:00:00:01"]["temperature"] == {
        "value": 21.37,
        "unit": "°C",
        "role": "zone_air_temperature",
    }
    assert readings["A4:C1:38:00:00:02"]["beacon_uuid"]["value"] == (
        "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
    )
    assert readings["A4:C1:38:00:00:03"]["humidity"] == {
        "value": 44.2,
        "unit": "%",
        "role": "zone_relative_humidity",
    }
    assert readings["A4:C1:38:00:00:04"]["temperature"]["value"] == 22.5
    assert readings["A4:C1:38:00:00:05"]["co2"] == {"value": 812, "unit": "ppm", "role": "zone_co2"}
    assert readings[SENSOR]["temperature"]["value"] == 22.25
    assert readings["A4:C1:38:00:00:06"]["raw"] == {
        "value": "0x1234:0102",
        "unit": None,
        "role": None,
    }
    assert readings["A4:C1:38:00:00:07"]["eddystone_namespace"]["value"] == "00010203040506070809"
    assert found["A4:C1:38:00:00:07"]["identity"]["eddystone_instance"] == "000000000000"
    assert found[SENSOR]["identity"]["decoder_type"] == "BTHome"
    assert found[SENSOR]["extra"]["rssi"] == -60


def test_discover_until_passive_and_adapter(run: Any, rig: ThreadedBlueZ) -> None:
    rig.add(*mixed_devices(interval_s=0.02))
    assert len(candidates(ok(run("--json", "discover", "--ble", "--until", "3")))) == 3
    passive = candidates(ok(run("--json", "discover", "--ble", "--passive", "--duration", "0.4")))
    assert "A4:C1:38:00:00:06" not in passive and "A4:C1:38:00:00:01" in passive
    assert rig.call(lambda s: s.stats.calls["RegisterMonitor"]) == 1
    hci0 = ok(run("--json", "discover", "--ble", "--adapter", "hci0", "--until", "1"))
    assert len(candidates(hci0)) == 1
    missing = run("--json", "discover", "--ble", "--adapter", "hci1", "--duration", "0.2")
    assert missing.exit_code == 2, missing.output
    assert "adapter 'hci1' not found" in json.loads(missing.stdout)["errors"][0]
    # the same mistake with the other radio-like option gives the same exit status
    unknown_interface = run("--json", "discover", "--mdns", "--interface", "nosuch0")
    assert unknown_interface.exit_code == missing.exit_code, unknown_interface.output
    assert rig.call(lambda s: s.stats.calls["StartDiscovery"]) == 2


def test_save_then_read_decoded_values_and_gatt(run: Any, rig: ThreadedBlueZ, site: Path) -> None:
    rig.add(*mixed_devices(), sensor_device(SENSOR, battery=81, model="SB-TH1"))
    ok(run("--site", str(site), "discover", "--ble", "--adapter", "hci0", "--until", "7", "--save"))
    devices = yaml.safe_load(site.read_text())["devices"]
    assert {d["adapter"] for d in devices.values()} == {"hci0"}  # reads use the radio that heard it
    assert sorted(devices) == [
        "bthome-sensor-a4-c1-38-00-00-01",
        "govee-h5075-a4-c1-38-00-00-03",
        "ibeacon-a4-c1-38-00-00-02",
        "sb-th1-5a-0b-00-00-00-01",
        "sensirion-myco2-a4-c1-38-00-00-05",
        "xiaomi-lywsdcgq-a4-c1-38-00-00-04",
    ]  # the unknown advert is listed by discover but has no template to save
    govee = json.loads(
        ok(run("--site", str(site), "--json", "read", "govee-h5075-a4-c1-38-00-00-03")).stdout
    )
    values = {r["point"]: (r["value"], r["unit"]) for r in govee["readings"]}
    assert values == {
        "temperature": (-5.3, "°C"),
        "humidity": (44.2, "%"),
        "battery": (88, "%"),
        "rssi": (-80, "dBm"),
    }
    gatt = json.loads(
        ok(
            run("--site", str(site), "--json", "read", "sb-th1-5a-0b-00-00-00-01",
                "manufacturer", "model", "firmware", "battery_level")
        ).stdout
    )  # fmt: skip
    assert [r["value"] for r in gatt["readings"]] == ["smartbuild", "SB-TH1", "1.0.0", 81]
    assert gatt["devices"]["sb-th1-5a-0b-00-00-00-01"]["errors"] == 0
    assert rig.call(lambda s: s.stats.calls["Connect"]) == 1


def _sensor_site(
    site: Path, address: str = SENSOR, timeout: float | None = None, adapter: str | None = None
) -> str:
    extra = f", timeout: {timeout}" if timeout else ""
    extra += f", adapter: {adapter}" if adapter else ""
    site.write_text(
        "site: test\ndevices:\n"
        f"  th: {{template: sb-th1, transport: ble, address: '{address}'{extra}}}\n"
    )
    return str(site)


def test_write_setpoint_reads_back_and_journals(run: Any, rig: ThreadedBlueZ, site: Path) -> None:
    sim = sensor_device(SENSOR, setpoint=20.0)
    rig.add(sim)
    path = _sensor_site(site)
    outcome = json.loads(ok(run("--site", path, "--json", "write", "th", "setpoint", "21.5", "--yes")).stdout)  # fmt: skip
    assert outcome["outcome"]["status"] == "written"
    assert (outcome["outcome"]["before"], outcome["outcome"]["after"]) == (20.0, 21.5)
    assert rig.call(lambda s: s.devices[SENSOR].gatt[3].characteristics[0].value) == struct.pack(
        "<h", 2150
    )
    log = json.loads(ok(run("--json", "log", "--last")).stdout)
    assert [(e["kind"], e["before"], e["requested"], e["after"]) for e in log["entries"]] == [
        ("intent", 20.0, 21.5, None),
        ("written", 20.0, 21.5, 21.5),
    ]
    assert log["run"]["status"] == "ok"
    refused = run("--site", path, "write", "th", "setpoint", "35", "--yes")
    assert refused.exit_code == 5, refused.output
    assert "above the maximum 30" in refused.output
    stats = rig.call(lambda s: (s.stats.writes[(SENSOR, SETPOINT_CHAR_UUID)], s.stats.calls["Connect"]))  # fmt: skip
    assert stats == (1, 1)  # one write; the refused one never connected


def test_watch_json_lines(run: Any, rig: ThreadedBlueZ, site: Path) -> None:
    rig.add(sensor_device(SENSOR, temperature=19.5, interval_s=0.02))
    path = _sensor_site(site)
    result = ok(run("--site", path, "--json", "watch", "th", "--count", "3", "--interval", "0.05"))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    temperatures = [row for row in lines if row["point"] == "temperature"]
    assert len(temperatures) >= 3  # three refreshes, plus what the advert stream pushed
    assert {(r["device"], r["value"], r["unit"]) for r in temperatures} == {("th", 19.5, "°C")}
    assert {r["point"] for r in lines} >= {"setpoint", "manufacturer", "humidity"}
    assert all("error" not in r for r in lines), lines
    assert not rig.call(lambda s: s.discovering)  # every scan was stopped


def test_unreachable_device_or_adapter_read_exits_3(
    run: Any, rig: ThreadedBlueZ, site: Path
) -> None:
    path = _sensor_site(site, "5A:0B:00:00:00:99", timeout=0.2)
    result = run("--site", path, "--json", "read", "th", "temperature", "setpoint")
    assert result.exit_code == 3, result.output
    errors = [r["error"] for r in json.loads(result.stdout)["readings"]]
    assert len(errors) == 2 and all("not heard within 0.2 s" in e for e in errors)
    rig.add(sensor_device(SENSOR))
    path = _sensor_site(site, adapter="hci1")  # the site's adapter is the one used
    other = run("--site", path, "--json", "read", "th", "temperature")
    assert other.exit_code == 3, other.output
    assert "adapter 'hci1' not found" in json.loads(other.stdout)["readings"][0]["error"]
    path = _sensor_site(site, adapter="hci0")
    ok(run("--site", path, "read", "th", "temperature"))


def test_adapter_powered_off_and_no_bluez(run: Any, bus: PrivateBus) -> None:
    nothing = run("--json", "discover", "--ble", "--duration", "0.2")
    assert nothing.exit_code == 3, nothing.output
    assert "BlueZ (org.bluez) is not on the system D-Bus" in json.loads(nothing.stdout)["errors"][0]
    rig = ThreadedBlueZ(bus.address, powered=False)
    try:
        off = run("--json", "discover", "--ble", "--duration", "0.2")
        assert off.exit_code == 3, off.output
        error = json.loads(off.stdout)["errors"][0]
        assert "powered off" in error and "bluetoothctl power on" in error
    finally:
        rig.stop()


def test_garbage_adverts_are_listed_raw(run: Any, rig: ThreadedBlueZ) -> None:
    rig.add(
        SimBleDevice("A4:C1:38:00:01:01", manufacturer_data={0x004C: b"\x02\x15\x01"}),
        SimBleDevice("A4:C1:38:00:01:02", service_data={"fcd2": b"\x40\x02\xca"}),
        SimBleDevice("A4:C1:38:00:01:03", manufacturer_data={0x004C: b""}),
        SimBleDevice("A4:C1:38:00:01:04", manufacturer_data={0xFFFF: bytes(range(30))}),
    )
    found = candidates(ok(run("--json", "discover", "--ble", "--until", "4")))
    assert found["A4:C1:38:00:01:01"]["extra"]["raw"]["manufacturer_data"] == {"0x004c": "021501"}
    assert found["A4:C1:38:00:01:02"]["extra"]["raw"]["service_data"] == {"fcd2": "4002ca"}
    assert found["A4:C1:38:00:01:03"]["extra"]["readings"]["raw"]["value"] == "0x004c:"
    assert found["A4:C1:38:00:01:03"]["extra"]["decode_errors"][0].startswith(
        "bleparser: IndexError"
    )
    assert all(c["template"] is None for c in found.values())
    table = ok(run("discover", "--ble", "--until", "4"))
    assert "raw=0xffff:000102" in table.output.replace("\n", "").replace(" ", "")


def test_a_missing_dbus_is_explained_once_per_run(
    run: Any, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    site.write_text(
        "site: test\nzones:\n  z1: {}\ndevices:\n"
        f"  th: {{template: sb-th1, transport: ble, address: '{SENSOR}', zone: z1}}\n"
        "  other: {template: bthome-sensor, transport: ble, address: '5A:0B:00:00:00:77', zone: z1}\n"
    )
    result = run("--site", str(site), "--json", "read", "--zone", "z1")
    assert result.exit_code == 3, result.output
    errors = {r["error"] for r in json.loads(result.stdout)["readings"]}
    assert errors == {f"read: no system D-Bus at unix:path={tmp_path / 'no-bus'}"}
    warnings = [line for line in result.stderr.splitlines() if "no system D-Bus" in line]
    assert len(warnings) == 1 and "DBUS_SYSTEM_BUS_ADDRESS" in warnings[0]  # the hint, once
