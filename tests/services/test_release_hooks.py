"""The write path's optional release hooks, through the CLI, with a family that is not BACnet.

tests/plugins/kv_release.py adds ``write_details``, ``releases``/``release`` and
``overridden_by`` to the kv test family: the journal records the details, a held point ends
``overridden``, and rollback releases instead of writing the old value back (no conflict check).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.kv import KvDevice
from tests.rigs import LoopThread


@pytest.fixture
def kv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[KvDevice, Path]]:
    monkeypatch.setenv("SMARTBUILD_PLUGIN_MODULES", "tests.plugins.kv_release")
    lt = LoopThread()
    device = KvDevice({"t": 215.0, "sp": 40.0, "sp0": 36.0, "lock": 0.0})
    address = lt.run(device.start())
    site = tmp_path / "site.yaml"
    site.write_text("site: kv\nzones: {office: {}}\ndevices:\n  th: {template: kv-thermostat, "
                    f"transport: kv-release, address: '{address}', zone: office}}\n")  # fmt: skip
    yield device, site
    lt.run(device.stop())
    lt.stop()


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_details_are_journaled_and_rollback_releases(run, kv):
    device, site = kv
    written = ok(run("--json", "--site", str(site), "write", "th", "setpoint", "21", "--yes"))
    assert written["outcome"]["status"] == "written" and device.values["sp"] == 42.0
    entries = ok(run("--json", "log", "--run", written["run"]))["entries"]
    assert {e["kind"]: e["data"] for e in entries} == {"intent": {"owner": "app"},
                                                       "written": {"owner": "app"}}  # fmt: skip
    device.values["sp"] = 44.0  # someone else changed it since: a write-back would conflict
    back = ok(run("--json", "--site", str(site), "rollback", "--last", "--yes"))
    (outcome,) = back["outcomes"]
    assert (
        outcome["status"] == "written"
        and outcome["message"] == "released: the device now holds 18.0"
    )
    assert device.values["sp"] == 36.0  # the default, not the value before (20) written back


def test_a_held_point_is_overridden_not_written(run, kv):
    device, site = kv
    device.values["lock"] = 8.0
    result = run("--json", "--site", str(site), "write", "th", "setpoint", "21", "--yes")
    assert result.exit_code == 4, result.output
    outcome = json.loads(result.stdout)["outcome"]
    assert outcome["status"] == "overridden" and outcome["message"].startswith(
        "overridden by lock 8"
    )
