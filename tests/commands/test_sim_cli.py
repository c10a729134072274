"""`smartbuild sim` through the CLI: a real simulator process, real Modbus, mDNS and BLE clients.

One simulator (3 zones, 600x speed) serves the module; commands run in-process with CliRunner
against its site file. Other rigs may share 127.0.0.1 for mDNS, so assertions look only at what
this simulator announced (its names carry its own tag).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smartbuild.sim.launch import SimProcess, free_base

HAVE_DBUS = shutil.which("dbus-daemon") is not None


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    root = tmp_path_factory.mktemp("sim")
    process = SimProcess(root / "home", zones=3, speed=600, start_at="2026-01-15 09:00",
                         base=free_base(), site_out=root / "site.yaml")  # fmt: skip
    process.start()
    yield process
    report = process.stop()
    assert report == {"exit_status": 0, "leftovers": []}


@pytest.fixture
def restore(run: Any, sim: SimProcess) -> Iterator[Callable[..., None]]:
    """Let a test name the points it changes; write their values back after it, pass or fail."""
    saved: list[tuple[str, dict[str, Any]]] = []

    def remember(device: str, *points: str) -> None:
        saved.append((device, read(run, sim, device, *points)))

    yield remember
    for device, values in reversed(saved):
        for point, value in values.items():
            result = run("--site", site(sim), "write", device, point, str(value), "--yes")
            assert result.exit_code == 0, result.output


def site(sim: SimProcess) -> str:
    return str(sim.state["site_file"])


def read(run: Any, sim: SimProcess, device: str, *points: str) -> dict[str, Any]:
    result = run("--json", "--site", site(sim), "read", device, *points)
    assert result.exit_code == 0, result.output
    return {r["point"]: r["value"] for r in json.loads(result.stdout)["readings"]}


def test_site_file_validates_with_every_device_in_a_zone(run: Any, sim: SimProcess) -> None:
    result = run("--json", "validate", site(sim))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"][0]["summary"] == [
        f"site 'sim-building': 4 zones, {sim.state['devices']} devices"  # 3 + the car park
    ]
    result = run("--json", "--site", site(sim), "devices")
    rows = json.loads(result.stdout)["devices"]
    zoned = {r["device"]: r["zone"] for r in rows if r["zone"]}
    assert {zoned[f"th-z0{i}"] for i in (1, 2, 3)} == {"z01", "z02", "z03"}
    assert {r["transport"] for r in rows} >= {"modbus-tcp", "mdns"} | (
        {"ble"} if HAVE_DBUS else set()
    )
    assert sim.state["modbus"]["devices"] == 5 + 2 * 3


def test_read_returns_physics_driven_values(run: Any, sim: SimProcess) -> None:
    th = read(run, sim, "th-z01")
    assert 15 < th["room_temperature"] < 30
    assert (th["heating_setpoint"], th["cooling_setpoint"], th["hvac_mode"]) == (21.0, 24.0, 3)
    meter = read(
        run,
        sim,
        "meter",
        "total_power",
        "voltage_l1",
        "voltage_l1_l2",
        "frequency",
        "import_energy",
    )
    assert meter["total_power"] > 0  # heat pumps, fans and plug loads on a January morning
    assert 220 < meter["voltage_l1"] < 231 and 380 < meter["voltage_l1_l2"] < 400
    assert meter["frequency"] == 50
    co2 = read(run, sim, "co2-z02", "co2")
    assert co2["co2"] >= 420  # outdoor air at least; people add to it
    hp = read(run, sim, "heat-pump", "outdoor_temperature", "power")
    assert -15 < hp["outdoor_temperature"] < 10  # mid-January at 50 °N
    first = now = read(run, sim, "meter", "import_energy")["import_energy"]
    deadline = time.monotonic() + 10
    while now <= first and time.monotonic() < deadline:  # bounded poll: the counter moves on a tick
        time.sleep(0.2)
        now = read(run, sim, "meter", "import_energy")["import_energy"]
    assert now > first


def test_a_written_setpoint_moves_the_zone_temperature(
    run: Any, sim: SimProcess, restore: Callable[..., None]
) -> None:
    restore("th-z02", "heating_setpoint")
    before = read(run, sim, "th-z02", "room_temperature")["room_temperature"]
    result = run("--site", site(sim), "write", "th-z02", "heating_setpoint", "27", "--yes")
    assert result.exit_code == 0, result.output
    assert "written and verified" in result.output
    deadline, now = time.monotonic() + 15, before
    while time.monotonic() < deadline and now < before + 1.0:  # bounded poll, about 1 K/sim-hour
        time.sleep(0.5)
        now = read(run, sim, "th-z02", "room_temperature")["room_temperature"]
    assert now >= before + 1.0
    other = read(run, sim, "th-z03", "room_temperature")["room_temperature"]
    assert other < now


def test_a_value_the_device_refuses_is_reverted(
    run: Any, sim: SimProcess, restore: Callable[..., None]
) -> None:
    restore("ev-charger", "current_limit")
    # the template allows 0-32 A; IEC 61851-1 chargers take 0 or at least 6 A, so 3 A is refused:
    # the register takes it (the read-back at once matches), the charger restores 32 A on its next
    # cycle, and the read after the settle time catches it
    result = run(
        "--site", site(sim), "--json", "write", "ev-charger", "current_limit", "3", "--yes"
    )
    assert result.exit_code == 4, result.output
    outcome = json.loads(result.stdout)["outcome"]
    assert (outcome["status"], outcome["after"]) == ("reverted", 32.0), outcome
    log = json.loads(run("--json", "log", "--run", json.loads(result.stdout)["run"]).stdout)
    assert [e["kind"] for e in log["entries"]] == ["intent", "reverted"]
    deadline, value = time.monotonic() + 10, 3.0
    while time.monotonic() < deadline and value == 3.0:
        time.sleep(0.3)
        value = read(run, sim, "ev-charger", "current_limit")["current_limit"]
    assert value == 32.0


def test_modbus_discovery_finds_and_identifies_every_device(
    run: Any, sim: SimProcess, tmp_path: Path
) -> None:
    copy = tmp_path / "site.yaml"
    copy.write_text(Path(site(sim)).read_text())
    modbus = sim.state["modbus"]
    result = run("--json", "--site", str(copy), "discover", "--modbus", modbus["range"],
                 "--units", "1-3", "--save")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    found = {(c["address"], c["unit"]): c["template"] for c in data["candidates"]}
    gateway = modbus["gateway"]
    assert found[(gateway, 1)] == "eastron-sdm630"
    assert found[(gateway, 2)] == "acme-hp-50"
    assert found[(gateway, 3)] == "acme-ahu-20"
    assert sorted(found.values()).count("acme-th200") == 3
    assert "sunspec-inverter" in found.values() and "acme-evc-22" in found.values()
    assert len(found) == modbus["devices"]
    assert data["saved"] == {"added": [], "present": data["saved"]["present"]}
    assert len(data["saved"]["present"]) == modbus["devices"]


def test_mdns_finds_the_announced_devices(run: Any, sim: SimProcess) -> None:
    mine = {name.split(".")[0] for name in sim.state["mdns"]["services"]}
    result = run("--json", "discover", "--mdns", "--interface", "127.0.0.1",
                 "--expect", str(len(mine)), "--timeout", "8")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ours = [
        c
        for c in data["candidates"]
        if c["transport"] == "mdns" and c["identity"].get("name") in mine
    ]
    templates = {c["identity"]["type"]: c["template"] for c in ours}
    assert templates == {"_shelly._tcp": "shelly-plus-1pm", "_esphomelib._tcp": "esphome-node",
                         "_hap._tcp": "homekit-accessory", "_modbus._tcp": None}  # fmt: skip
    # the gateway's _modbus._tcp announcement is followed into Modbus identification
    chained = [c for c in data["candidates"] if c["transport"] == "modbus-tcp"
               and c["address"] == sim.state["modbus"]["gateway"]]  # fmt: skip
    assert [c["template"] for c in chained] == ["eastron-sdm630"]


@pytest.mark.skipif(not HAVE_DBUS, reason="dbus-daemon is not installed")
def test_ble_sensors_advertise_the_zone_air(
    run: Any, sim: SimProcess, monkeypatch: pytest.MonkeyPatch, restore: Callable[..., None]
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", sim.state["ble"]["bus_address"])
    restore("ble-room-z03", "setpoint")
    restore("th-z03", "heating_setpoint")  # the zone thermostat follows the sensor's setpoint
    result = run("--json", "discover", "--ble", "--until", "3", "--duration", "10")
    assert result.exit_code == 0, result.output
    found = {c["address"]: c["template"] for c in json.loads(result.stdout)["candidates"]}
    assert sorted(found.values()) == ["bthome-sensor", "sb-th1", "sensirion-myco2"]
    ble = read(run, sim, "ble-room-z03", "temperature", "setpoint")
    th = read(run, sim, "th-z03", "room_temperature", "heating_setpoint")
    assert ble["temperature"] == pytest.approx(th["room_temperature"], abs=0.3)  # same zone air
    result = run("--site", site(sim), "write", "ble-room-z03", "setpoint", "23.5", "--yes")
    assert result.exit_code == 0, result.output
    # the zone owns the setpoint: the thermostat shows it at once, not on the next tick
    assert read(run, sim, "th-z03", "heating_setpoint")["heating_setpoint"] == 23.5


@pytest.mark.skipif(not HAVE_DBUS, reason="dbus-daemon is not installed")
def test_writes_through_either_device_of_a_zone_read_back_the_same_on_both(
    run: Any, sim: SimProcess, monkeypatch: pytest.MonkeyPatch, restore: Callable[..., None]
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", sim.state["ble"]["bus_address"])
    restore("th-z03", "heating_setpoint")
    values = [21.5, 19.0, 22.5, 20.0, 23.0, 18.5]
    for i, value in enumerate(values):  # alternate the device written; ticks run in between
        device, point = [("ble-room-z03", "setpoint"), ("th-z03", "heating_setpoint")][i % 2]
        result = run("--json", "--site", site(sim), "write", device, point, str(value), "--yes")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["outcome"]["status"] == "written", result.output
        ble = read(run, sim, "ble-room-z03", "setpoint")["setpoint"]
        th = read(run, sim, "th-z03", "heating_setpoint")["heating_setpoint"]
        assert (ble, th) == (value, value), f"write {i} through {device}"
    time.sleep(0.3)  # a few ticks later neither device's old value has come back
    assert read(run, sim, "ble-room-z03", "setpoint")["setpoint"] == values[-1]
    assert read(run, sim, "th-z03", "heating_setpoint")["heating_setpoint"] == values[-1]


@pytest.mark.parametrize(("args", "message"), [
    (["--zones", "0"], "--zones must be between 1 and 1000, got 0"),
    (["--zones", "100000"], "--zones must be between 1 and 1000"),
    (["--speed", "0"], "--speed must be above 0"),
    (["--speed", "1e9"], "--speed must be above 0 and at most 3600"),
    (["--base", "203.0.113.3"], "is not a loopback address"),
    (["--base", "127.255.255.250", "--zones", "50"], "127.0.0.0/8 has no room"),
    (["--start", "yesterday"], "invalid --start"),
])  # fmt: skip
def test_bad_input_is_refused_before_anything_starts(
    run: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(
        "--home",
        str(tmp_path / "h"),
        "sim",
        "--no-ble",
        "--no-mdns",
        "--site-out",
        str(tmp_path / "s.yaml"),
        *args,
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "s.yaml").exists()
    assert not (tmp_path / "h" / "sim.json").exists()


def test_a_second_simulator_of_the_same_home_is_refused(
    run: Any, sim: SimProcess, tmp_path: Path
) -> None:
    result = run(
        "--home",
        str(sim.home),
        "sim",
        "--no-ble",
        "--base",
        free_base(),
        "--site-out",
        str(tmp_path / "s.yaml"),
    )
    assert result.exit_code == 2, result.output
    assert f"a simulator is already running for {sim.home} (pid {sim.state['pid']}" in result.stderr
    assert json.loads((sim.home / "sim.json").read_text())["pid"] == sim.state["pid"]


def test_ports_in_use_leave_nothing_half_started(run: Any, sim: SimProcess, tmp_path: Path) -> None:
    home = tmp_path / "other"
    result = run("--home", str(home), "sim", "--no-ble", "--base", sim.state["base"],
                 "--site-out", str(tmp_path / "s.yaml"))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"cannot listen on {sim.state['base']}:5020: the address is in use" in result.stderr
    assert "pick another --base or --port" in result.stderr
    assert not (home / "sim.json").exists() and not (tmp_path / "s.yaml").exists()
    # the lock was released: the same home starts fine elsewhere (and is refused again by bad input)
    again = run("--home", str(home), "sim", "--zones", "0")
    assert "already running" not in again.stderr


def test_missing_dbus_daemon_skips_ble_or_fails_cleanly(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no dbus-daemon on it
    home = tmp_path / "h"
    result = run("--home", str(home), "sim", "--ble", "--zones", "1", "--base", free_base(),
                 "--site-out", str(tmp_path / "s.yaml"))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert (
        "dbus-daemon is not installed" in result.stderr
        and "apt-get install dbus-daemon" in result.stderr
    )
    assert not (home / "sim.json").exists()
    process = SimProcess(tmp_path / "auto", zones=1, base=free_base(), extra=["--no-mdns"])
    try:  # the child inherits the PATH without dbus-daemon
        process.start()
        assert process.state["ble"] is None
        assert "BLE skipped: dbus-daemon is not installed" in process.log()
    finally:
        report = process.stop()
    assert report == {"exit_status": 0, "leftovers": []}


@pytest.mark.skipif(not HAVE_DBUS, reason="dbus-daemon is not installed")
def test_sigterm_stops_everything(tmp_path: Path) -> None:
    process = SimProcess(tmp_path / "h", zones=2, base=free_base(), site_out=tmp_path / "site.yaml")
    state = process.start()
    bus = Path(state["ble"]["bus_address"].removeprefix("unix:path="))
    assert bus.exists() and (tmp_path / "h" / "sim.json").exists()
    report = process.stop()
    assert report == {"exit_status": 0, "leftovers": []}
    assert not bus.exists() and not bus.parent.exists()  # the private bus and its directory
    assert not (tmp_path / "h" / "sim.json").exists() and not (tmp_path / "h" / "sim.lock").exists()
    assert "simulator stopped" in process.log()


def test_bacnet_devices_join_the_site(run: Any, sim: SimProcess) -> None:
    pytest.importorskip("bacpypes3", reason="BACnet needs the bacnet extra")
    addresses = [d["address"] for d in sim.state["bacnet"]["devices"]]
    args = [a for address in addresses for a in ("--bacnet-target", address)]
    result = run("--json", "--site", site(sim), "discover", *args, "--save")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(c["template"] for c in data["candidates"]) == ["acme-ahu-b1", "acme-vav-b1"]
    assert len(data["saved"]["present"]) == 2  # the simulator's site file has them already
    before = read(run, sim, "vav-box")["zone_temperature"]
    written = run(
        "--json", "--site", site(sim), "write", "vav-box", "heating_setpoint", "26", "--yes"
    )
    assert written.exit_code == 0, written.output
    try:
        deadline = time.monotonic() + 10
        while read(run, sim, "vav-box")["zone_temperature"] <= before + 0.5:
            assert time.monotonic() < deadline, "the VAV box's room did not warm up"
            time.sleep(0.3)
    finally:
        undo = run("--site", site(sim), "rollback", json.loads(written.stdout)["run"], "--yes")
        assert undo.exit_code == 0, undo.output


def test_read_through_the_config_cache_matches_the_raw_registers(
    sim: SimProcess, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SMARTBUILD_HOME": str(tmp_path / "home")}
    base = [sys.executable, "-m", "smartbuild", "--json", "--site", site(sim)]
    points = ("heating_setpoint", "cooling_setpoint", "hvac_mode")
    runs = []
    for extra in ({"SMARTBUILD_NO_CACHE": "1"}, {}, {}):  # no cache, cold (writes it), cached
        done = subprocess.run([*base, "read", "th-z01", *points], capture_output=True, text=True,
                              env={**env, **extra}, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        runs.append({r["point"]: r["raw"] for r in json.loads(done.stdout)["readings"]})
    assert list((tmp_path / "home" / "cache").glob("site-*.pickle"))
    import yaml

    address = yaml.safe_load(Path(site(sim)).read_text())["devices"]["th-z01"]["address"]
    raw = subprocess.run([*base, "read", "--raw", address, "--address", "10", "--count", "3"],
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert raw.returncode == 0, raw.stderr
    registers = json.loads(raw.stdout)["registers"]
    # setpoints change only by writes: every run saw the registers the raw read sees
    assert runs[0] == runs[1] == runs[2] == dict(zip(points, registers, strict=True))
