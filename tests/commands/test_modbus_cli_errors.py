"""Modbus failures through the CLI: each device fails on its own, clearly, and the exit code says how many."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smartbuild.errors import DeviceError
from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit
from smartbuild.transports.modbus.transport import check_serial_port
from tests.commands.test_modbus_cli import ok, site_file
from tests.transports.modbus.test_devices import ThreadedFarm, acme_co2, acme_th200

NET = f"127.{100 + os.getpid() % 50}.{os.getpid() % 250 + 1}"
FAST = "timeout: 0.2, retries: 0"


@pytest.fixture
def farm() -> Iterator[ThreadedFarm]:
    threaded = ThreadedFarm()
    yield threaded
    threaded.stop()


def refused_port() -> int:
    """Return a loopback port that was free a moment ago (connections to it are refused)."""
    with socket.socket() as s:
        s.bind((f"{NET}.250", 0))
        return int(s.getsockname()[1])


def readings(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["device"], r["point"]): r for r in json.loads(result.stdout)["readings"]}


def test_a_refused_port_exits_3_with_the_address(run: Any, tmp_path: Path) -> None:
    address = f"{NET}.250:{refused_port()}"
    site = site_file(tmp_path, {"th": f"acme-th200 {address} 1 {FAST}"})
    result = run("--site", site, "--json", "read", "th", "room_temperature")
    assert result.exit_code == 3, result.output
    assert (
        readings(result)[("th", "room_temperature")]["error"]
        == f"cannot connect to {address} ({address} unit 1)"
    )
    raw = run("read", "--raw", address, "--address", "0", "--timeout", "0.2")
    assert raw.exit_code == 3 and f"cannot connect to {address}" in raw.stderr
    nothing = run("--json", "discover", "--modbus", address, "--units", "1", "--timeout", "0.2")
    assert nothing.exit_code == 3 and json.loads(nothing.stdout)["candidates"] == []


def test_silent_dropping_and_failing_devices_fail_alone_exit_4(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    good = farm.add(ServerSpec(f"{NET}.30", [acme_th200(1)], port=0))
    silent = farm.add(ServerSpec(f"{NET}.31", [acme_th200(1, behaviour="silent")], port=0))
    drop = farm.add(ServerSpec(f"{NET}.32", [acme_th200(1, behaviour="drop")], port=0))
    broken = farm.add(ServerSpec(f"{NET}.33", [acme_th200(1, behaviour="exception:4")], port=0))
    gateway = farm.add(ServerSpec(f"{NET}.34", [acme_co2(1)], port=0))
    zone = "{z: {title: Z}}"
    devices = {"good": good, "silent": silent, "drop": drop, "broken": broken}
    spec = {n: f"acme-th200 {a} 1 zone: z, {FAST}" for n, a in devices.items()}
    spec["absent"] = f"acme-th200 {gateway} 7 zone: z, {FAST}"  # nobody at unit 7 behind it
    site = site_file(tmp_path, spec, zones=zone)
    result = run("--site", site, "--json", "read", "--zone", "z")
    assert result.exit_code == 4, result.output
    got = readings(result)
    assert got[("good", "room_temperature")]["value"] == 21.5
    assert all(r.get("error") is None for (d, _), r in got.items() if d == "good")
    assert got[("silent", "hvac_mode")]["error"] == f"no answer (timeout) ({silent} unit 1)"
    assert got[("broken", "room_temperature")]["error"] == (
        "exception 0x04 (server device failure) to read_input_registers at PDU address 0 (unit 1)"
    )
    assert got[("absent", "occupancy")]["error"] == (
        "exception 0x0b (gateway target device failed to respond) to read_discrete_inputs "
        "at PDU address 0 (unit 7)"
    )
    assert got[("drop", "room_temperature")]["error"].startswith(
        "connection closed by the device during the request"
    )
    stats = json.loads(result.stdout)["devices"]
    # A silent device costs one request and (retries + 1) x timeout, not one per window.
    assert (stats["silent"]["requests"], stats["silent"]["timeouts"]) == (1, 1)
    assert farm.stats(silent).reads() == 1
    assert farm.stats(drop).drops == 1
    assert stats["good"] == {"requests": 3, "errors": 0, "timeouts": 0, "last_error": None}
    # An exception answer does not stop the other windows of the device: each is asked once.
    assert farm.stats(broken).reads() == 3


def test_retries_are_bounded_and_counted_at_the_server(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    silent = farm.add(ServerSpec(f"{NET}.35", [acme_th200(1, behaviour="silent")], port=0))
    site = site_file(tmp_path, {"th": f"acme-th200 {silent} 1 timeout: 0.1, retries: 2"})
    result = run("--site", site, "read", "th")
    assert result.exit_code == 3, result.output
    assert farm.stats(silent).reads() == 3  # the request and two retries, then it gives up


LOCAL = """\
template: gap-device
title: A device that refuses one register inside a bridged window
transport: modbus
source: test
defaults: {max_gap: 10}
points:
  a: {table: holding, address: 0}
  b: {table: holding, address: 5}
  c: {table: holding, address: 8}
