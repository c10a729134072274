"""Register-map inference through the CLI against served maps: `templates infer`, `probe --infer`.

The units are real pymodbus servers holding the public maps of an SDM630 (float32 input
registers), an ACME HP-50 (int16 in tenths, a uint32 energy counter) and a SunSpec meter (its
model chain); the proposed template must validate, find the points, and stay within its budget.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartbuild.sim.peers.modbus_farm import ServerSpec
from tests.transports.modbus.test_devices import ThreadedFarm, acme_hp, sdm630, sunspec_meter

NET = f"127.{100 + os.getpid() % 50}.{os.getpid() % 250 + 1}"


@pytest.fixture
def farm() -> Iterator[ThreadedFarm]:
    threaded = ThreadedFarm()
    yield threaded
    threaded.stop()


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def test_templates_infer_writes_a_template_that_validates_and_finds_the_meter(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    endpoint = farm.add(ServerSpec(f"{NET}.10", [sdm630(1)], port=0))
    out = tmp_path / "meter.yaml"
    ok(run("templates", "infer", endpoint, "--reads", "2", "--interval", "0", "-o", str(out),
           "--range", "input:0-349", "--range", "holding:0-9"))  # fmt: skip
    ok(run("templates", "validate", str(out)))
    points = yaml.safe_load(out.read_text())["points"]
    by_address = {(p["table"], p["address"]): p for p in points.values()}
    for address in (0, 2, 4, 70, 200, 342):  # voltages, frequency, line voltage, energy
        point = by_address[("input", address)]
        assert (point["type"], point["word_order"]) == ("float32", "ABCD"), point
        assert "confidence" in point["description"]
    assert by_address[("input", 70)]["unit"] == "Hz"
    assert not any(p.get("writable") for p in points.values())
    # the scan stays within its budget (default 600) and reads what is served only once more
    assert farm.stats(endpoint).reads() < 60


def test_probe_infer_json_finds_tenths_and_sunspec_chains(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    hp = farm.add(ServerSpec(f"{NET}.11", [acme_hp(1)], port=0))
    data = json.loads(ok(run("--json", "probe", hp, "--infer", "--reads", "2", "--interval", "0",
                             "--range", "0-20")).stdout)  # fmt: skip
    got = {(p["table"], p["address"]): p for p in data["points"]}
    flow = got[("input", 0)]  # 35.2 °C as int16 tenths
    assert (flow["type"], flow["scale"], flow["values"][0]) == ("int16", 0.1, pytest.approx(35.2))
    assert data["served"]["holding"] == [[0, 3]] and data["requests"] <= 600
    meter = farm.add(ServerSpec(f"{NET}.12", [sunspec_meter(1)], port=0))
    data = json.loads(ok(run("--json", "probe", meter, "--infer", "--reads", "1",
                             "--range", "holding:40000-40199")).stdout)  # fmt: skip
    notes = [n for p in data["points"] for n in p["notes"]]
    assert any(n.startswith("SunSpec model 203") for n in notes)
    out = tmp_path / "hp.yaml"
    table = ok(run("probe", hp, "--infer", "--reads", "1", "--range", "input:0-9", "-o", str(out)))
    assert "points proposed" in table.stdout and "int16" in table.stdout
    assert f"wrote {out}" in table.stderr
    ok(run("templates", "validate", str(out)))


def test_infer_error_paths(run: Any, farm: ThreadedFarm, tmp_path: Path) -> None:
    no_address = run("probe", "127.0.0.1:1")
    assert no_address.exit_code == 2 and "--address" in no_address.stderr
    bad = run("templates", "infer", "127.0.0.1:1", "--range", "input:9-1")
    assert bad.exit_code == 2 and "invalid range" in bad.stderr
    refused = run("templates", "infer", f"{NET}.13:1", "--timeout", "0.2", "--reads", "1")
    assert refused.exit_code == 3, refused.output
    assert "cannot connect" in refused.stderr and "Traceback" not in refused.output
    empty = farm.add(ServerSpec(f"{NET}.14", [sdm630(1)], port=0))
    nothing = run("templates", "infer", empty, "--range", "holding:0-9", "--reads", "1")
    assert nothing.exit_code == 3 and "widen --range" in nothing.stderr


def test_a_silent_unit_ends_the_scan_after_two_requests(run: Any, farm: ThreadedFarm) -> None:
    endpoint = farm.add(ServerSpec(f"{NET}.15", [sdm630(1, behaviour="silent")], port=0))
    result = run("templates", "infer", endpoint, "--timeout", "0.1", "--reads", "1")
    assert result.exit_code == 3, result.output
    assert "no answer" in result.stderr and "check the address, port and unit id" in result.stderr
    assert farm.stats(endpoint).total() == 2
