"""`smartbuild read`, `write` and `watch` against a real Modbus device server on loopback."""

from __future__ import annotations

import json
import math
import struct
import textwrap
from pathlib import Path

import pytest

from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit
from tests.rigs import farm_thread

HOST = "127.0.3.41"

# A site-local template with a float32 setpoint: float registers can store nan and inf.
FLOAT_TEMPLATE = """\
template: test-float-valve
title: Valve with a float32 setpoint
transport: modbus
points:
  position: {table: holding, address: 0, type: float32, unit: "%", writable: true, min: 0, max: 100}
  free: {table: holding, address: 2, type: float32, writable: true}
"""


def _float_regs(value: float) -> list[int]:
    raw = struct.pack(">f", value)
    return [int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")]


@pytest.fixture
def site(tmp_path: Path):
    hi, lo = _float_regs(40.0)
    unit = SimUnit(1, holding={0: hi, 1: lo, 2: 0, 3: 0})
    thermostat = SimUnit(
        1,
        input={0: 215, 1: 450},
        holding={10: 200, 11: 260, 12: 1},
        discrete={0: True},
    )
    specs = [ServerSpec(HOST, [unit], port=0), ServerSpec("127.0.3.42", [thermostat], port=0)]
    with farm_thread(specs) as farm:
        (tmp_path / "valve.yaml").write_text(FLOAT_TEMPLATE)
        (valve_host, valve_port), (th_host, th_port) = farm.endpoints
        (tmp_path / "site.yaml").write_text(
            textwrap.dedent(
                f"""\
                site: points-test
                templates: [valve.yaml]
                zones:
                  z1: {{building: main, floor: 0}}
                devices:
                  valve: {{template: test-float-valve, transport: modbus-tcp,
                           address: "{valve_host}:{valve_port}", unit: 1, zone: z1,
                           timeout: 0.3, retries: 0}}
                  th: {{template: acme-th200, transport: modbus-tcp,
                        address: "{th_host}:{th_port}", unit: 1, zone: z1,
                        timeout: 0.3, retries: 0}}
                """
            )
        )
        farm.site_path = tmp_path / "site.yaml"  # type: ignore[attr-defined]
        yield farm


def _writes(farm) -> int:
    return sum(farm.stats(f"{h}:{p}").writes() for h, p in farm.endpoints)


@pytest.mark.parametrize(
    ("point", "value"),
    [("position", "nan"), ("free", "nan"), ("free", "inf"), ("position", "NaN")],
)
def test_write_refuses_non_finite_numbers_before_the_journal(run, site, point, value):
    result = run("--site", str(site.site_path), "--json", "write", "valve", point, value, "--yes")
    assert result.exit_code == 5, result.output
    error = json.loads(result.stdout)
    assert (error["error"], error["exit_status"]) == ("SafetyRefusal", 5)
    assert "not a finite number" in error["message"]
    assert _writes(site) == 0
    runs = json.loads(run("--json", "log").stdout)["runs"]
    assert runs == []  # refused before any run was journaled, so no intent either


def test_write_float_in_bounds_is_written_and_verified(run, site):
    result = run(
        "--site", str(site.site_path), "--json", "write", "valve", "position", "55.5", "--yes"
    )
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)["outcome"]
    assert (outcome["status"], outcome["before"], outcome["after"]) == ("written", 40.0, 55.5)
    assert _writes(site) == 1


@pytest.mark.parametrize(
    "option", [("--interval", "nan"), ("--interval", "inf"), ("--duration", "nan")]
)
def test_watch_refuses_non_finite_intervals_instead_of_spinning(run, site, option):
    result = run("--site", str(site.site_path), "--json", "watch", "th", *option, "--count", "2")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)
    assert error["error"] == "UsageError"
    assert option[0] in error["message"] and "not a finite number" in error["message"]


def test_watch_json_lines_stop_after_count(run, site):
    result = run(
        "--site", str(site.site_path), "--json", "watch", "th", "--interval", "0.05", "--count", "2"
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2 * 6  # six points of acme-th200, two refreshes
    assert {r["point"] for r in rows} >= {"heating_setpoint", "room_temperature"}


@pytest.mark.parametrize("timeout", ["nan", "-1", "inf"])
def test_read_raw_refuses_a_timeout_that_cannot_work(run, site, timeout):
    host, port = site.endpoints[1]
    result = run(
        "read", "--raw", f"{host}:{port}", "--address", "10", "--timeout", timeout
    )  # a nan or negative timeout used to report a reachable device as "cannot connect"
    assert result.exit_code == 2, result.output
    assert "--timeout" in result.stderr


def test_read_raw_reads_a_register(run, site):
    host, port = site.endpoints[1]
    result = run("--json", "read", "--raw", f"{host}:{port}", "--address", "10")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["table"], data["pdu_address"], data["registers"], data["value"]) == (
        "holding",
        10,
        [200],
        200,
    )


def test_read_json_of_a_nan_register_is_strict_json(run, site):
    host, port = site.endpoints[0]
    site.set(host, port, 1, "holding", 2, _float_regs(math.nan))  # a sensor with no value yet

    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    result = run("--site", str(site.site_path), "--json", "read", "valve")
    assert result.exit_code == 0, result.output  # a nan is a value (null), not a failed read
    data = json.loads(result.stdout, parse_constant=refuse)
    values = {r["point"]: r["value"] for r in data["readings"]}
    assert values == {"position": 40.0, "free": None}


def test_a_value_between_steps_is_refused_before_anything_is_journaled(run, site):
    site_args = ("--site", str(site.site_path), "--json")
    result = run(*site_args, "write", "th", "heating_setpoint", "21.55", "--yes")
    assert result.exit_code == 5, result.output
    message = json.loads(result.stdout)["message"]
    assert (
        "21.55 cannot be held exactly by th.heating_setpoint (steps of 0.1); nearest: 21.5 or 21.6"
        in message
    )
    result = run(*site_args, "write", "th", "hvac_mode", "2.5", "--yes")
    assert result.exit_code == 5, result.output
    assert "2.5 is not one of 0=off, 1=heat, 2=cool, 3=auto" in json.loads(result.stdout)["message"]
    assert _writes(site) == 0
    assert json.loads(run("--json", "log").stdout)["runs"] == []
