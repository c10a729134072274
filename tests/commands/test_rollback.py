"""`smartbuild rollback` against a real Modbus thermostat server on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit
from tests.rigs import farm_thread

HEATING = 10  # acme-th200 holding register of heating_setpoint (0.1 °C, template bounds 5-30)


def _thermostat(heating_raw: int) -> SimUnit:
    return SimUnit(1, input={0: 215, 1: 450}, holding={10: heating_raw, 11: 260, 12: 1})


def _site(tmp_path: Path, farm) -> Path:
    host, port = farm.endpoints[0]
    path = tmp_path / "site.yaml"
    path.write_text(
        "site: rollback-test\nzones:\n  z1: {building: main, floor: 0}\ndevices:\n"
        f'  th: {{template: acme-th200, transport: modbus-tcp, address: "{host}:{port}",'
        " unit: 1, zone: z1, timeout: 0.3, retries: 0}\n"
    )
    return path


@pytest.fixture
def thermostat(tmp_path: Path):
    with farm_thread([ServerSpec("127.0.3.51", [_thermostat(200)], port=0)]) as farm:
        farm.site_path = _site(tmp_path, farm)  # type: ignore[attr-defined]
        yield farm


@pytest.fixture
def out_of_bounds(tmp_path: Path):
    """A thermostat someone set to 35 °C at the panel, above the template's maximum of 30."""
    with farm_thread([ServerSpec("127.0.3.52", [_thermostat(350)], port=0)]) as farm:
        farm.site_path = _site(tmp_path, farm)  # type: ignore[attr-defined]
        yield farm


def _heating(farm) -> int:
    host, port = farm.endpoints[0]
    return farm.get(host, port, 1, "holding", HEATING)[0]


def _writes(farm) -> int:
    host, port = farm.endpoints[0]
    return farm.stats(f"{host}:{port}").writes()


def test_rollback_last_twice_does_not_undo_the_rollback(run, thermostat):
    site = str(thermostat.site_path)
    written = run("--site", site, "--json", "write", "th", "heating_setpoint", "22", "--yes")
    assert written.exit_code == 0, written.output
    first = run("--site", site, "--json", "rollback", "--last", "--yes")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["rolled_back"] == json.loads(written.stdout)["run"]
    assert _heating(thermostat) == 200
    assert _writes(thermostat) == 2
    again = run("--site", site, "--json", "rollback", "--last", "--yes")
    assert again.exit_code == 2, again.output
    assert "rolled back already" in json.loads(again.stdout)["message"]
    assert _heating(thermostat) == 200  # the write of 22 °C was not put back
    assert _writes(thermostat) == 2


def test_rollback_last_picks_the_newest_write_not_a_rollback(run, thermostat):
    site = str(thermostat.site_path)
    older = run("--site", site, "--json", "write", "th", "heating_setpoint", "21", "--yes")
    newer = run("--site", site, "--json", "write", "th", "heating_setpoint", "23", "--yes")
    assert older.exit_code == 0 and newer.exit_code == 0, newer.output
    result = run("--site", site, "--json", "rollback", "--last", "--yes")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rolled_back"] == json.loads(newer.stdout)["run"]
    assert _heating(thermostat) == 210
    # the older run is still reachable by its id
    result = run("--site", site, "--json", "rollback", json.loads(older.stdout)["run"], "--yes")
    assert result.exit_code == 0, result.output
    assert _heating(thermostat) == 200


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_an_old_value_outside_the_bounds_is_blocked_and_reported(run, out_of_bounds, force):
    site = str(out_of_bounds.site_path)
    written = run("--site", site, "--json", "write", "th", "heating_setpoint", "21", "--yes")
    assert written.exit_code == 0, written.output
    assert _heating(out_of_bounds) == 210
    result = run("--site", site, "--json", "rollback", "--last", "--yes", *force)
    assert result.exit_code == 5, result.output
    data = json.loads(result.stdout)
    assert [(o["status"], o["cause"]) for o in data["outcomes"]] == [("refused", "bounds")]
    assert _heating(out_of_bounds) == 210  # 35 °C is above the template's maximum: not written
    assert _writes(out_of_bounds) == 1
    log = json.loads(run("--json", "log", "--run", data["run"]).stdout)
    assert log["run"]["status"] == "partial"
    assert [e["kind"] for e in log["entries"]] == ["refused"]
    # not rolled back, so --last still offers it (after someone fixes the template or the value)
    again = run("--site", site, "--json", "rollback", "--last", "--yes")
    assert json.loads(again.stdout)["rolled_back"] == json.loads(written.stdout)["run"]