"""


def test_exception_02_splits_a_bridged_window_and_is_remembered(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    unit = SimUnit(1, holding={0: 10, 5: 50, 8: 80}, refuse=[("holding", 2, 1)])
    endpoint = farm.add(ServerSpec(f"{NET}.36", [unit], port=0))
    (tmp_path / "gap.yaml").write_text(LOCAL)
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: t\ntemplates: [gap.yaml]\ndevices:\n"
        f"  d: {{template: gap-device, transport: modbus-tcp, address: '{endpoint}', unit: 1}}\n"
    )
    result = ok(run("--site", str(site), "--json", "watch", "--count", "2", "--interval", "0.05"))
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["point"], r["value"]) for r in rows] == [("a", 10), ("b", 50), ("c", 80)] * 2
    # 0-8 is refused (02); with no way to tell which gap holds the refused register every
    # bridged gap is suspect, so 0, 5 and 8 are read alone; the second refresh goes straight
    # to that plan without asking for 0-8 again.
    assert farm.stats(endpoint).reads() == (1 + 3) + 3


OVERLAP = """\
template: overlapping
title: Two points on one register
transport: modbus
source: test
points:
  power: {table: holding, address: 0, type: float32}
  mode: {table: holding, address: 1}
"""


def test_a_template_with_overlapping_points_is_a_located_error(run: Any, tmp_path: Path) -> None:
    (tmp_path / "overlap.yaml").write_text(OVERLAP)
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: t\ntemplates: [overlap.yaml]\ndevices:\n"
        "  d: {template: overlapping, transport: modbus-tcp, address: '127.0.0.1:1', unit: 1}\n"
    )
    result = run("--site", str(site), "read", "d")
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'overlap.yaml'}:" in result.stderr
    assert "'mode' overlaps 'power' in the holding table at address 1" in result.stderr


def test_a_sweep_over_a_16_is_refused_without_yes(run: Any) -> None:
    result = run("discover", "--modbus", "127.0.0.0/15", "--units", "1")
    assert result.exit_code == 5, result.output
    assert "refusing to sweep 131072 addresses" in result.stderr


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["discover", "--modbus", "300.1.1.1"], "'300.1.1.1' is not a valid IP address (300 is"),
        (["discover", "--modbus", "plc.invalid", "--units", "1"], "'plc.invalid' does not resolve"),
        (["discover", "--modbus", ""], "the host is empty"),
        (["discover", "--modbus", "127.0.0.1", "--modbus", "10.0.0.0/33"], "invalid target"),
        (["probe", "300.1.1.1", "--address", "0"], "not a valid IP address (300 is more than 255)"),
        (["probe", "plc.invalid", "--address", "0"], "does not resolve"),
        (["read", "--raw", "300.1.1.1:5020", "--address", "0"], "(300 is more than 255)"),
    ],
)
def test_invalid_targets_are_usage_errors_with_the_reason(
    run: Any, args: list[str], reason: str
) -> None:
    result = run(*args, "--json")
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    assert data["error"] == "UsageError" and reason in data["message"], data
    assert "candidates" not in data  # no empty table: nothing was swept


def test_a_missing_serial_port_fails_that_device_only(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    good = farm.add(ServerSpec(f"{NET}.37", [acme_co2(1)], port=0))
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: t\nzones: {z: {}}\ndevices:\n"
        f"  co2: {{template: acme-co2-100, transport: modbus-tcp, address: '{good}', unit: 1, zone: z}}\n"
        "  rtu: {template: acme-co2-100, transport: modbus-rtu, address: /dev/ttyNOPE9, unit: 1, zone: z}\n"
    )  # fmt: skip
    result = run("--site", str(site), "--json", "read", "--zone", "z")
    assert result.exit_code == 4, result.output
    got = readings(result)
    assert got[("co2", "co2")]["value"] == 812
    assert got[("rtu", "co2")]["error"].startswith("serial port /dev/ttyNOPE9 does not exist")
    disc = run("--json", "discover", "--rtu", "/dev/ttyNOPE9", "--units", "1")
    assert disc.exit_code == 3
    assert "serial port /dev/ttyNOPE9 does not exist" in json.loads(disc.stdout)["errors"][0]
    both = run("--json", "discover", "--rtu", "/dev/ttyNOPE9", "--modbus", good, "--units", "1")
    assert both.exit_code == 4  # found something, but one bus failed


def _permission_message(path: str) -> str:
    """Return check_serial_port's message for path as an unprivileged user would see it."""
    if os.geteuid() != 0:
        try:
            check_serial_port("rtu", path)
        except DeviceError as error:
            return f"{error.cause} | {error.hint}"
        return "no error"
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child drops root (root may open any file) and reports back
        os.close(read_fd)
        text = "no error"
        try:
            os.setgid(65534)
            os.setuid(65534)
            check_serial_port("rtu", path)
        except DeviceError as error:
            text = f"{error.cause} | {error.hint}"
        except BaseException as error:  # anything else must reach the parent
            text = f"unexpected {error!r}"
        os.write(write_fd, text.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return text


def test_a_serial_port_without_permission_names_the_group_to_join() -> None:
    with tempfile.TemporaryDirectory() as where:
        os.chmod(where, 0o755)  # the unprivileged child must reach the file to be refused it
        port = Path(where) / "ttyUSB0"
        port.touch()
        if os.geteuid() == 0:
            os.chown(port, 0, 20)  # root:dialout (gid 20 on Debian), as udev leaves /dev/ttyUSB*
            os.chmod(port, 0o660)
        else:
            os.chmod(port, 0)
        group = port.group()
        message = _permission_message(str(port))
    assert message.startswith(f"no permission to open {port} | join the {group!r} group")
