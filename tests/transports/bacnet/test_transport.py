"""BACnet/IP through the CLI against real bacpypes3 devices on loopback.

Discovery, ReadPropertyMultiple reads, writes at a priority, rollback by relinquish, a higher
priority overriding us, devices that reject, abort or disappear, and change-of-value watching.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.transports.bacnet.rig import Rig, bd, next_port, serving, site_with

VAV, AHU = "vav", "ahu"


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if result.stdout.strip().startswith("{") else result


@pytest.fixture
def rig() -> Iterator[Rig]:
    with serving() as r:
        yield r


@pytest.fixture
def plant(rig: Rig, tmp_path: Path) -> tuple[Rig, bd.SimBacnetDevice, bd.SimBacnetDevice, Path]:
    """A VAV box and an AHU, and a site file with both."""
    vav = rig.add(bd.vav_box("127.0.0.2", next_port()))
    ahu = rig.add(bd.ahu("127.0.0.3", next_port()))
    site = site_with(tmp_path / "site.yaml", {VAV: ("acme-vav-b1", vav.address),
                                              AHU: ("acme-ahu-b1", ahu.address)})  # fmt: skip
    return rig, vav, ahu, site


def test_discover_identifies_and_saves_devices(run, rig, tmp_path):
    vav = rig.add(bd.vav_box("127.0.0.2", next_port()))
    ahu = rig.add(bd.ahu("127.0.0.3", next_port(), instance=2002))
    site = tmp_path / "site.yaml"
    found = ok(run("--json", "--site", str(site), "discover", "--bacnet-target", vav.address,
                   "--bacnet-target", ahu.address, "--bacnet-target", f"127.0.0.4:{next_port()}",
                   "--timeout", "0.3", "--save"))  # fmt: skip
    by_address = {c["address"]: c for c in found["candidates"]}
    assert set(by_address) == {vav.address, ahu.address}  # the silent third is not a device
    assert by_address[vav.address]["template"] == "acme-vav-b1"
    identity = by_address[ahu.address]["identity"]
    assert (identity["vendor"], identity["model"], identity["instance"]) == (
        "ACME Controls",
        "AHU-B1",
        2002,
    )
    assert identity["objects"] == 5 and identity["rpm"] is True
    assert len(found["saved"]["added"]) == 2 and "bacnet-ip" in site.read_text()


def test_discover_refuses_bad_options_before_sending(run):
    result = run("discover", "--bacnet")
    assert result.exit_code == 2 and "--interface" in result.stderr
    result = run("discover", "--bacnet-target", "10.0.0.300")
    assert result.exit_code == 2 and "BACnet target '10.0.0.300'" in result.stderr
    result = run("discover", "--bacnet-target", "127.0.0.2", "--instances", "9-3")
    assert result.exit_code == 2 and "--instances" in result.stderr


def test_unknown_device_gets_a_generated_template_that_reads(run, rig, tmp_path):
    device = bd.SimBacnetDevice(77, "RTU-7", "RTU-X", "127.0.0.5", next_port(), (
        bd.SimObject("analog-input", 3, "Room Temp", 22.5, "degrees-celsius"),
        bd.SimObject("analog-value", 4, "Room Temp Setpoint", 21.0, "degrees-celsius", True),
        bd.SimObject("analog-input", 5, "CO2", 650.0, "parts-per-million"),
        bd.SimObject("binary-output", 1, "Fan Start", "inactive", None, True),
        bd.SimObject("multi-state-value", 2, "Mode", 2, None, False, ("off", "heat", "cool")),
    ))  # fmt: skip
    rig.add(device)
    out = tmp_path / "generated"
    found = ok(run("--json", "--site", str(tmp_path / "site.yaml"), "discover", "--bacnet-target",
                   device.address, "--bacnet-templates", str(out), "--save"))  # fmt: skip
    (candidate,) = found["candidates"]
    assert candidate["template"] == "bacnet-acme-controls-rtu-x"
    path = out / "bacnet-acme-controls-rtu-x.yaml"
    ok(run("templates", "validate", str(path)))
    text = path.read_text()
    for expected in ("role: zone_air_temperature", "role: zone_air_temperature_setpoint",
                     "role: zone_co2", "unit: ppm", "commandable: true", "3: cool"):  # fmt: skip
        assert expected in text, text
    site = tmp_path / "site.yaml"
    site.write_text(site.read_text().replace("devices:", f"templates: [{out}]\ndevices:", 1))
    (dev_id,) = found["saved"]["added"]
    readings = ok(run("--json", "--site", str(site), "read", dev_id))["readings"]
    values = {r["point"]: r.get("text", r["value"]) for r in readings}
    assert values == {"room_temp": 22.5, "room_temp_setpoint": 21.0, "co2": 650.0,
                      "fan_start": False, "mode": "heat"}  # fmt: skip


def test_read_coalesces_into_one_request_and_falls_back_without_rpm(run, rig, tmp_path):
    good = rig.add(bd.vav_box("127.0.0.2", next_port()))
    old = rig.add(bd.vav_box("127.0.0.3", next_port(), instance=1002))
    old.rpm = False
    rig.stop(old)
    rig.add(old)  # restarted without ReadPropertyMultiple
    site = site_with(tmp_path / "site.yaml", {"good": ("acme-vav-b1", good.address),
                                              "old": ("acme-vav-b1", old.address)})  # fmt: skip
    data = ok(run("--json", "--site", str(site), "read", "good", "old"))
    assert data["devices"]["good"]["requests"] == 1  # six points, one ReadPropertyMultiple
    assert data["devices"]["old"]["requests"] == 1 + 6  # rejected, then one per point
    values = {(r["device"], r["point"]): r["value"] for r in data["readings"]}
    assert values[("good", "zone_temperature")] == values[("old", "zone_temperature")] == 21.0


def test_write_at_priority_then_rollback_relinquishes(run, plant):
    rig, vav, _, site = plant
    written = ok(
        run("--json", "--site", str(site), "write", VAV, "heating_setpoint", "21.5", "--yes")
    )
    assert written["outcome"]["status"] == "written"
    assert rig.slots(vav, "heating-setpoint") == {16: 21.5}
    log = ok(run("--json", "log", "--run", written["run"]))
    intent = next(e for e in log["entries"] if e["kind"] == "intent")
    assert intent["data"] == {"priority": 16}
    back = ok(run("--json", "--site", str(site), "rollback", "--last", "--yes"))
    (outcome,) = back["outcomes"]
    assert outcome["status"] == "written" and "released" in outcome["message"]
    assert rig.slots(vav, "heating-setpoint") == {}  # NULL at 16: nothing of ours is left
    assert bd.get(vav, "heating-setpoint") == 20.0  # the relinquish default governs again


def test_a_higher_priority_overrides_and_rollback_still_releases_ours(run, plant):
    rig, vav, _, site = plant
    rig.operator_write(vav, "heating-setpoint", 19.0, priority=8)
    result = run("--json", "--site", str(site), "write", VAV, "heating_setpoint", "22", "--yes")
    assert result.exit_code == 4, result.output
    outcome = json.loads(result.stdout)["outcome"]
    assert outcome["status"] == "overridden"
    assert outcome["message"].startswith("overridden by priority 8")
    assert rig.slots(vav, "heating-setpoint") == {8: 19.0, 16: 22.0}
    back = ok(run("--json", "--site", str(site), "rollback", "--last", "--yes"))
    assert back["outcomes"][0]["status"] == "written"  # no conflict: nothing is overwritten
    assert "set by priority 8" in back["outcomes"][0]["message"]
    assert rig.slots(vav, "heating-setpoint") == {8: 19.0}


def test_switches_and_states_round_trip(run, plant):
    rig, _, ahu, site = plant
    off = ok(run("--json", "--site", str(site), "write", AHU, "fan_enable", "off", "--yes"))
    assert off["outcome"]["status"] == "written" and off["outcome"]["after"] is False
    assert str(bd.get(ahu, "fan-enable")) == "inactive"
    assert rig.slots(ahu, "fan-enable") == {16: bd.get(ahu, "fan-enable")}
    ok(run("--site", str(site), "rollback", "--last", "--yes"))
    assert str(bd.get(ahu, "fan-enable")) == "active" and rig.slots(ahu, "fan-enable") == {}


def test_device_rejections_unknown_objects_and_properties(run, plant, tmp_path):
    _rig, vav, _, site = plant
    template = tmp_path / "t" / "odd.yaml"
    template.parent.mkdir()
    template.write_text(
        "template: odd-vav\ntitle: odd\ntransport: bacnet\npoints:\n"
        "  temp: {object: 'analog-input,1', writable: true, min: 0, max: 40}\n"
        "  ghost: {object: 'analog-value,99'}\n"
        "  nope: {object: 'analog-input,1', property: 'priority-array'}\n"
    )
    site = site_with(
        tmp_path / "odd.yaml", {"odd": ("odd-vav", vav.address)}, [str(template.parent)]
    )
    data = run("--json", "--site", str(site), "read", "odd")
    readings = {r["point"]: r for r in json.loads(data.stdout)["readings"]}
    assert readings["temp"]["value"] == 21.0
    assert "unknown-object" in readings["ghost"]["error"]
    assert "unknown-property" in readings["nope"]["error"]
    result = run("--json", "--site", str(site), "write", "odd", "temp", "30", "--yes")
    assert result.exit_code == 4, result.output
    outcome = json.loads(result.stdout)["outcome"]
    assert outcome["status"] == "rejected" and "write-access-denied" in outcome["message"]
    assert "Traceback" not in result.output


def test_a_device_that_cannot_segment_is_read_element_by_element(run, rig, tmp_path):
    objects = tuple(
        bd.SimObject("analog-value", i, f"point-{i}", float(i), "percent") for i in range(1, 61)
    )
    device = bd.SimBacnetDevice(
        300, "BIG", "BIG-1", "127.0.0.6", next_port(), objects, segmentation=False
    )
    rig.add(device)
    found = ok(
        run(
            "--json",
            "--site",
            str(tmp_path / "s.yaml"),
            "discover",
            "--bacnet-target",
            device.address,
        )
    )
    (candidate,) = found["candidates"]
    assert candidate["identity"]["objects"] == 60
    assert candidate["extra"]["generated_template"] == "bacnet-acme-controls-big-1"


def test_a_device_that_disappears_mid_run(run, plant):
    rig, vav, _ahu, site = plant
    ok(run("--site", str(site), "read", VAV))
    rig.stop(vav)
    started = time.monotonic()
    data = run("--json", "--site", str(site), "read", VAV, AHU)
    assert data.exit_code == 4, data.output  # partial: the AHU still answers
    readings = json.loads(data.stdout)["readings"]
    assert all("no answer" in r["error"] for r in readings if r["device"] == VAV)
    assert all(r.get("error") is None for r in readings if r["device"] == AHU)
    assert time.monotonic() - started < 6  # (retries + 1) x timeout, once for the device
    result = run("--site", str(site), "write", VAV, "heating_setpoint", "21", "--yes")
    assert result.exit_code == 3 and "cannot be read" in result.stderr
    assert "Traceback" not in result.output


def test_watch_gets_change_of_value_pushes(run, plant):
    rig, vav, _, site = plant
    rig.lt.loop.call_later(1.0, bd.set_value, vav, "zone-temp", 23.5)
    result = run(
        "--json", "--site", str(site), "watch", VAV, "--interval", "30", "--duration", "2.5"
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    pushed = [
        line for line in lines if line["point"] == "zone_temperature" and line["value"] == 23.5
    ]
    assert pushed, lines  # arrived between refreshes (the next poll is 30 s away)


def test_profile_plan_and_apply_say_overridden_by_priority(run, plant):
    rig, vav, _, site = plant
    rig.operator_write(vav, "heating-setpoint", 18.0, priority=8)
    at = ("office-en16798-cat2", "--at", "2026-01-15 10:00")
    plan = ok(run("--json", "--site", str(site), "profile", "plan", *at))
    assert any(
        w.startswith(f"{VAV}.heating_setpoint: overridden by priority 8") for w in plan["warnings"]
    )
    result = run("--json", "--site", str(site), "profile", "apply", *at, "--yes")
    assert result.exit_code == 4, result.output
    outcomes = {o["point"]: o for o in json.loads(result.stdout)["outcomes"] if o["device"] == VAV}
    assert outcomes["heating_setpoint"]["status"] == "overridden"
    assert rig.slots(vav, "heating-setpoint") == {8: 18.0, 16: 20.5}


def test_broadcast_who_is_on_one_interface_with_instance_limits(run, rig, tmp_path):
    from tests.transports.bacnet.rig import Relay

    inside = rig.add(bd.vav_box("127.0.0.2", next_port(), instance=1001))
    port = next_port()
    relay = Relay((inside.host, inside.port), port)
    rig.lt.run(relay.start())
    try:
        args = ("--json", "--site", str(tmp_path / "s.yaml"), "discover", "--bacnet",
                "--interface", f"127.0.0.1/8:{port}", "--timeout", "0.5")  # fmt: skip
        found = ok(run(*args))
        (candidate,) = found["candidates"]
        assert candidate["template"] == "acme-vav-b1" and candidate["identity"]["instance"] == 1001
        assert candidate["address"].startswith("127.0.0.9:")  # answered from the relay's address
        outside = run(*args, "--instances", "2000-2999")
        assert outside.exit_code == 3, outside.output  # nobody in that range answered
    finally:
        rig.lt.run(relay.stop())


def test_watch_falls_back_to_polling_when_cov_is_refused(run, rig, tmp_path):
    device = bd.vav_box("127.0.0.7", next_port())
    device.cov = False
    rig.add(device)
    site = site_with(tmp_path / "site.yaml", {VAV: ("acme-vav-b1", device.address)})
    result = run(
        "--json", "--site", str(site), "watch", VAV, "--interval", "0.5", "--duration", "1.6"
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.count("no change-of-value subscription") == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len([x for x in lines if x["point"] == "zone_temperature"]) >= 3  # polled
