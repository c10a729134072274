"""`smartbuild commission` against the simulated building: Modbus, mDNS and BLE peers for real."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartbuild.sim.launch import SimProcess, free_base


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    process = SimProcess(tmp_path / "sim", zones=2, speed=60, base=free_base(),
                         site_out=tmp_path / "sim-site.yaml")  # fmt: skip
    process.start()
    yield process
    assert process.stop() == {"exit_status": 0, "leftovers": []}


def test_the_simulated_building_passes_with_every_transport(run, sim, tmp_path):
    env = {"DBUS_SYSTEM_BUS_ADDRESS": (sim.state.get("ble") or {}).get("bus_address") or ""}
    out = tmp_path / "report.html"
    result = run("--site", str(sim.state["site_file"]), "--json", "commission", "--write-test",
                 "--yes", "--trend", "2s", "--interval", "0.5", "--rounds", "2",
                 "--profile", "office-en16798-cat2", "--out", str(out), env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    transports = {d["transport"] for d in doc["devices"]}
    expected = {"modbus-tcp", "mdns"} | ({"ble"} if shutil.which("dbus-daemon") else set())
    expected |= {"bacnet-ip"} if importlib.util.find_spec("bacpypes3") else set()  # VAV box, AHU
    assert transports == expected
    checks = {(c["category"], c["subject"]): c for c in doc["checks"]}
    for device in doc["devices"]:
        identity = checks[("identity", device["device"])]
        if device["transport"] == "modbus-tcp":
            assert identity["status"] == "pass", identity
        else:
            assert identity["status"] == "n/a"
            assert identity["reason"] == (
                f"the {device['transport']} transport cannot identify a known address"
            )
        assert checks[("communication", device["device"])]["status"] == "pass"
    assert {(p["device"], p["point"]) for p in doc["points"]} == {
        (c["device"], c["point"]) for c in doc["checks"] if c["category"] == "point"
    }
    rows = doc["write_test"]
    assert rows and all(r["outcome"] == "written" and r["restored"] for r in rows)
    assert {r["device"].split("-")[0] for r in rows} >= {"th", "ev", "heat"}
    zones = {s["zone"] for s in doc["trends"]}
    assert zones == {"z01", "z02"}
    (plan,) = doc["plans"]
    assert plan["plan"]["modes"]
    assert out.stat().st_size > 50_000
