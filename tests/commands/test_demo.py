"""`smartbuild demo` end to end, as the README's first command runs it: a process, a transcript."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
STEPS = [
    "simulator",
    "discover",
    "validate",
    "plan",
    "apply",
    "verify",
    "journal",
    "rollback",
    "hub",
    "stop",
]


def test_demo_runs_the_main_job_and_reports_a_transcript(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    env.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "smartbuild", "--home", str(tmp_path / "h"), "--json", "demo", "--zones", "4"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert data["ok"] is True
    steps = {s["name"]: s for s in data["steps"]}
    assert [s["name"] for s in data["steps"]] == STEPS
    assert all(s["ok"] and s["seconds"] >= 0 for s in data["steps"]), data["steps"]
    fig = {name: s["figures"] for name, s in steps.items()}
    ble = shutil.which("dbus-daemon") is not None
    bacnet = importlib.util.find_spec("bacpypes3") is not None  # the VAV box and the AHU
    assert fig["simulator"]["zones"] == 4 and fig["simulator"]["modbus_devices"] == 13
    assert fig["simulator"]["ble_sensors"] == (3 if ble else 0)
    assert fig["discover"]["by_transport"]["modbus-tcp"] == 13
    assert fig["discover"]["by_transport"].get("ble", 0) == (3 if ble else 0)
    assert fig["discover"]["by_transport"].get("mdns", 0) == 4, fig["discover"]
    assert (
        fig["simulator"]["bacnet_devices"]
        == fig["discover"]["by_transport"].get("bacnet-ip", 0)
        == (2 if bacnet else 0)
    )
    assert fig["discover"]["already_there"] >= 13 + (3 if ble else 0) + 3 + (2 if bacnet else 0)
    assert fig["validate"]["ok"] is True
    # office profile, Thursday 10:00 in January: heating to 20.5 °C and cooling to 23.5 °C (from
    # 21/24), CO2 setpoints to 1220 ppm on every sensor and on the AHU that serves every zone
    assert fig["plan"]["mode"].startswith("occupied")
    # + the VAV box's setpoints (BACnet: written at priority 16, rolled back by relinquish)
    assert fig["plan"]["changes"] == 4 * 3 + 1 + (1 if ble else 0) + (2 if bacnet else 0)
    assert fig["apply"]["verified"] == fig["apply"]["writes"] == fig["plan"]["changes"]
    assert fig["verify"]["holding"] == fig["verify"]["checked"] == fig["plan"]["changes"]
    assert fig["journal"]["kinds"] == {
        "intent": fig["plan"]["changes"],
        "written": fig["plan"]["changes"],
    }
    assert fig["rollback"]["back_to_before"] == fig["rollback"]["checked"] == fig["plan"]["changes"]
    # the hub on simulated time: the present slot, the 11:02 transition, the override released
    hub = fig["hub"]
    assert hub["transitions"] == 1 and hub["errors"] == [] and hub["conflicts"] == []
    assert hub["released"] == hub["override_writes"] >= 1 and 0 <= hub["release_lag_s"] < 60
    commands = [r["command"] for r in hub["runs"]]
    assert commands[0].startswith("hub schedule demo-shift: start: slot day")
    assert "hub schedule demo-shift: transition day -> late (default)" in commands
    assert f"release {hub['override']}" in commands
    assert fig["stop"] == {"exit_status": 0, "leftovers": []}
    home = tmp_path / "h"
    assert (home / "site.yaml").exists() and (home / "journal.db").exists()
    assert not (home / "sim" / "sim.json").exists()


def test_demo_tells_the_story_on_a_terminal_free_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1", "COLUMNS": "120"}
    done = subprocess.run(
        [sys.executable, "-m", "smartbuild", "--home", str(tmp_path / "h"), "demo", "--zones", "2", "--no-ble"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    for header in ("1/10 · Start the simulated building", "4/10 · Plan the office-en16798-cat2 profile",
                   "8/10 · Roll back and check the old values are back",
                   "9/10 · The hub: a schedule transition and an override release",
                   "10/10 · Stop the simulator"):  # fmt: skip
        assert header in text
    assert "demo complete: 10/10 steps" in text
    writes = 2 * 3 + 1 + (2 if importlib.util.find_spec("bacpypes3") else 0)  # AHU, VAV box
    assert f"{writes}/{writes} writes verified by read-back" in text
